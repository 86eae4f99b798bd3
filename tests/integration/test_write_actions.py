"""A write action (``entitlement``): one AWS call for a new message and one for a repeat when the
message carries the record (two and one when it is read), and its one write made once under lost
answers, concurrent copies and records that moved on (``stripe_actions.handled``).

Calls are counted as the webhook's are (``test_units``): every attempt botocore sends from the
function's session (``FaultInjector.attempts``), the SQS event source's own calls left out.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from contract import RECORD
from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event, merge
from stripe_actions.adapters import entitlement_key
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Actions
from tests.integration.test_actions import resend_last_message
from tests.support import deliver, drain


def calls(faults: FaultInjector) -> Counter[str]:
    """What the action sent, by operation (the queue's receive and delete are the event source's)."""
    return Counter({name: n for name, n in faults.attempts.items() if not name.startswith("sqs.")})


def subscription(actions: Actions, secret: str) -> dict[str, Any]:
    event = fresh_event("customer.subscription.created")
    assert deliver(event, secret).status == 200
    return event


def notes(actions: Actions) -> list[dict[str, Any]]:
    return [record for record in actions.idempotency_records() if "#event:" in record["id"]]


def rewrite_messages(
    actions: Actions, action: str, change: Callable[[dict[str, str]], None], *, copies: int = 1
) -> None:
    """Every message waiting for ``action``, sent again (``copies`` times) with its attributes
    changed by ``change``."""
    queue = actions.resources.queues[action]
    for message in drain(actions.aws.sqs, queue.queue_url) * copies:
        change(message.attributes)
        attributes = {
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()
        }
        actions.aws.sqs.send_message(
            QueueUrl=queue.queue_url, MessageBody=message.body, MessageAttributes=attributes
        )


def without_record(attributes: dict[str, str]) -> None:
    """A message from a webhook that sent no record (a release before it, or no room)."""
    del attributes[RECORD]


def test_a_new_message_costs_one_call_and_a_repeat_one(actions: Actions, secret: str) -> None:
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    rewrite_messages(actions, "entitlement", lambda attributes: None, copies=2)  # SNS's second copy
    faults = FaultInjector()
    faults.install(function_aws.session())

    first, again = actions.run("entitlement")

    assert (first.status, again.status, again.detail) == ("done", "skipped", "already done")
    # each: the write, the note and the record's check in one transaction; the copy's refused by the note
    assert calls(faults) == Counter({"dynamodb.TransactWriteItems": 2})
    item = actions.item(*entitlement_key(sub["customer"], sub["id"]))
    assert item is not None and item["active"] is True and item["source_event"] == event["id"]
    assert [note["id"].rsplit(":", 1)[1] for note in notes(actions)] == [event["id"]]


def test_a_message_without_the_record_reads_it_with_the_note(actions: Actions, secret: str) -> None:
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    rewrite_messages(actions, "entitlement", without_record)
    faults = FaultInjector()
    faults.install(function_aws.session())

    (first,) = actions.run("entitlement")
    new = calls(faults)
    faults.attempts.clear()
    resend_last_message(actions, "entitlement", event["id"])  # as stored: the tools' copy has none
    (again,) = actions.run("entitlement")

    assert (first.status, again.status) == ("done", "skipped")
    assert new == Counter({"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1})
    assert calls(faults) == Counter({"dynamodb.BatchGetItem": 1})
    item = actions.item(*entitlement_key(sub["customer"], sub["id"]))
    assert item is not None and item["active"] is True


def test_a_malformed_record_is_named_left_out_and_read(
    actions: Actions, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another object's record, or not JSON: never trusted, never poison; the record is read."""
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    other = json.dumps(
        {"pk": "OBJECT#sub_other", "sk": "STATE", "last_event_id": event["id"], "active": True}
    )
    rewrite_messages(actions, "entitlement", lambda attributes: attributes.update({RECORD: other}))
    faults = FaultInjector()
    faults.install(function_aws.session())

    with caplog.at_level(logging.WARNING):
        (outcome,) = actions.run("entitlement")

    assert outcome.status == "done"
    assert calls(faults) == Counter({"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1})
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "not this event's object's" in warning.__dict__["reason"]
    assert actions.item(*entitlement_key(sub["customer"], sub["id"])) is not None


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
    """Both messages wait while a newer state lands: the older one's record has moved on, so its
    check refuses the commit and returns the stored record; it decides again on that one."""
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    later = fresh_event("customer.subscription.created", type="customer.subscription.updated")
    later["created"] = event["created"] + 30
    merge(later["data"]["object"], {"status": "past_due"})
    assert deliver(later, secret).status == 200
    faults = FaultInjector()
    faults.install(function_aws.session())

    actions.run("entitlement")  # both act on the newest record: one writes it, the other finds it written

    item = actions.item(*entitlement_key(sub["customer"], sub["id"]))
    assert item is not None and item["status"] == "past_due" and item["source_event"] == later["id"]
    statuses = Counter(outcome.status for outcome in actions.outcomes)
    assert statuses == Counter({"done": 1, "skipped": 1})
    (refused,) = [outcome for outcome in actions.outcomes if outcome.status == "skipped"]
    assert "as new or newer is already stored" in refused.detail
    assert len(notes(actions)) == 1  # the refused write noted nothing
    assert calls(faults) == Counter({"dynamodb.TransactWriteItems": 3})  # the older: checked, then again


def test_a_record_marked_uncertain_since_is_read_back_before_acting(actions: Actions, secret: str) -> None:
    """A tie-break no Stripe key settled marks the stored record after the message left: the record
    the message carries is no longer the stored one, so the action decides on the stored one."""
    event = subscription(actions, secret)
    sub = event["data"]["object"]
    actions.aws.dynamodb.update_item(
        TableName=actions.aws.table,
        Key={"pk": {"S": f"OBJECT#{sub['id']}"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET order_uncertain = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
    )
    faults = FaultInjector()
    faults.install(function_aws.session())

    (outcome,) = actions.run("entitlement")

    assert outcome.status == "done"
    assert calls(faults) == Counter({"dynamodb.TransactWriteItems": 2})
    assert actions.item(*entitlement_key(sub["customer"], sub["id"])) is not None
