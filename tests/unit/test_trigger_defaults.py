"""``make trigger`` sends what a production endpoint on the stack's pinned version receives."""

from __future__ import annotations

from infra.fixtures.versions import PRE_BASIL
from infra.local import trigger
from infra.local.trigger_events import build_events
from stripe_webhook.settings import API_VERSION


def test_events_are_shaped_as_the_pinned_api_version_by_default() -> None:
    events = build_events(trigger.parse_args(["--flow", "checkout"]))

    assert events and {event["api_version"] for event in events} == {API_VERSION}


def test_an_older_version_is_asked_for() -> None:
    (event,) = build_events(trigger.parse_args(["invoice.paid", "--api-version", PRE_BASIL]))

    assert event["api_version"] == PRE_BASIL
    assert "payment_intent" in event["data"]["object"] or "charge" in event["data"]["object"]
