from __future__ import annotations

import json

import pytest

from infra.fixtures.payloads import encode, fresh_event, load_event, thin_notification
from stripe_webhook.core.events import parse_event, parse_stored_event, parse_thin_event
from stripe_webhook.errors import InvalidPayload


def test_parses_the_fields_later_steps_need() -> None:
    event = parse_event(encode(load_event("payment_intent.succeeded")))

    assert event.id == "evt_3QJ7kLF2eZvKYlo21ZqYb1Xa"
    assert event.type == "payment_intent.succeeded"
    assert event.created == 1731412345
    assert event.livemode is False
    assert event.api_version == "2024-06-20"
    assert event.account is None
    assert event.object_type == "payment_intent"
    assert event.object_id == "pi_3QJ7kLF2eZvKYlo21bVQh0rT"


def test_object_without_an_id_still_parses() -> None:
    event = parse_event(encode(load_event("balance.available")))
    assert event.object_type == "balance"
    assert event.object_id is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"evt_1"',
        b"\xff\xfe",
        b"{",
        json.dumps({"id": "evt_1"}).encode(),
        json.dumps({"id": "", "type": "x"}).encode(),
        json.dumps({"id": "evt_1", "type": ["x"]}).encode(),
        json.dumps({"id": "e" * 300, "type": "x"}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "created": "yesterday"}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "created": True}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "object": "v2.core.event"}).encode(),
        json.dumps({"id": "ch_1", "type": "x", "object": "charge"}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "created": 1, "data": {}}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "created": 1, "data": {"object": []}}).encode(),
        # signed by Stripe's scheme but absurd: gmtime overflows, the parser's recursion limit
        json.dumps({"id": "evt_1", "type": "x", "created": 10**18, "data": {"object": {}}}).encode(),
        json.dumps({"id": "evt_1", "type": "x", "created": -1, "data": {"object": {}}}).encode(),
        b'{"id": "evt_1", "type": "x", "data": {"object": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    ],
    ids=lambda body: body[:60].decode("utf-8", "replace"),
)
def test_rejects_anything_that_is_not_a_v1_event(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        parse_event(body)


@pytest.mark.parametrize("created", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2024-13-01T00:00:00Z"])
def test_rejects_a_thin_event_created_out_of_range(created: str) -> None:
    notification = {
        "id": "evt_test_65R9",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": created,
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters/mtr_1"},
    }
    with pytest.raises(InvalidPayload):
        parse_thin_event(json.dumps(notification).encode())


def test_a_stored_body_is_read_as_the_kind_of_event_it_is() -> None:
    snapshot = fresh_event("invoice.paid")
    notification = thin_notification()

    assert parse_stored_event(encode(snapshot)).thin is False
    stored_thin = parse_stored_event(json.dumps(notification).encode())
    assert stored_thin.thin is True and stored_thin.id == notification["id"]
    with pytest.raises(InvalidPayload):
        parse_stored_event(b'{"object": "v2.core.event"}')
