"""Whether a body goes to S3 (the quick answer for a body far under SNS's limit is the exact one),
and when a message has room for the record its delivery wrote."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import contract
from contract import (
    EXTENDED_PAYLOAD_SIZE,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_RECORD_BYTES,
    POSSIBLE_DUPLICATE,
    RECORD,
)
from stripe_webhook.adapters.publisher import (
    ATTRIBUTE_BOUND_BYTES,
    ATTRIBUTE_HEADROOM_BYTES,
    SNS_MAX_MESSAGE_BYTES,
    add_record,
    attribute_bytes,
    message_attributes,
    needs_offload,
)
from stripe_webhook.core.events import StripeEvent


def largest(raw: bytes) -> StripeEvent:
    """An event whose attributes are as long as the parser lets them be, and every flag set."""
    return StripeEvent(
        "evt_" + "x" * 251,
        ".".join(["a" * 63] * 4),
        1_700_000_000,
        True,
        "2025-03-31.basil",
        "acct_" + "y" * 250,
        {"id": "obj", "object": "o" * 100},
        raw,
        thin=True,
        reconciliation=True,
    )


def test_no_event_has_attributes_past_the_bound() -> None:
    attributes = message_attributes(largest(b"{}"), {**POSSIBLE_DUPLICATE, "redrive": "true"})
    assert attribute_bytes(attributes) < ATTRIBUTE_BOUND_BYTES


@pytest.mark.parametrize("margin", [-1, 0, 1, 5000])
def test_the_quick_answer_agrees_with_the_exact_one_around_the_limit(margin: int) -> None:
    event = largest(b"")
    exact_room = SNS_MAX_MESSAGE_BYTES - attribute_bytes(message_attributes(event)) - ATTRIBUTE_HEADROOM_BYTES
    sized = dataclasses.replace(event, raw=b"x" * (exact_room + margin))
    assert needs_offload(sized) is (margin > 0)


RECORD_OF = {"pk": "OBJECT#sub_1", "sk": "STATE", "status": "active", "last_event_id": "evt_1"}


def plain() -> StripeEvent:
    return dataclasses.replace(largest(b"{}"), account=None, thin=False, reconciliation=False)


def with_record(attributes: dict[str, dict[str, str]], record: Any, body_bytes: int = 2) -> bool:
    add_record(attributes, body_bytes, record)
    return RECORD in attributes


def test_a_record_rides_as_json_the_contract_accepts_where_it_fits() -> None:
    attributes = message_attributes(plain())
    assert with_record(attributes, RECORD_OF)
    assert json.loads(attributes[RECORD]["StringValue"]) == RECORD_OF
    sent = {name: value["StringValue"] for name, value in attributes.items()}
    contract.validate({"attributes": sent, "body": {"id": "evt_1", "type": "t", "data": {"object": {}}}})


@pytest.mark.parametrize(
    "case",
    [
        "ten attributes already",
        "a pointer body",
        "a record past the bound",
        "no room in the message",
        "not JSON",
    ],
)
def test_a_record_is_left_out_where_it_does_not_fit(case: str) -> None:
    if case == "ten attributes already":  # an account's thin, reconciled event, sent again
        attributes = message_attributes(largest(b"{}"), {**POSSIBLE_DUPLICATE, "redrive": "true"})
        assert len(attributes) == MAX_MESSAGE_ATTRIBUTES
    else:
        attributes = message_attributes(plain())
    if case == "a pointer body":
        attributes[EXTENDED_PAYLOAD_SIZE] = {"DataType": "Number", "StringValue": "300000"}
    record: Any = RECORD_OF
    if case == "a record past the bound":
        record = {**RECORD_OF, "note": "x" * MAX_RECORD_BYTES}
    if case == "not JSON":
        record = {**RECORD_OF, "amount": float("nan")}
    body = SNS_MAX_MESSAGE_BYTES - attribute_bytes(attributes) - 20 if case == "no room in the message" else 2
    assert not with_record(attributes, record, body)


def test_the_schema_bounds_the_record_as_the_publisher_does() -> None:
    schema = json.loads(contract.SCHEMA_PATH.read_text())
    assert schema["$defs"]["attributes"]["properties"][RECORD]["maxLength"] == MAX_RECORD_BYTES
