"""The batch: parse each message, let each action decide, perform it once, report what happened.

Powertools' ``BatchProcessor`` (``SqsFifoPartialProcessor`` for a FIFO queue, skipping the later
messages of a failed one's group) reports failed messages one by one; each action runs inside
Powertools' ``idempotent_function``, keyed on ``{"action", "key"}`` (``IDEMPOTENCY_KEY_PREFIX``),
except a write action (``actions.WriteAction``), whose one write the kit makes with its note that
the event was handled (``handled``): one call for a new message and for a repeat when the message
carries the record the action decides on (or it reads none), else two and one.
What a first delivery, a duplicate, a failure, a death mid-action and an uncertain effect each do:
docs/actions.md, "What exactly once means here".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from contract import aws, tracing
from stripe_actions.actions import (
    Action,
    ActionRegistry,
    AnyAction,
    Wait,
    WriteAction,
    reads_records,
    writes_only,
)
from stripe_actions.effects import EffectRefused, EffectUncertain
from stripe_actions.handled import Conflict, HandledNotes
from stripe_actions.messages import (
    ActionEvent,
    PoisonMessage,
    ReadPayload,
    ReadRecord,
    parse_record,
    receive_count,
)
from stripe_actions.observability import record_left_out, report_outcome, start_message
from stripe_actions.outcomes import ActionOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

IDEMPOTENCY_KEY_PREFIX = "stripe-actions"


def idempotency_prefix(action: str) -> str:
    """Powertools' key prefix for one action's records (``stripe-actions.<action>#<hash>``): the
    keys its role may write (``dynamodb:LeadingKeys``, infra/modules/action.yaml)."""
    return f"{IDEMPOTENCY_KEY_PREFIX}.{action}"


REPLAYED = "replayed"


def _named(error: Exception) -> str:
    """A failure as logged: its class, and an AWS service's error code; never its message, which
    may carry what the call was given (SES's names the recipient)."""
    from botocore.exceptions import ClientError

    name = type(error).__name__
    code = aws.error_code(error) if isinstance(error, ClientError) else name
    return name if code == name else f"{name} ({code})"


class ActionFailed(Exception):
    """One or more actions of a message raised; the message is retried (done ones are skipped)."""


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, REPLAYED: True} if isinstance(response, dict) else response


class Consumer:
    def __init__(
        self,
        registry: ActionRegistry,
        persistence: BasePersistenceLayer | None,
        *,
        remember_seconds: int,
        handled: HandledNotes | None = None,
        read_payload: ReadPayload | None = None,
        read_record: ReadRecord | None = None,
        report: Callable[[ActionOutcome], None] = report_outcome,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``persistence``: Powertools' idempotency records, for the actions that ``perform``
        (None when every action writes: then Powertools' idempotency is never imported);
        ``handled``: the write actions' notes."""
        self.registry = registry
        self._persistence = persistence
        self._config: Any = None
        if persistence is not None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

            self._config = IdempotencyConfig(
                expires_after_seconds=remember_seconds, response_hook=_mark_replayed
            )
        self._handled = handled
        self._read_payload = read_payload
        self._read_record = read_record
        self._report = report
        self._clock = clock

    def handle(self, event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """The SQS event source's batch → ``{"batchItemFailures": [...]}``."""
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            SqsFifoPartialProcessor,
            process_partial_response,
        )

        if context is not None and self._config is not None:
            self._config.register_lambda_context(context)
        records = event.get("Records") or []
        fifo = any(str(record.get("eventSourceARN", "")).endswith(".fifo") for record in records)
        processor: BatchProcessor
        if fifo:  # a failure holds back only later messages of its group (its Stripe object)
            processor = SqsFifoPartialProcessor(skip_group_on_error=True)
            processor.raise_on_entire_batch_failure = False
        else:
            processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=self.process_record, processor=processor, context=context
        )
        return dict(response)

    def process_record(self, record: SQSRecord) -> None:
        trace = tracing.TraceHeader.parse(record.raw_event.get("attributes", {}).get("AWSTraceHeader"))
        start_message(None, trace)  # a poison message's line names no earlier message's event
        try:
            event = parse_record(
                record.raw_event, read_payload=self._read_payload, read_record=self._read_record
            )
        except PoisonMessage as error:
            count = receive_count(record.raw_event)
            self._report(ActionOutcome("", record.message_id, "poison", str(error), receive=count))
            raise
        start_message(event.id, trace)
        if event.carried_problem is not None:
            record_left_out(event.carried_problem)
        failures = []
        for action in self.registry.for_type(event.type):
            started, failed = time.time(), False
            try:
                self.run(action, event)
            except Exception as error:  # any error: the message fails, is retried
                failures.append(error)
                failed = True
            annotations = {"event_id": event.id, "event_type": event.type, "action": action.name}
            tracing.segment(action.name, trace, started, annotations, fault=failed)
        if failures:
            raise ActionFailed(f"{len(failures)} action(s) failed for {event.id}") from failures[0]

    def run(self, action: AnyAction, event: ActionEvent) -> ActionOutcome:
        """Decide, then perform at most once per (action, business key); report and return it."""
        writer = writes_only(action)
        if writer is not None:
            return self._write(writer, event)
        return self._perform(cast(Action, action), event)

    def _write(self, action: WriteAction, event: ActionEvent) -> ActionOutcome:
        """A write action: its write and its note in one transaction (``handled``), on the record
        the message carries, or read first with the note when it carries none."""
        notes, key = self._handled, event.object_id or event.id
        if notes is None:
            raise ActionFailed(f"{action.name} writes, and nothing keeps its notes (IDEMPOTENCY_TABLE)")
        uses_record = reads_records(action) and event.object_id is not None
        carried = event.carried if uses_record else None
        try:
            if uses_record and carried is None:
                found = notes.read(action.name, event.id, event.object_id)
                if found.handled:
                    return self._emit(action, key, "skipped", "already done", event)
                event.keep_record(str(event.object_id), found.record)
            elif carried is not None:
                event.keep_record(str(event.object_id), carried)
            for check in (carried, None):  # on the carried record; if it moved on, on the stored one
                decision = action.decide(event)
                if isinstance(decision, Wait):
                    return self._emit(action, key, "waiting", decision.reason, event)
                key = decision.key
                write = action.write(event, key)
                committed = notes.commit(action.name, event.id, key, write, carried=check)
                if committed.status != "moved":
                    break
                event.keep_record(str(event.object_id), committed.record)
        except Conflict as conflict:
            self._emit(action, key, "busy", f"{conflict}", event)
            raise
        except Exception as error:
            self._emit(action, key, "failed", _named(error), event, error=error)
            raise
        if committed.status == "written":
            return self._emit(action, key, "done", write.done, event)
        detail = "already done" if committed.status == "handled" else write.refused
        return self._emit(action, key, "skipped", detail, event)

    def _perform(self, action: Action, event: ActionEvent) -> ActionOutcome:
        """Any other action: ``perform`` inside Powertools' ``idempotent_function``."""
        from aws_lambda_powertools.utilities.idempotency import idempotent_function

        if self._persistence is None:
            raise ActionFailed(f"{action.name} performs, and no idempotency records are kept for it")
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        key = event.object_id or event.id
        try:
            decision = action.decide(event)
            if isinstance(decision, Wait):
                return self._emit(action, key, "waiting", decision.reason, event)
            key = decision.key

            def perform(task: dict[str, str]) -> dict[str, Any]:
                detail = action.perform(event, task["key"])
                return {**task, "detail": detail, "event_id": event.id, "at": int(self._clock())}

            once = idempotent_function(
                perform,
                data_keyword_argument="task",
                persistence_store=self._persistence,
                config=self._config,
                key_prefix=idempotency_prefix(action.name),
            )
            result = once(task={"action": action.name, "key": key})
        except IdempotencyAlreadyInProgressError:
            self._emit(action, key, "busy", "another delivery is performing it; retried later", event)
            raise
        except EffectUncertain as uncertain:
            detail = f"{uncertain}; not attempted again until it is settled (ops effects)"
            self._emit(action, key, "uncertain", detail, event)
            raise
        except EffectRefused as refused:  # recorded for good: the message is not retried for it
            return self._emit(action, key, "refused", str(refused), event)
        except Exception as error:
            self._emit(action, key, "failed", _named(error), event, error=error)
            raise
        if result.get(REPLAYED):
            return self._emit(action, key, "skipped", "already done", event)
        return self._emit(action, key, "done", str(result["detail"]), event)

    def _emit(
        self,
        action: AnyAction,
        key: str,
        status: str,
        detail: str,
        event: ActionEvent,
        *,
        error: Exception | None = None,
    ) -> ActionOutcome:
        outcome = ActionOutcome(
            action.name, key, status, detail, event.id, event.type, error, event.receive_count
        )
        self._report(outcome)
        return outcome
