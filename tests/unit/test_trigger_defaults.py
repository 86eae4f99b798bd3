"""``make trigger`` sends what a production endpoint on the stack's pinned version receives."""

from __future__ import annotations

import re
import time

import pytest

from infra.fixtures.flows import FLOWS, flow_events
from infra.fixtures.payloads import TIMESTAMPS, available_events, load_event, with_current_times
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


def _times(value: object, key: str = "") -> list[tuple[str, int]]:
    if isinstance(value, dict):
        return [found for name, inner in value.items() for found in _times(inner, name)]
    if isinstance(value, list):
        return [found for inner in value for found in _times(inner, key)]
    if isinstance(value, int) and not isinstance(value, bool) and value in TIMESTAMPS:
        return [(key, value)]
    return []


PAST = re.compile(r"(?:^|_)(?:created|updated|start|start_date)$|_at$")
"""What has happened by the time of its event (``cancel_at``, a scheduled end, is not)."""


@pytest.mark.parametrize("event_type", sorted(available_events()))
def test_every_triggered_event_reads_as_today(event_type: str) -> None:
    now = int(time.time())
    (event,) = with_current_times([load_event(event_type)], now)

    for key, value in _times(event["data"]["object"]):
        assert value > now - 400 * 86_400, f"{key} is in {time.gmtime(value).tm_year}"
        if PAST.search(key) and key not in ("cancel_at", "expires_at"):
            assert value <= now + 5, f"{key} is {(value - now) / 3600:.0f} h after the event"


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_flow_reads_as_today_in_its_order(flow: str) -> None:
    now = int(time.time())
    events = with_current_times(flow_events(flow, now=now), now)

    for event in events:
        for key, value in _times(event["data"]["object"]):
            assert value > now - 400 * 86_400, f"{event['type']}: {key} is in {time.gmtime(value).tm_year}"
            if PAST.search(key) and key not in ("cancel_at", "expires_at"):
                assert value <= now + 5, f"{event['type']}: {key} is {(value - now) / 3600:.0f} h ahead"
