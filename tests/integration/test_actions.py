"""The consumer kit's example actions on moto: each business fact acted on exactly once.

Events go through the real webhook function (its table and topic built from template.yaml), reach
the actions' queues through the template's filter policies, and are consumed as Lambda's SQS event
source would hand them over (``infra.local.action_runners``). Assertions are on what the actions left:
the actions table, what SES accepted (moto's own record), the alert topic's messages, the
idempotency records and the dead-letter queues.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event, merge
from stripe_actions.adapters import entitlement_key, fulfilment_key
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Actions
from tests.support import deliver, drain, large_invoice


def session_event(event_type: str, session_id: str = "cs_test_fresh_1", **changes: Any) -> dict[str, Any]:
    event = fresh_event(
        event_type if event_type == "checkout.session.completed" else "checkout.session.completed"
    )
    event["type"] = event_type
    merge(event["data"]["object"], {"id": session_id, **changes})
    return event


def resend_last_message(actions: Actions, action: str, event_id: str) -> None:
    """SNS delivers at least once: the same message a second time, as a new SQS message."""
    queue = actions.resources.queues[action]
    message = actions.aws.queries.get_event(event_id)
    assert message is not None
    from stripe_webhook.adapters.publisher import stored_message

    body, attributes = stored_message(message)
    actions.aws.sqs.send_message(
        QueueUrl=queue.queue_url,
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value["StringValue"]}
            for name, value in attributes.items()
        },
    )


def test_a_paid_checkout_is_fulfilled_once_and_its_buyer_gets_one_receipt(
    actions: Actions, secret: str
) -> None:
    event = session_event("checkout.session.completed")

    assert deliver(event, secret).body["status"] == "processed"
    assert deliver(event, secret).body["status"] == "duplicate"  # Stripe's retry: never published twice
    first = actions.run()
    resend_last_message(actions, "fulfil_order", event["id"])  # SNS's at-least-once second copy
    second = actions.run()

    assert actions.lines(first) == [
        "action fulfil_order cs_test_fresh_1 done (email to jenny.rosen@example.com)"
    ]
    assert actions.lines(second) == ["action fulfil_order cs_test_fresh_1 skipped: already done"]
    emails = actions.emails()
    assert len(emails) == 1
    assert emails[0].destinations["ToAddresses"] == ["jenny.rosen@example.com"]
    assert "49.99 USD" in emails[0].body
    item = actions.item(*fulfilment_key("cs_test_fresh_1"))
    assert item is not None and item["event_id"] == event["id"]
    receipt = actions.effects()["fulfil_order#receipt:cs_test_fresh_1"]
    assert receipt["status"] == "DONE" and receipt["result"] == emails[0].id


def test_invoice_paid_and_invoice_payment_succeeded_fulfil_the_invoice_once(
    actions: Actions, secret: str
) -> None:
    paid = fresh_event("invoice.paid")
    succeeded = fresh_event("invoice.paid", type="invoice.payment_succeeded")

    assert deliver(paid, secret).status == 200
    assert deliver(succeeded, secret).status == 200
    outcomes = actions.run()

    invoice = paid["data"]["object"]["id"]
    assert sorted(actions.lines(outcomes)) == sorted(
        [
            f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)",
            f"action fulfil_order {invoice} skipped: already done",
        ]
    )
    assert len(actions.emails()) == 1
    assert len([record for record in actions.idempotency_records() if record["status"] == "COMPLETED"]) == 1


@pytest.mark.parametrize("consumer_order", ["in order", "reversed"])
def test_a_bank_debit_checkout_is_fulfilled_once_when_the_payment_clears_in_either_order(
    actions: Actions, secret: str, consumer_order: str
) -> None:
    completed = session_event("checkout.session.completed", "cs_test_debit", payment_status="unpaid")
    cleared = session_event(
        "checkout.session.async_payment_succeeded", "cs_test_debit", payment_status="paid"
    )
    cleared["created"] = completed["created"] + 60

    if consumer_order == "in order":
        deliver(completed, secret)
        waiting = actions.run()
        deliver(cleared, secret)
        done = actions.run()
        assert actions.lines(waiting) == [
            "action fulfil_order cs_test_debit waiting: fulfilment_status unpaid"
        ]
        assert actions.lines(done) == [
            "action fulfil_order cs_test_debit done (email to jenny.rosen@example.com)"
        ]
    else:  # both stored before the consumer reads either: the record already says paid
        deliver(cleared, secret)
        deliver(completed, secret)
        outcomes = actions.run()
        assert sorted(outcome.status for outcome in outcomes) == ["done", "skipped"]
    assert len(actions.emails()) == 1


def test_a_subscription_checkout_waits_for_its_invoice(actions: Actions, secret: str) -> None:
    event = session_event(
        "checkout.session.completed", "cs_test_sub", mode="subscription", subscription="sub_1"
    )

    deliver(event, secret)

    assert actions.lines(actions.run()) == [
        "action fulfil_order cs_test_sub waiting: a subscription is fulfilled from its paid invoices"
    ]
    assert actions.item(*fulfilment_key("cs_test_sub")) is None
    assert actions.emails() == []


def test_entitlement_follows_the_subscription_record_whatever_order_messages_arrive_in(
    actions: Actions, secret: str
) -> None:
    created = fresh_event("customer.subscription.created")
    deleted = fresh_event("customer.subscription.created", type="customer.subscription.deleted")
    merge(deleted["data"]["object"], {"status": "canceled", "canceled_at": created["created"] + 100})
    deleted["created"] = created["created"] + 100
    subscription = created["data"]["object"]
    customer = subscription["customer"]

    deliver(created, secret)
    deliver(deleted, secret)
    queue = actions.resources.queues["entitlement"].queue_url
    # The consumer reads them newest first: both read the current record (canceled)
    messages = actions.aws.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)[
        "Messages"
    ]
    assert len(messages) == 2
    outcomes = actions.run()

    assert sorted(outcome.status for outcome in outcomes) == ["done", "skipped"]
    item = actions.item(*entitlement_key(customer, subscription["id"]))
    assert item is not None
    assert item["active"] is False and item["status"] == "canceled" and item["source_event"] == deleted["id"]


def test_an_entitlement_is_never_replaced_by_an_older_state(actions: Actions, secret: str) -> None:
    created = fresh_event("customer.subscription.created")
    subscription = created["data"]["object"]
    deliver(created, secret)
    actions.run()
    item = actions.item(*entitlement_key(subscription["customer"], subscription["id"]))
    assert item is not None and item["active"] is True and item["until"] is not None

    later = fresh_event("customer.subscription.created", type="customer.subscription.updated")
    later["created"] = created["created"] + 30
    merge(later["data"]["object"], {"status": "past_due"})
    deliver(later, secret)
    assert actions.run()[0].status == "done"

    stale = actions.item(*entitlement_key(subscription["customer"], subscription["id"]))
    assert stale is not None and stale["status"] == "past_due" and stale["source_event"] == later["id"]


def test_a_dispute_alerts_people_once_with_the_evidence_due_date(actions: Actions, secret: str) -> None:
    event = fresh_event("charge.dispute.created")
    dispute = event["data"]["object"]["id"]

    deliver(event, secret)
    first = actions.run()
    resend_last_message(actions, "dispute_alert", event["id"])
    second = actions.run()

    assert actions.lines(first) == [
        f"action dispute_alert {dispute} done (alert sent, evidence due 2024-11-22 23:59 UTC)"
    ]
    assert actions.lines(second) == [f"action dispute_alert {dispute} skipped: already done"]
    alerts = drain(actions.aws.sqs, actions.alerts_queue_url)
    assert len(alerts) == 1
    notification = json.loads(alerts[0].body)
    assert notification["Subject"] == f"Stripe dispute opened: {dispute}, evidence due 2024-11-22 23:59 UTC"
    assert json.loads(notification["Message"])["evidence_due_by"] == 1732319999


def test_a_large_invoice_reaches_its_action_through_the_s3_pointer(actions: Actions, secret: str) -> None:
    event = large_invoice(400 * 1024, "invoice.paid")

    assert deliver(event, secret).status == 200
    outcomes = actions.run()

    invoice = event["data"]["object"]["id"]
    assert actions.lines(outcomes) == [
        f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)"
    ]


def test_a_poison_message_goes_to_the_dead_letter_queue_and_the_rest_of_its_batch_succeeds(
    actions: Actions, secret: str
) -> None:
    queue = actions.resources.queues["fulfil_order"]
    actions.aws.sqs.send_message(
        QueueUrl=queue.queue_url,
        MessageBody='{"id": "evt_forged", "type": "invoice.paid", "data": {"object": {}}}',
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "invoice.paid"}},
    )
    good = fresh_event("invoice.paid")
    deliver(good, secret)

    outcomes = actions.run(rounds=queue.max_receives + 3)

    poisoned = [outcome for outcome in outcomes if outcome.status == "poison"]
    assert len(poisoned) == queue.max_receives  # every receive refused it, then SQS moved it
    assert [outcome.status for outcome in outcomes if outcome.status != "poison"] == ["done"]
    dead = drain(actions.aws.sqs, queue.dead_letter_url)
    assert [json.loads(message.body)["id"] for message in dead] == ["evt_forged"]
    assert drain(actions.aws.sqs, queue.queue_url) == []
    assert len(actions.emails()) == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("[" * 100_000 + "]" * 100_000, "the body nests deeper than the parser reads"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "the body nests deeper than the parser reads"),
        ('{"id": "evt_x", "n": ' + "9" * 5_000 + "}", "the body is not JSON"),
    ],
    ids=["array nested 100,000 deep", "object nested 100,000 deep (an envelope?)", "a 5,000-digit number"],
)
def test_a_body_past_a_parser_limit_is_poison_with_an_outcome_on_every_receive(
    actions: Actions, body: str, why: str
) -> None:
    queue = actions.resources.queues["dispute_alert"]
    actions.aws.sqs.send_message(
        QueueUrl=queue.queue_url,
        MessageBody=body,
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "charge.dispute.created"}},
    )

    outcomes = actions.run(rounds=queue.max_receives + 3)

    assert [(outcome.status, outcome.detail) for outcome in outcomes] == [
        ("poison", why)
    ] * queue.max_receives
    assert len(drain(actions.aws.sqs, queue.dead_letter_url)) == 1


def test_an_action_that_raises_is_released_and_retried_then_runs_once(actions: Actions, secret: str) -> None:
    faults = FaultInjector({"ses.SendEmail": Fault("MessageRejected", 400, times=2)})
    faults.install(function_aws.session())
    event = fresh_event("invoice.paid")
    invoice = event["data"]["object"]["id"]

    deliver(event, secret)
    outcomes = actions.run()

    assert [outcome.status for outcome in outcomes] == ["failed", "failed", "done"]
    assert outcomes[0].detail == "MessageRejected"  # SES refused it: no email, the record released
    assert faults.attempts["ses.SendEmail"] == 3
    assert len(actions.emails()) == 1
    assert actions.item(*fulfilment_key(invoice)) is not None
    assert actions.effects()[f"fulfil_order#receipt:{invoice}"]["result"] == actions.emails()[0].id


def test_an_action_that_always_raises_ends_in_the_dead_letter_queue_with_its_record_released(
    actions: Actions, secret: str
) -> None:
    FaultInjector({"ses.SendEmail": Fault("MessageRejected", 400)}).install(function_aws.session())
    event = fresh_event("invoice.paid")
    queue = actions.resources.queues["fulfil_order"]

    deliver(event, secret)
    outcomes = actions.run(rounds=queue.max_receives + 3)

    assert [outcome.status for outcome in outcomes] == ["failed"] * queue.max_receives
    assert [message.json["id"] for message in drain(actions.aws.sqs, queue.dead_letter_url)] == [event["id"]]
    assert actions.idempotency_records() == []  # released: a redrive from the DLQ can run it
    assert actions.emails() == []


class ContainerKilled(BaseException):
    """Lambda ending the invocation at its timeout: no ``except Exception`` runs, nothing is cleaned."""


def test_an_interrupted_action_is_taken_over_once_its_invocation_would_have_timed_out(
    actions: Actions, secret: str
) -> None:
    faults = FaultInjector({"ses.SendEmail": Fault(raise_=ContainerKilled, times=1)})
    faults.install(function_aws.session())
    runner = actions.runners["fulfil_order"]
    runner.timeout_seconds = 2
    event = fresh_event("invoice.paid")
    invoice = event["data"]["object"]["id"]
    deliver(event, secret)

    with pytest.raises(ContainerKilled):
        runner.poll_once()
    (record,) = actions.idempotency_records()
    assert record["status"] == "INPROGRESS"
    assert record["in_progress_expiration"] <= (time.time() + 2) * 1000
    busy = actions.run("fulfil_order", rounds=1)  # redelivered before the deadline: not run twice
    time.sleep(2.1)
    after = actions.run("fulfil_order", rounds=1)

    assert actions.lines(busy) == [
        f"action fulfil_order {invoice} busy: another delivery is performing it; retried later"
    ]
    # The invocation died during SendEmail: nobody can tell whether SES sent it, so it is not sent again
    assert [outcome.status for outcome in after] == ["uncertain"]
    assert actions.effects()[f"fulfil_order#receipt:{invoice}"]["status"] == "ATTEMPTING"
    assert actions.emails() == []

    # A person checks (no email arrived), settles it as not sent, and the redrive sends it once
    assert actions.ledger.settle(f"fulfil_order#receipt:{invoice}", happened=False)
    resend_last_message(actions, "fulfil_order", event["id"])
    redriven = actions.run("fulfil_order")
    assert f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)" in actions.lines(redriven)
    assert len(actions.emails()) == 1


def test_the_idempotency_utility_and_the_effect_ledger_cost_their_documented_calls_per_message(
    actions: Actions, secret: str
) -> None:
    calls: list[str] = []
    ledger: list[str] = []

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        if params.get("TableName") == actions.resources.idempotency_table:
            key = params.get("Item") or params.get("Key") or {}
            entry = str(key.get("id", {}).get("S", "")).startswith("effect#")
            (ledger if entry else calls).append(event_name.rsplit(".", 1)[1])

    function_aws.session().get_component("event_emitter").register("provide-client-params.dynamodb.*", count)
    event = fresh_event("charge.dispute.created")
    deliver(event, secret)

    actions.run()
    new, new_ledger = list(calls), list(ledger)
    calls.clear()
    ledger.clear()
    resend_last_message(actions, "dispute_alert", event["id"])
    actions.run()

    assert new == ["PutItem", "UpdateItem"]  # INPROGRESS, then COMPLETED
    # the entry of before the keys were scoped by action (EffectLedger._legacy), ATTEMPTING before
    # the alert, DONE after it
    assert new_ledger == ["GetItem", "PutItem", "UpdateItem"]
    assert calls == ["PutItem"]  # refused, the stored result returned with the refusal
    assert ledger == []  # a duplicate never reaches the effect


def test_fifo_queues_fulfil_each_order_once(fifo_actions: Actions, secret: str) -> None:
    event = session_event("checkout.session.completed", "cs_test_fifo")

    deliver(event, secret)
    outcomes = fifo_actions.run()

    assert fifo_actions.lines(outcomes) == [
        "action fulfil_order cs_test_fifo done (email to jenny.rosen@example.com)"
    ]
    assert fifo_actions.resources.queues["fulfil_order"].queue_url.endswith(".fifo")


def test_each_action_writes_only_the_idempotency_keys_its_role_may_write(
    actions: Actions, secret: str
) -> None:
    """The role's ``dynamodb:LeadingKeys`` (infra/modules/action.yaml) and the keys the kit writes
    are one rule: running each action alone, every key it left in the shared idempotency table
    (Powertools' records and its effects) falls under its own patterns, none under another's."""
    import fnmatch

    from infra.template import action_instances, action_module

    statement = next(
        s
        for s in action_module()["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"][
            "Statement"
        ]
        if s["Sid"] == "IdempotencyRecords"
    )
    patterns = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    def allowed(name: str) -> list[str]:
        return [str(pattern["Fn::Sub"]).replace("${Name}", name) for pattern in patterns]

    for event in (
        fresh_event("checkout.session.completed"),
        fresh_event("customer.subscription.created"),
        fresh_event("charge.dispute.created"),
    ):
        assert deliver(event, secret).status == 200
    names = [instance.name for instance in action_instances().values()]
    table = actions.resources.idempotency_table
    before: set[str] = set()
    for name in names:
        actions.run(name)
        keys = {item["id"]["S"] for item in actions.aws.dynamodb.scan(TableName=table)["Items"]}
        written, before = keys - before, keys
        assert written, name  # each action left its records (and the first and last their effects)
        for key in written:
            owners = [other for other in names if any(fnmatch.fnmatchcase(key, p) for p in allowed(other))]
            assert owners == [name], (key, owners)
