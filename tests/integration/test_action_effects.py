"""The example actions' external effects (an SES receipt, an SNS alert) under the services' real
failure modes: never done twice, and what cannot be known is surfaced, not guessed.

Faults are injected at botocore's ``before-send`` hook (``tests/faults.py``), so the SDK's own
retry logic runs for real, and modelled on the services' documented behaviour:

- a lost answer: the service applied the request and the answer never arrived
  (``ReadTimeoutError``), which botocore's standard mode would re-send;
- throttling (SES ``Throttling``, SNS ``Throttled``: 400, nothing applied) and server errors
  (SES ``InternalFailure``, SNS ``InternalError``: 500, which may or may not have been applied:
  here not applied, and the action must still not assume either);
- DynamoDB refusing the ledger's or Powertools' writes after the effect
  (``ProvisionedThroughputExceededException`` on every attempt);
- an invocation killed between any two of the action's AWS calls, before or after the service
  applied the call (``Killed``, a ``BaseException``, as Lambda stopping the sandbox).
"""

from __future__ import annotations

import io
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event
from stripe_actions.outcomes import ActionOutcome
from tests.aws_model import Killed
from tests.faults import Fault, FaultInjector, apply_with_moto
from tests.integration.conftest import Actions
from tests.support import deliver

KILL_REPORT: list[str] = []
"""What the kill-point sweep did, printed at the end of the run (``tests/conftest.py``)."""


@dataclass(frozen=True)
class Effect:
    action: str
    event_type: str
    operation: str
    throttle: str
    server_error: str
    name: str
    """The ledger's name for the effect of one business fact: ``<action>#<name>:<business key>``."""

    def of(self, key: str) -> str:
        return f"{self.action}#{self.name}:{key}"


RECEIPT = Effect("fulfil_order", "invoice.paid", "ses.SendEmail", "Throttling", "InternalFailure", "receipt")
ALERT = Effect(
    "dispute_alert", "charge.dispute.created", "sns.Publish", "Throttled", "InternalError", "alert"
)
EFFECTS = [pytest.param(RECEIPT, id="receipt"), pytest.param(ALERT, id="alert")]


@dataclass
class Seen:
    """What reached the outside world, per business key: SES's own record, the alert topic's queue."""

    actions: Actions
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def count(self, effect: Effect, key: str) -> int:
        if effect is RECEIPT:
            return sum(key in message.subject for message in self.actions.emails())
        from tests.support import drain

        self.alerts += [
            json.loads(message.body) for message in drain(self.actions.aws.sqs, self.actions.alerts_queue_url)
        ]
        return sum(key in alert["Subject"] for alert in self.alerts)


EVENT_OF: dict[str, str] = {}
"""Business key → the id of the event that brought it."""


def new_fact(actions: Actions, effect: Effect, secret: str) -> str:
    """Deliver a fresh event through the webhook; its business key (the invoice or dispute id)."""
    event = fresh_event(effect.event_type)
    original = str(event["data"]["object"]["id"])
    key = f"{original.split('_', maxsplit=1)[0]}_test{secrets.token_hex(8)}"  # a fact of its own
    event["data"]["object"]["id"] = key
    assert deliver(event, secret).status == 200
    EVENT_OF[key] = event["id"]
    return key


def run_out(actions: Actions, effect: Effect) -> list[ActionOutcome]:
    """Every receive SQS would make, until the message is done or in the dead-letter queue."""
    return actions.run(effect.action, rounds=actions.resources.queues[effect.action].max_receives + 3)


def redrive_dead_letters(actions: Actions, effect: Effect) -> int:
    """SQS console's *Start DLQ redrive*: the dead-letter queue's messages back on the queue."""
    queue = actions.resources.queues[effect.action]
    moved = 0
    while True:
        batch = actions.aws.sqs.receive_message(
            QueueUrl=queue.dead_letter_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return moved
        for message in batch:
            actions.aws.sqs.send_message(
                QueueUrl=queue.queue_url,
                MessageBody=message["Body"],
                MessageAttributes=message.get("MessageAttributes", {}),
            )
            actions.aws.sqs.delete_message(
                QueueUrl=queue.dead_letter_url, ReceiptHandle=message["ReceiptHandle"]
            )
            moved += 1


def deadline_passes(actions: Actions) -> None:
    """The killed invocation's deadline passes: its ``INPROGRESS`` records may be taken over."""
    for record in actions.idempotency_records():
        if record["status"] == "INPROGRESS":
            actions.aws.dynamodb.update_item(
                TableName=actions.resources.idempotency_table,
                Key={"id": {"S": record["id"]}},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": "0"}},
            )


@pytest.mark.parametrize("effect", EFFECTS)
def test_a_lost_answer_is_never_sent_again_and_waits_for_a_person_in_the_dead_letter_queue(
    actions: Actions, secret: str, effect: Effect
) -> None:
    key = new_fact(actions, effect, secret)
    seen = Seen(actions)
    faults = FaultInjector({effect.operation: Fault(lose_answer=True, times=1)})
    faults.install(function_aws.session())

    outcomes = run_out(actions, effect)

    receives = actions.resources.queues[effect.action].max_receives
    assert [outcome.status for outcome in outcomes] == ["uncertain"] * receives
    assert faults.attempts[effect.operation] == 1  # one attempt: neither botocore nor SQS re-sent it
    assert seen.count(effect, key) == 1  # the service did act
    entry = actions.effects()[effect.of(key)]
    assert entry["status"] == "UNCERTAIN" and "ReadTimeoutError" in entry["reason"]

    # The person finds the email (or the alert) did go out, settles it, and redrives the queue
    effect_name = effect.of(key)
    assert actions.ledger.settle(effect_name, happened=True)
    assert redrive_dead_letters(actions, effect) == 1
    after = run_out(actions, effect)

    assert [outcome.status for outcome in after] == ["done"]
    assert seen.count(effect, key) == 1
    assert actions.effects()[effect_name]["status"] == "DONE"
    assert faults.attempts[effect.operation] == 1


def test_a_receipt_ses_refuses_for_good_is_recorded_never_retried_and_its_address_never_logged(
    actions: Actions, secret: str
) -> None:
    """SES refuses a customer's malformed address (``InvalidParameterValue``, "Missing domain",
    its message naming the address): a retry cannot change that. The refusal is recorded
    (``REFUSED``, with the code only), the message is done (no five receives, no dead letter), a
    redelivery does not call SES again, and no log line holds the address."""
    from stripe_actions.observability import logger, report_outcome

    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    event = fresh_event("checkout.session.completed")
    address = "jenny.rosen@"  # what a customer typed
    event["data"]["object"]["customer_details"]["email"] = address
    assert deliver(event, secret).status == 200
    key = str(event["data"]["object"]["id"])
    refusal = Fault("InvalidParameterValue", 400, message=f"Missing domain: <{address}>")
    faults = FaultInjector({"ses.SendEmail": refusal})
    faults.install(function_aws.session())
    try:
        outcomes = actions.run("fulfil_order")
        assert deliver(event, secret).body["status"] == "duplicate"
        redriven = redrive_dead_letters(actions, RECEIPT)
        for outcome in outcomes:  # as the deployed function reports each (app: report_outcome)
            report_outcome(outcome)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]

    assert [outcome.status for outcome in outcomes] == ["refused"] and redriven == 0
    assert faults.attempts["ses.SendEmail"] == 1
    entry = actions.effects()[RECEIPT.of(key)]
    assert entry["status"] == "REFUSED" and entry["reason"] == "InvalidParameterValue"
    assert actions.item(f"FULFILMENT#{key}", "ORDER") is not None  # the order itself is fulfilled
    logs = buffer.getvalue()
    assert "action refused" in logs and address not in logs


def test_a_failed_action_logs_where_it_failed_never_the_refusal_text_that_names_the_recipient(
    actions: Actions, secret: str
) -> None:
    """SES's ``MessageRejected`` (an account's state: the operator can fix it) is retried, and its
    lines say the class, the code and the frames, never SES's text with the recipient's address."""
    from stripe_actions.observability import logger, report_outcome

    event = fresh_event("checkout.session.completed")
    address = str(event["data"]["object"]["customer_details"]["email"])
    assert deliver(event, secret).status == 200
    rejected = Fault("MessageRejected", 400, times=1, message=f"Email address is not verified: {address}")
    FaultInjector({"ses.SendEmail": rejected}).install(function_aws.session())
    outcomes = actions.run("fulfil_order")
    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        for outcome in outcomes:
            report_outcome(outcome)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]

    assert [outcome.status for outcome in outcomes] == ["failed", "done"]
    (failed, _done) = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert failed["exception_name"] == "MessageRejected" and "perform" in failed["stack_frames"]
    assert address not in buffer.getvalue()


@pytest.mark.parametrize("effect", EFFECTS)
def test_a_server_error_may_have_been_applied_so_it_is_uncertain_and_settled_as_not_sent(
    actions: Actions, secret: str, effect: Effect
) -> None:
    key = new_fact(actions, effect, secret)
    seen = Seen(actions)
    faults = FaultInjector({effect.operation: Fault(effect.server_error, 500, times=1)})
    faults.install(function_aws.session())

    outcomes = run_out(actions, effect)

    assert {outcome.status for outcome in outcomes} == {"uncertain"}
    assert faults.attempts[effect.operation] == 1  # botocore would have re-sent a 500 twice more
    assert seen.count(effect, key) == 0
    (entry,) = actions.effects().values()
    assert entry["status"] == "UNCERTAIN"

    # Nothing arrived: settled as not sent, the redrive makes the one attempt
    assert actions.ledger.settle(entry["effect"], happened=False)
    redrive_dead_letters(actions, effect)
    assert [outcome.status for outcome in run_out(actions, effect)] == ["done"]
    assert seen.count(effect, key) == 1
    assert faults.attempts[effect.operation] == 2


@pytest.mark.parametrize("effect", EFFECTS)
def test_a_throttled_call_was_not_applied_so_it_is_released_and_retried_to_one_effect(
    actions: Actions, secret: str, effect: Effect
) -> None:
    key = new_fact(actions, effect, secret)
    seen = Seen(actions)
    faults = FaultInjector({effect.operation: Fault(effect.throttle, 400, times=1)})
    faults.install(function_aws.session())

    outcomes = run_out(actions, effect)

    assert [outcome.status for outcome in outcomes] == ["failed", "done"]
    assert faults.attempts[effect.operation] == 2  # one per delivery
    assert seen.count(effect, key) == 1
    assert {entry["status"] for entry in actions.effects().values()} == {"DONE"}


@pytest.mark.parametrize("effect", EFFECTS)
def test_the_ledger_failing_after_the_effect_does_not_repeat_it(
    actions: Actions, secret: str, effect: Effect
) -> None:
    """The review's case: SES accepted, then the write recording it failed through every attempt."""
    key = new_fact(actions, effect, secret)
    seen = Seen(actions)
    throttled = Fault("ProvisionedThroughputExceededException", 400, matching='"effect#')
    faults = FaultInjector({"dynamodb.UpdateItem": throttled})
    faults.install(function_aws.session())

    first = run_out(actions, effect)
    faults.heal("dynamodb.UpdateItem")
    from tests.integration.test_actions import resend_last_message

    resend_last_message(actions, effect.action, EVENT_OF[key])
    second = run_out(actions, effect)

    assert [outcome.status for outcome in first] == ["done"]  # the effect happened: said so
    assert [outcome.status for outcome in second] == ["skipped"]  # Powertools' record holds
    assert seen.count(effect, key) == 1
    assert faults.attempts["dynamodb.UpdateItem"] >= 3  # the mark was tried through botocore's attempts


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_record_of_the_action_failing_after_the_effect_surfaces_it_and_never_repeats_it(
    actions: Actions, secret: str, effect: Effect
) -> None:
    """The ledger's mark and Powertools' COMPLETED both refused: the message fails with its record
    left in progress; after the deadline the next delivery finds an unfinished attempt."""
    key = new_fact(actions, effect, secret)
    seen = Seen(actions)
    table = actions.resources.idempotency_table
    faults = FaultInjector(
        {"dynamodb.UpdateItem": Fault("ProvisionedThroughputExceededException", 400, matching=table)}
    )
    faults.install(function_aws.session())

    first = actions.run(effect.action, rounds=1)
    faults.heal("dynamodb.UpdateItem")
    deadline_passes(actions)
    after = run_out(actions, effect)

    assert [outcome.status for outcome in first] == ["failed"]
    assert {outcome.status for outcome in after} == {"uncertain"}
    assert seen.count(effect, key) == 1
    (entry,) = actions.effects().values()
    assert entry["status"] == "ATTEMPTING"


class KillAt:
    """A ``before-send`` hook that kills the invocation at its ``index``-th AWS call once armed,
    before the service applied it or after; unarmed, it records the calls it sees."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.after = False
        self.calls: list[str] = []

    def arm(self, index: int, *, after: bool) -> None:
        self.index, self.after, self.calls = index, after, []

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        _provider, service, operation = event_name.split(".", 2)
        self.calls.append(f"{service}.{operation}")
        if self.index is None or len(self.calls) - 1 != self.index:
            return None
        self.index = None
        if self.after:
            apply_with_moto(request, event_name)
        raise Killed


@pytest.mark.parametrize("effect", EFFECTS)
def test_an_invocation_killed_between_any_two_steps_never_doubles_the_effect(
    actions: Actions, secret: str, effect: Effect
) -> None:
    kill = KillAt()
    function_aws.session().get_component("event_emitter").register_first("before-send", kill)
    seen = Seen(actions)
    runner = actions.runners[effect.action]

    new_fact(actions, effect, secret)  # a clean run: the calls one message makes
    kill.calls = []
    runner.poll_once()
    steps = list(kill.calls)
    assert effect.operation in steps and len(steps) >= 5

    tally: Counter[str] = Counter()
    for index, step in enumerate(steps):
        for after in (False, True):
            key = new_fact(actions, effect, secret)
            kill.arm(index, after=after)
            with pytest.raises(Killed):
                runner.poll_once()
            deadline_passes(actions)
            outcomes = run_out(actions, effect)
            statuses = {outcome.status for outcome in outcomes}
            count = seen.count(effect, key)
            where = f"killed {'after' if after else 'before'} {step} (call {index + 1})"

            assert count <= 1, where
            assert count == 1 or "uncertain" in statuses, where  # never silently lost
            if "uncertain" in statuses:
                tally["uncertain"] += 1
                assert actions.ledger.settle(effect.of(key), happened=count == 1), where
                redrive_dead_letters(actions, effect)
                assert "done" in {outcome.status for outcome in run_out(actions, effect)}, where
            else:
                tally["done once"] += 1
            assert seen.count(effect, key) == 1, where  # settled and redriven: exactly one
    KILL_REPORT.append(
        f"actions killed mid-call ({effect.action}): {2 * len(steps)} kill points over {len(steps)} calls;"
        f" {tally['done once']} finished once on their own, {tally['uncertain']} surfaced as uncertain"
        " and settled; never two effects"
    )


def _never(_: BaseException) -> bool:
    return False


def test_an_unknown_error_from_the_call_is_uncertain_and_a_refusal_releases_the_entry(
    actions: Actions,
) -> None:
    ledger = actions.ledger
    sent: list[str] = []

    def lose() -> str:
        sent.append("x")
        raise ReadTimeoutError(endpoint_url="https://partner.example")

    def refuse() -> str:
        raise ValueError("the partner said no")

    with pytest.raises(Exception) as uncertain:
        ledger.once("partner:1", lose)
    assert type(uncertain.value).__name__ == "EffectUncertain"
    with pytest.raises(Exception) as again:
        ledger.once("partner:1", lambda: "should not run")
    assert type(again.value).__name__ == "EffectUncertain"
    assert sent == ["x"]

    refused: Callable[[BaseException], bool] = lambda error: isinstance(error, ValueError)  # noqa: E731
    with pytest.raises(ValueError):
        ledger.once("partner:2", refuse, refused=refused)
    assert "partner:2" not in actions.effects()  # released: a retry may attempt it
    assert ledger.once("partner:2", lambda: "ok", refused=_never) == "ok"
    assert ledger.once("partner:2", lambda: "not again") == "ok"


def test_ops_effects_lists_what_waits_for_a_person_and_records_the_verdict(
    actions: Actions, secret: str
) -> None:
    import io

    from infra.cli import Problem
    from infra.ops import cli, effects
    from infra.ops.deployed import Context, Stack

    key = new_fact(actions, RECEIPT, secret)
    FaultInjector({RECEIPT.operation: Fault(lose_answer=True, times=1)}).install(function_aws.session())
    run_out(actions, RECEIPT)
    out = io.StringIO()
    stack = Stack("shop", "-", "t", "arn", "s", actions_idempotency_table=actions.resources.idempotency_table)
    ctx = Context(stack, lambda service: actions.aws.dynamodb, out=out)

    assert effects.list_effects(ctx) == 1
    listing = out.getvalue()
    assert f"UNCERTAIN  fulfil_order#receipt:{key}" in listing and "to=jenny.rosen@example.com" in listing
    assert "ReadTimeoutError" in listing and "1 effect(s) to settle" in listing

    assert (
        effects.settle(
            Context(stack, ctx.aws, out=out, dry_run=True), f"fulfil_order#receipt:{key}", happened=True
        )
        == 0
    )
    assert (
        actions.effects()[f"fulfil_order#receipt:{key}"]["status"] == "UNCERTAIN"
    )  # a dry run records nothing
    assert effects.settle(ctx, f"fulfil_order#receipt:{key}", happened=True) == 0
    assert actions.effects()[f"fulfil_order#receipt:{key}"]["status"] == "DONE"
    with pytest.raises(Problem, match="not waiting to be settled"):
        effects.settle(ctx, f"fulfil_order#receipt:{key}", happened=False)
    out.truncate(0)
    assert effects.list_effects(ctx) == 0 and "no effect waits" in out.getvalue()

    without_actions = Context(Stack("shop", "-", "t", "arn", "s"), ctx.aws, out=out)
    with pytest.raises(Problem, match="DeployExampleActions"):
        effects.list_effects(without_actions)
    for argv in (["effects", "--settle", "receipt:x"], ["effects", "--happened"]):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
