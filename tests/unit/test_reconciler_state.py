"""The reconciler's state on its own: read from what earlier releases saved, bounded whatever it is
given, and the complete sweep's windows (a gap, the daily check)."""

from __future__ import annotations

import json

from stripe_webhook.recovery.reconciler_state import MAX_STATE_BYTES, State, Sweep
from stripe_webhook.recovery.reconciliation import Limits, Report

NOW = 1_800_000_000
LIMITS = Limits(overlap_seconds=600, grace_seconds=300)


def test_a_state_saved_before_the_sweeps_resumes_its_window_and_its_thin_page() -> None:
    saved = {
        "watermark": NOW - 3_600,
        "window": [NOW - 4_200, NOW - 300],
        "cursor": "evt_1",
        "cursor_created": NOW - 1_000,
        "resume_at": None,
        "thin_page": "/v2/core/events?page=abc",
        "thin_done": False,
        "retries": {"evt_2": 1},
        "named": {},
        "recovered": {},
        "endpoints": {},
        "last_run": NOW - 300,
    }

    state = State.from_item(saved)

    assert state.sweeps["undelivered"] == Sweep(NOW - 3_600, (NOW - 4_200, NOW - 300), "evt_1", NOW - 1_000)
    assert state.sweeps["thin"].window == (NOW - 4_200, NOW - 300)
    assert state.sweeps["thin"].cursor == "/v2/core/events?page=abc"
    assert state.sweeps["complete"] == Sweep() and state.retries == {"evt_2": 1}
    assert State.from_item(json.loads(json.dumps(state.as_item()))) == state


def test_the_saved_state_stays_within_its_bound_dropping_the_oldest_named_first() -> None:
    state, report = State(), Report()
    for number in range(2_000):
        state.name(report, f"evt_{number:04d}" + "x" * 250, "r" * 1_000)
        state.recovered[f"evt_r{number:04d}" + "y" * 240] = NOW

    item = state.as_item()

    assert len(json.dumps(item, separators=(",", ":"))) <= MAX_STATE_BYTES
    assert all(len(reason) <= 200 for reason in item["named"].values())
    assert list(item["named"])[-1].startswith("evt_1999")  # the newest kept


def test_the_complete_sweep_is_due_daily_and_over_a_gap_until_it_is_listed_past_its_end() -> None:
    state = State(last_complete=NOW - 3_600)
    assert state.complete_window(NOW, LIMITS) is None  # checked an hour ago

    state.last_run = NOW - 300
    state.track_gap(NOW, disabled=True)  # found disabled: the gap began at the last look
    opened = state.gap
    assert opened == (NOW - 300, None)
    assert state.complete_window(NOW, LIMITS) == (NOW - 900, NOW - 300)

    state.track_gap(NOW + 600, disabled=False)  # back
    closed: object = state.gap
    assert closed == (NOW - 300, NOW + 600)
    state.sweeps["complete"].watermark = NOW + 600
    state.track_gap(NOW + 900, disabled=False)
    assert state.gap is None

    state.last_complete = NOW - 86_400
    assert state.complete_window(NOW, LIMITS) == (NOW - 300 - 86_400, NOW - 300)
