"""A write action (``entitlement``): two AWS calls for a new message, one for a repeat, and its one
write made once under lost answers and concurrent copies (``stripe_actions.handled``).

Calls are counted as the webhook's are (``test_units``): every attempt botocore sends from the
function's session (``FaultInjector.attempts``), the SQS event source's own calls left out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event, merge
from stripe_actions.adapters import entitlement_key
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Actions
from tests.integration.test_actions import resend_last_message
from tests.support import deliver


def calls(faults: FaultInjector) -> Counter[str]:
    """What the action sent, by operation (the queue's receive and delete are the event source's)."""
    return Counter({name: n for name, n in faults.attempts.items() if not name.startswith("sqs.")})


def subscription(actions: Actions, secret: str) -> dict[str, Any]:
    event = fresh_event("customer.subscription.created")
    assert deliver(event, secret).status == 200
    return event


def notes(actions: Actions) -> list[dict[str, Any]]:
    return [record for record in actions.idempotency_records() if "#event:" in record["id"]]


def test_a_new_message_costs_two_calls_and_a_repeat_one(actions: Actions, secret: str) -> None:
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    faults = FaultInjector()
    faults.install(function_aws.session())

    (first,) = actions.run("entitlement")
    new = calls(faults)
    faults.attempts.clear()
    resend_last_message(actions, "entitlement", event["id"])  # SNS's second copy
    (again,) = actions.run("entitlement")

    assert (first.status, again.status) == ("done", "skipped")
    assert new == Counter({"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1})
    assert calls(faults) == Counter({"dynamodb.BatchGetItem": 1})
    item = actions.item(*entitlement_key(sub["customer"], sub["id"]))
    assert item is not None and item["active"] is True and item["source_event"] == event["id"]
    assert [note["id"].rsplit(":", 1)[1] for note in notes(actions)] == [event["id"]]


def test_a_transaction_whose_answer_was_lost_is_recognised_as_ours(actions: Actions, secret: str) -> None:
    """botocore sends the applied transaction again; its own note refuses it, and says it was ours."""
    event = subscription(actions, secret)
    faults = FaultInjector({"dynamodb.TransactWriteItems": Fault(lose_answer=True, times=1)})
    faults.install(function_aws.session())

    (outcome,) = actions.run("entitlement")

    assert faults.attempts["dynamodb.TransactWriteItems"] == 2
    assert outcome.status == "done"
    assert len(notes(actions)) == 1
    resend_last_message(actions, "entitlement", event["id"])
    assert [outcome.status for outcome in actions.run("entitlement")] == ["skipped"]


def test_a_conflicting_transaction_is_retried_and_writes_once(actions: Actions, secret: str) -> None:
    """DynamoDB cancels a transaction whose items another one holds: the message comes back."""
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    conflict = Fault(
        "TransactionCanceledException", reasons=("TransactionConflict", "None"), times=1, status=400
    )
    faults = FaultInjector({"dynamodb.TransactWriteItems": conflict})
    faults.install(function_aws.session())

    statuses = [outcome.status for outcome in actions.run("entitlement", rounds=40)]

    assert statuses == ["busy", "done"]
    assert actions.item(*entitlement_key(sub["customer"], sub["id"])) is not None
    assert len(notes(actions)) == 1


def test_an_older_state_is_refused_by_the_write_and_leaves_no_note(actions: Actions, secret: str) -> None:
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    later = fresh_event("customer.subscription.created", type="customer.subscription.updated")
    later["created"] = event["created"] + 30
    merge(later["data"]["object"], {"status": "past_due"})
    assert deliver(later, secret).status == 200
    actions.run("entitlement")  # both read the newest record: one writes it, the other finds it written
    item = actions.item(*entitlement_key(sub["customer"], sub["id"]))
    assert item is not None and item["status"] == "past_due"

    statuses = Counter(outcome.status for outcome in actions.outcomes)
    assert statuses == Counter({"done": 1, "skipped": 1})
    (refused,) = [outcome for outcome in actions.outcomes if outcome.status == "skipped"]
    assert "as new or newer is already stored" in refused.detail
    assert len(notes(actions)) == 1  # the refused write noted nothing
