"""Whether a body goes to S3: the quick answer for a body far under SNS's limit is the exact one."""

from __future__ import annotations

import dataclasses

import pytest

from contract import POSSIBLE_DUPLICATE
from stripe_webhook.adapters.publisher import (
    ATTRIBUTE_BOUND_BYTES,
    ATTRIBUTE_HEADROOM_BYTES,
    SNS_MAX_MESSAGE_BYTES,
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
