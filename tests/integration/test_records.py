"""Domain records under moto: order-safe, duplicate-safe, queryable; and the consumer contract."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.versions import GENERATIONS, PRE_BASIL, shaped
from infra.local.resources import subscribe_queue
from infra.template import load_template
from stripe_webhook import composition
from tests.integration.conftest import Aws
from tests.support import all_items, deliver, drain

CUSTOMER = "cus_R9p2JgW7tYvN4c"
SEQUENCES: dict[str, tuple[list[str], str, dict[str, Any]]] = {
    "payment intent": (
        ["payment_intent.created", "payment_intent.processing", "payment_intent.succeeded"],
        "pi_3QJ7kLF2eZvKYlo21bVQh0rT",
        {"status": "succeeded", "amount_received": 4999},
    ),
    "failed then retried payment": (
        ["payment_intent.processing", "payment_intent.payment_failed", "payment_intent.succeeded"],
        "pi_3QJ7kLF2eZvKYlo21bVQh0rT",
        {"status": "succeeded"},
    ),
    "subscription": (
        ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"],
        "sub_1QJ8c1F2eZvKYlo2mT7xQ4Vb",
        {"status": "canceled", "deleted": True, "entitled": False},
    ),
    "dispute": (
        ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"],
        "du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq",
        {"status": "won"},
    ),
    "invoice": (
        ["invoice.created", "invoice.finalized", "invoice.paid"],
        "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu",
        {"status": "paid", "amount_paid": 1500},
    ),
    "async checkout": (
        ["checkout.session.completed", "checkout.session.async_payment_succeeded"],
        "cs_test_a1Xk9bQm3ZvKYlo2RfT8wLq0Hn4sC7dE2jP5yU6iO9",
        {"fulfilment_status": "paid", "may_fulfil": True},
    ),
    "charge and refund": (
        ["charge.succeeded", "charge.captured", "charge.refunded"],
        "ch_3QJ7kLF2eZvKYlo21W1r7yKx",
        {"refunded": True, "amount_refunded": 4999},
    ),
}


def _sequence(types: list[str], start: int, step: int) -> list[dict[str, Any]]:
    events = [fresh_event(name, created=start + index * step) for index, name in enumerate(types)]
    if types[0] == "checkout.session.completed":
        events[0]["data"]["object"]["payment_status"] = "unpaid"  # an async payment method
    return events


def _without_write_time(record: dict[str, Any] | None) -> dict[str, Any]:
    assert record is not None
    return {name: value for name, value in record.items() if name != "updated_at"}


def _clear(aws: Aws) -> None:
    for item in aws.dynamodb.scan(TableName=aws.table, ProjectionExpression="pk, sk")["Items"]:
        aws.dynamodb.delete_item(TableName=aws.table, Key=item)
    drain(aws.sqs, aws.queue_url)


@pytest.mark.parametrize("step", [0, 1], ids=["same second", "one second apart"])
@pytest.mark.parametrize("name", list(SEQUENCES))
def test_every_arrival_order_ends_in_the_same_record(aws: Aws, secret: str, name: str, step: int) -> None:
    types, object_id, expected = SEQUENCES[name]
    events = _sequence(types, int(time.time()) - 100, step)
    finals = []
    for order in itertools.permutations(events):
        _clear(aws)
        for event in order:
            assert deliver(event, secret).status == 200
        assert len(drain(aws.sqs, aws.queue_url)) == len(events)  # every event still reaches consumers
        finals.append(_without_write_time(aws.queries.get_record(object_id)))

    assert all(final == finals[0] for final in finals)
    assert {field: finals[0].get(field) for field in expected} == expected
    assert finals[0]["last_event_id"] == events[-1]["id"]


def test_deleted_object_stays_deleted_when_a_late_update_arrives(aws: Aws, secret: str) -> None:
    now = int(time.time())
    deleted = fresh_event("customer.deleted", created=now - 60)
    late_update = fresh_event("customer.updated", created=now - 10)  # even one stamped later

    assert deliver(deleted, secret).status == 200
    response = deliver(late_update, secret)

    assert response.status == 200
    assert response.body["records_stale"] == 1
    customer = aws.queries.get_record(CUSTOMER)
    assert customer is not None and customer["deleted"] is True
    assert customer["name"] == "Jenny Rosen"
    assert customer["last_event_id"] == deleted["id"]


def test_two_events_for_one_change_leave_one_correct_record(aws: Aws, secret: str) -> None:
    created = int(time.time()) - 30
    paid = fresh_event("invoice.paid", created=created)
    succeeded = fresh_event("invoice.payment_succeeded", created=created)
    completed_twice = [fresh_event("checkout.session.completed", created=created) for _ in range(2)]

    for event in (succeeded, paid, *completed_twice):
        assert deliver(event, secret).status == 200

    invoice = aws.queries.get_record("in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu")
    assert invoice is not None
    assert (invoice["status"], invoice["amount_paid"], invoice["paid_at"]) == ("paid", 1500, 1731415001)
    records = [item for item in all_items(aws.dynamodb, aws.table) if item["sk"] == "STATE"]
    assert sorted(item["object_type"] for item in records) == ["checkout.session", "invoice"]
    checkout = next(item for item in records if item["object_type"] == "checkout.session")
    assert checkout["fulfilment_status"] == "paid"
    assert checkout["last_event_id"] == max(event["id"] for event in completed_twice)


def test_a_customers_records_are_listed_by_type(aws: Aws, secret: str) -> None:
    for name in (
        "customer.created",
        "payment_method.attached",
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.completed",
        "customer.subscription.created",
        "invoice.paid",
        "refund.created",
        "payout.paid",
    ):
        assert deliver(fresh_event(name), secret).status == 200

    everything = aws.queries.customer_records(CUSTOMER)
    invoices = aws.queries.customer_records(CUSTOMER, "invoice")
    payments = aws.queries.customer_records(CUSTOMER, "payment_intent")

    assert sorted(record["object_type"] for record in everything) == [
        "charge",
        "checkout.session",
        "customer",
        "invoice",
        "payment_intent",
        "payment_method",
        "subscription",
    ]
    assert [record["object_id"] for record in invoices] == ["in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"]
    assert [record["status"] for record in payments] == ["succeeded"]
    assert aws.queries.get_record("po_1QJCzzF2eZvKYlo2Bn4Mv6Cx")["status"] == "paid"  # type: ignore[index]


def test_detached_payment_method_leaves_the_customer_listing(aws: Aws, secret: str) -> None:
    now = int(time.time())
    deliver(fresh_event("payment_method.attached", created=now - 20), secret)
    deliver(fresh_event("payment_method.detached", created=now - 10), secret)

    assert aws.queries.customer_records(CUSTOMER, "payment_method") == []
    method = aws.queries.get_record("pm_1QJ7kKF2eZvKYlo2c8yQ3m9s")
    assert method is not None and method["attached"] is False


def test_events_of_one_type_in_a_time_range(aws: Aws, secret: str) -> None:
    day = 86_400
    base = (int(time.time()) // day - 3) * day + 3_600
    # Two days of invoice.paid and one other type, delivered as backfilled history would be
    store = composition.components().store

    sent = [
        fresh_event("invoice.paid", created=base),
        fresh_event("invoice.paid", created=base + day),
        fresh_event("invoice.created", created=base + 10),
    ]
    for event in sent:
        claimed_and_marked(store, event)

    both = aws.queries.events_by_type("invoice.paid", base - 10, base + day + 10)
    first_day = aws.queries.events_by_type("invoice.paid", base - 10, base + 10)

    assert [event["event_id"] for event in both] == [sent[0]["id"], sent[1]["id"]]
    assert [event["event_id"] for event in first_day] == [sent[0]["id"]]
    assert aws.queries.events_by_type("invoice.paid", base + 20, base + 30) == []


def claimed_and_marked(store: Any, event: dict[str, Any]) -> None:
    """Stored as the pipeline leaves a published event: the mark indexes it by type."""
    from stripe_webhook.core.events import parse_event

    parsed = parse_event(encode(event))
    claim = store.claim(parsed, [], None, time.time())
    assert store.mark_published(parsed, claim.token, "message-id", time.time())


def test_a_busy_type_is_spread_over_shards_and_read_back_whole_and_in_order(aws: Aws) -> None:
    from stripe_webhook.adapters import schema

    store = composition.components().store
    base = (int(time.time()) // 86_400 - 1) * 86_400 + 3_600
    sent = [fresh_event("invoice.paid", created=base + second) for second in range(40)]
    for event in reversed(sent):
        claimed_and_marked(store, event)
    # An entry written before sharding (unsharded key, the sort key with the event id) is found too
    legacy = fresh_event("invoice.paid", created=base + 100)
    claimed_and_marked(store, legacy)
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key=schema.event_key(legacy["id"]),
        UpdateExpression="SET type_day = :unsharded, created_event = :with_id, event_id = :id",
        ExpressionAttributeValues={
            ":unsharded": {"S": schema.type_day_key("invoice.paid", base, None)},
            ":with_id": {"S": f"{base + 100:012d}#{legacy['id']}"},
            ":id": {"S": legacy["id"]},
        },
    )

    found = aws.queries.events_by_type("invoice.paid", base, base + 200)

    keys = {item["type_day"] for item in all_items(aws.dynamodb, aws.table) if item["sk"] == "EVENT"}
    assert len(keys) > schema.TYPE_SHARDS // 2  # 40 events over 8 shards, and the legacy key
    assert [entry["event_id"] for entry in found] == [event["id"] for event in [*sent, legacy]]


def test_template_example_consumer_filter_receives_exactly_invoices_and_subscriptions(
    aws: Aws, secret: str
) -> None:
    consumer = load_template()["Resources"]["ExampleConsumer"]["Properties"]["Parameters"]
    queue = subscribe_queue(
        aws.sns, aws.sqs, aws.topic_arn, "example-consumer", json.loads(consumer["FilterPolicy"])
    )
    sent = {
        name: fresh_event(name)
        for name in (
            "invoice.paid",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "customer.created",
            "payment_intent.succeeded",
            "charge.dispute.created",
            "product.created",
        )
    }

    for event in sent.values():
        assert deliver(event, secret).status == 200

    received = sorted(message.attributes["event_type"] for message in drain(aws.sqs, queue))
    assert received == ["customer.subscription.updated", "invoice.paid", "invoice.payment_failed"]


INVOICE_ID, PAYMENT_ID = "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu", "pi_3QJ8c2F2eZvKYlo20Zb1Yc3D"


@pytest.mark.parametrize("version", GENERATIONS)
@pytest.mark.parametrize("order", ["invoice first", "payment first"])
def test_an_invoice_and_its_payment_carry_each_other_s_ids_on_every_api_version(
    aws: Aws, secret: str, version: str, order: str
) -> None:
    # Before basil the invoice names its PaymentIntent and the PaymentIntent its invoice; since
    # basil neither does, and invoice_payment.paid links them
    intent = fresh_event("payment_intent.succeeded")
    intent["data"]["object"].update(id=PAYMENT_ID, invoice=INVOICE_ID)
    events = [shaped(fresh_event("invoice.paid"), version), shaped(intent, version)]
    if version != PRE_BASIL:
        events.insert(1, shaped(fresh_event("invoice_payment.paid"), version))
        assert "payment_intent" not in events[0]["data"]["object"]
        assert "invoice" not in events[-1]["data"]["object"]
    if order == "payment first":
        events.reverse()

    for event in events:
        assert deliver(event, secret).status == 200

    invoice, payment = aws.queries.get_record(INVOICE_ID), aws.queries.get_record(PAYMENT_ID)
    assert invoice is not None and invoice["payment_intent"] == PAYMENT_ID and invoice["status"] == "paid"
    assert payment is not None and payment["invoice"] == INVOICE_ID and payment["status"] == "succeeded"
