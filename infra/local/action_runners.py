"""The consumer kit's example actions on the local stack: Lambda's SQS event source, emulated.

For each action the template deploys, a thread receives up to 10 messages from the action's queue
(moto's SQS), hands them to the action's ``Consumer`` as the SQS event Lambda would send
(``sqs_lambda_event``), and deletes the messages the batch response does not list as failed.
A failed message becomes visible again after the queue's visibility timeout and, after the
template's ``maxReceiveCount`` receives, moto's SQS moves it to the dead-letter queue, as SQS does.
Every outcome is one console line: ``action fulfil_order cs_… done (email to …)``, and the line the
deployed function logs, in its log group on the local AWS side (``action_logs``).
"""

from __future__ import annotations

import functools
import hashlib
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from infra.lambda_context import LambdaContext
from infra.local.action_logs import ActionLogs, log_group
from infra.local.connect import REGION
from infra.local.resources import ActionQueue, ActionResources, LocalResources

if TYPE_CHECKING:
    from stripe_actions.consumer import Consumer
from stripe_actions.outcomes import ActionOutcome

LOCAL_VISIBILITY_SECONDS = 2
"""Locally a failed message comes back after 2 s, not the deployed 180 s, so retries show."""
LOCAL_TIMEOUT_SECONDS = 30
"""The deployed functions' timeout: the in-progress expiry an interrupted action leaves."""


def _lambda_attributes(message: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source sends for ``messages`` (as ``ReceiveMessage`` returned
    them, with ``AttributeNames=["All"]`` and ``MessageAttributeNames=["All"]``)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _lambda_attributes(message),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


class ActionRunner:
    """One action's event source mapping: receive a batch, invoke, delete what succeeded."""

    def __init__(
        self,
        sqs: Any,
        queue: ActionQueue,
        make_consumer: Callable[[], Consumer],
        *,
        timeout_seconds: int = LOCAL_TIMEOUT_SECONDS,
    ) -> None:
        self.sqs, self.queue, self._make_consumer = sqs, queue, make_consumer
        self.timeout_seconds = timeout_seconds
        self._stop = threading.Event()

    @functools.cached_property
    def consumer(self) -> Consumer:
        """Built on the first batch, as a Lambda container builds it on its first invocation."""
        return self._make_consumer()

    def reload(self) -> None:
        """Build the consumer again from the current code on the next batch (after a reload)."""
        self.__dict__.pop("consumer", None)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One batch (up to 10 messages): returns how many were received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=wait_seconds,
        ).get("Messages", [])
        if not messages:
            return 0
        context = LambdaContext(timeout_seconds=self.timeout_seconds)
        response = self.consumer.handle(sqs_lambda_event(messages, self.queue.queue_arn), context)  # type: ignore[arg-type]
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def start(self) -> ActionRunner:
        threading.Thread(
            target=self._run, name=f"actions-{'+'.join(self.queue.actions)}", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        reported = ""
        while not self._stop.is_set():
            try:
                received = self.poll_once()
            except Exception as error:  # the stack is stopping, moto hiccuped, or a broken edit
                received = 0
                problem = f"{type(error).__name__}: {error}"
                if problem != reported and not self._stop.is_set():
                    print(f"-- actions {', '.join(self.queue.actions)}: {problem} (retrying)", flush=True)
                reported = problem
            if not received:
                self._stop.wait(0.2)


def build_runners(
    sqs: Any,
    resources: LocalResources,
    actions: ActionResources,
    report: Callable[[ActionOutcome], None],
    logs: ActionLogs | None = None,
) -> list[ActionRunner]:
    """One runner per actions function, each with its own ``Consumer`` built as its deployed function
    builds it (clients from ``contract.aws``, so from ``AWS_ENDPOINT_URL`` locally), from
    the code as it is when the runner (re)builds it; each outcome goes to ``report`` and, as the
    deployed function logs it, to the function's log group (``logs``)."""
    from stripe_actions.settings import Settings

    def make_consumer(settings: Settings, group: str) -> Consumer:
        from stripe_actions import composition

        def reported(outcome: ActionOutcome) -> None:
            report(outcome)
            if logs is not None:
                logs.write(group, outcome)

        return composition.Components(settings, report=reported).consumer

    runners = []
    for queue in actions.queues.values():  # one per action, with what its instance grants
        instance = queue.instance
        settings = Settings(
            actions=queue.actions,
            idempotency_table=actions.idempotency_table,
            events_table=resources.table_name if "records" in instance.uses else None,
            payload_bucket=resources.bucket,
            actions_table=actions.actions_table if "keys" in instance.uses else None,
            receipt_sender=actions.receipt_sender if "email" in instance.uses else "",
            alert_topic_arn=actions.alert_topic_arn if "alerts" in instance.uses else None,
        )
        group = log_group(queue.queue_url.rsplit("/", 1)[-1])
        if logs is not None:
            logs.ensure(group)
        runners.append(ActionRunner(sqs, queue, functools.partial(make_consumer, settings, group)))
    return runners


def print_outcome(outcome: ActionOutcome) -> None:
    """The outcome's console line; a failed action's traceback under it, as Python prints it."""
    print(f"  {outcome.line()}", flush=True)
    if outcome.error is not None:
        traceback.print_exception(outcome.error)


def build_actions(
    endpoint: str, resources: LocalResources, report: Callable[[ActionOutcome], None] = print_outcome
) -> tuple[ActionResources, list[ActionRunner]]:
    """What ``DeployExampleActions=true`` deploys, on the local endpoint, and a runner for each
    action, not yet started (``ActionRunner.start``); each outcome goes to ``report`` (the console
    line, and the inbox)."""
    from infra.local.connect import client
    from infra.local.resources import create_action_resources

    actions = create_action_resources(
        client("dynamodb", endpoint),
        client("sns", endpoint),
        client("sqs", endpoint),
        client("ses", endpoint),
        resources.topic_arn,
        visibility_timeout=LOCAL_VISIBILITY_SECONDS,
    )
    logs = ActionLogs(client("logs", endpoint))
    return actions, build_runners(client("sqs", endpoint), resources, actions, report, logs)
