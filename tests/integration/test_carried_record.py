"""The record a message carries (``contract.RECORD``) is the one its delivery stored, or none.

A write action commits on it while the stored record is still that one (``stripe_actions.handled``),
so what the message says must be exactly what a read of the table returns, for every shape a
handler writes, and a delivery that did not write its object's record whole must send none.
"""

from __future__ import annotations

import json
from typing import Any

from contract import RECORD
from contract.records import UNCERTAIN, object_key
from infra.fixtures.payloads import available_events, fresh_event, merge
from stripe_actions.items import from_item
from stripe_webhook.handlers import build_registry
from tests.integration.conftest import Aws
from tests.support import deliver, drain


def stored_record(aws: Aws, object_id: str) -> dict[str, Any] | None:
    """The object's record as a consumer reads it (``stripe_actions.items``)."""
    pk, sk = object_key(object_id)
    item = aws.dynamodb.get_item(
        TableName=aws.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    ).get("Item")
    return from_item(item) if item else None


def test_every_handled_type_carries_the_record_it_wrote(aws: Aws, secret: str) -> None:
    registry = build_registry()
    carried = []
    for event_type in available_events():
        event = fresh_event(event_type)
        object_id = event["data"]["object"].get("id")
        assert deliver(event, secret).status == 200, event_type
        (message,) = drain(aws.sqs, aws.queue_url)
        stored = stored_record(aws, object_id) if isinstance(object_id, str) else None
        wrote = stored is not None and stored["last_event_id"] == event["id"] and UNCERTAIN not in stored
        if not wrote:
            assert RECORD not in message.attributes, event_type
            continue
        assert json.loads(message.attributes[RECORD]) == stored, event_type
        carried.append(event_type)
    families = {route.family for name in carried if (route := registry.resolve(name)) is not None}
    every = {route.family for name in available_events() if (route := registry.resolve(name)) is not None}
    assert families == every, every - families  # a shape of every handler family went through


def test_an_event_older_than_the_stored_record_carries_none(aws: Aws, secret: str) -> None:
    newer = fresh_event("customer.subscription.updated")
    older = fresh_event("customer.subscription.updated", created=newer["created"] - 60)
    older["data"]["object"]["id"] = newer["data"]["object"]["id"]
    merge(older["data"]["object"], {"status": "past_due"})
    assert deliver(newer, secret).status == 200
    assert deliver(older, secret).status == 200

    first, second = drain(aws.sqs, aws.queue_url)

    assert RECORD in first.attributes and RECORD not in second.attributes
    stored = stored_record(aws, newer["data"]["object"]["id"])
    assert stored is not None and stored["last_event_id"] == newer["id"]


def test_a_pointer_message_carries_no_record(aws: Aws, secret: str) -> None:
    event = fresh_event("customer.subscription.updated")
    event["data"]["object"]["metadata"] = {f"k{n}": "x" * 500 for n in range(50)}  # Stripe's metadata cap
    event["data"]["object"]["description"] = "y" * 240_000

    assert deliver(event, secret).status == 200
    (message,) = drain(aws.sqs, aws.queue_url)

    assert "ExtendedPayloadSize" in message.attributes and RECORD not in message.attributes
