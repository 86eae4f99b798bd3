"""What the reconciler keeps between runs (one item, ``ledger``): each sweep's window and cursor,
an endpoint gap, what is retried, named and recovered. Bounded, whatever Stripe returns: at most
``MAX_RETRIES`` retried events (the sweeps wait while that is full), the newest ``KEEP_NAMED``
named and recovered, and ``MAX_STATE_BYTES`` in all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stripe_webhook.recovery.reconciliation import EVENTS_API_WINDOW_DAYS

if TYPE_CHECKING:
    from stripe_webhook.recovery.reconciliation import Limits, Report, Verdict

MAX_EVENT_ATTEMPTS = 5
"""Runs that try a failing event before it is named and given up (one per run)."""
KEEP_NAMED = 200
"""How many skipped or given-up events the state keeps, newest last (each one is logged too)."""
MAX_RETRIES = 100
"""How many failing events the state retries at once; while it is full the sweeps wait."""
MAX_REASON_CHARS = 200
MAX_STATE_BYTES = 64_000
"""The state item's bound (DynamoDB's is 400 KB): what Stripe returns cannot grow it past this."""


@dataclass
class Sweep:
    """One walk through Stripe's events, window by window, resumable after any page."""

    watermark: int | None = None
    """Every event created before it has been listed (and processed or named)."""
    window: tuple[int, int] | None = None
    """The window being walked: created ``since`` .. ``until``."""
    cursor: str | None = None
    """Where the walk goes on: the last event processed (v1, ``starting_after``), or the next
    page's URL (thin, ``next_page_url``); None to start the window."""
    cursor_created: int | None = None
    resume_at: int | None = None
    """Set when Stripe no longer knew the cursor: the window is listed again up to this second."""
    failing_runs: int = 0
    """Runs in a row whose walk Stripe refused (a thin list a key cannot read: alarmed)."""

    def begin(self, window: tuple[int, int]) -> None:
        self.window, self.cursor, self.cursor_created, self.resume_at = window, None, None, None

    def finish(self) -> None:
        assert self.window is not None
        self.watermark = self.window[1]
        self.window, self.cursor, self.cursor_created, self.resume_at = None, None, None, None

    def as_item(self) -> dict[str, Any]:
        return {**self.__dict__, "window": list(self.window) if self.window else None}

    @classmethod
    def from_item(cls, value: Any) -> Sweep:
        if not isinstance(value, dict):
            return cls()
        known = {name: value[name] for name in cls.__dataclass_fields__ if name in value}
        window = value.get("window")
        known["window"] = (int(window[0]), int(window[1])) if window else None
        return cls(**known)


SWEEPS = ("undelivered", "complete", "thin")
"""The walks a run makes, in this order, each with its own window and cursor, so one that Stripe
refuses never holds the others back:

    undelivered  ``GET /v1/events?delivery_success=false``: every run, from its watermark
    complete     ``GET /v1/events`` (no delivery filter), each event checked against the log in
                 batches: while an endpoint is disabled or missing and over the gap once it is
                 back, and daily over the last day (``Limits.complete_every_seconds``)
    thin         ``GET /v2/core/events`` (no delivery filter): when the stack takes thin events"""


@dataclass
class State:
    """What the reconciler keeps between runs (one item, ``ledger``), bounded: ``MAX_STATE_BYTES``."""

    sweeps: dict[str, Sweep] = field(default_factory=lambda: {name: Sweep() for name in SWEEPS})
    gap: tuple[int, int | None] | None = None
    """When an endpoint was last seen enabled before it was found disabled or missing, and when it
    was found back (None while it is not): the complete sweep lists every event of the gap."""
    retries: dict[str, int] = field(default_factory=dict)
    """Event id → failed runs so far (at most ``MAX_RETRIES``: the sweeps wait while it is full)."""
    named: dict[str, str] = field(default_factory=dict)
    """Event id → why it was skipped or given up."""
    recovered: dict[str, int] = field(default_factory=dict)
    """Event id → the run that recovered it (its start), the newest ``KEEP_NAMED`` (the console's)."""
    endpoints: dict[str, str] = field(default_factory=dict)
    """Endpoint id → its status at the last run (``enabled``, ``disabled``, ``missing``, ``unknown``)."""
    last_run: int | None = None
    last_complete: int | None = None
    """When the complete sweep last finished a window."""

    @property
    def watermark(self) -> int | None:
        """Every undelivered event created before it has been processed (or named): the lag's base."""
        return self.sweeps["undelivered"].watermark

    def next_window(
        self, sweep: Sweep, now: int, limits: Limits, first_endpoint: int | None
    ) -> tuple[int, int]:
        """From the sweep's watermark less the overlap (the first run: from the oldest recorded
        endpoint's creation, nothing before it was the stack's) to ``now`` less the grace, within
        30 days."""
        until = now - limits.grace_seconds
        if sweep.watermark is not None:
            since = sweep.watermark - limits.overlap_seconds
        elif first_endpoint:
            since = first_endpoint
        else:
            since = until - limits.overlap_seconds
        return max(since, now - EVENTS_API_WINDOW_DAYS * 86_400), min(max(since, until), now)

    def complete_window(self, now: int, limits: Limits) -> tuple[int, int] | None:
        """The complete sweep's next window, or None when none is due: over a gap (from before it
        began, until it has been listed past its end), else once every ``complete_every_seconds``
        over the time since the last one (the first: the last day)."""
        sweep = self.sweeps["complete"]
        until = now - limits.grace_seconds
        if self.gap is not None:
            start = self.gap[0] - limits.overlap_seconds
            since = start if sweep.watermark is None else min(sweep.watermark - limits.overlap_seconds, start)
        elif self.last_complete is None or now - self.last_complete >= limits.complete_every_seconds:
            since = until - limits.complete_every_seconds
            if sweep.watermark is not None:
                since = min(since, sweep.watermark - limits.overlap_seconds)
        else:
            return None
        return max(since, now - EVENTS_API_WINDOW_DAYS * 86_400), until

    def track_gap(self, now: int, disabled: bool) -> None:
        """Open a gap when an endpoint is first found disabled or missing (from the last run, when
        it was last seen enabled); close it when all are back; forget it once listed past its end."""
        if disabled:
            self.gap = (self.gap[0] if self.gap else (self.last_run or now), None)
        elif self.gap is not None and self.gap[1] is None:
            self.gap = (self.gap[0], now)
        watermark = self.sweeps["complete"].watermark
        if self.gap is not None and self.gap[1] is not None and (watermark or 0) >= self.gap[1]:
            self.gap = None

    @property
    def backlogged(self) -> bool:
        """The retries are full: the sweeps wait (their cursors hold) until some are settled."""
        return len(self.retries) >= MAX_RETRIES

    def settle(self, verdict: Verdict, event_id: str, report: Report) -> None:
        """Count what became of an event, and keep what a later run must know."""
        if verdict.kind == "skipped":
            self.name(report, event_id, verdict.reason)
            return
        if verdict.kind == "failed":
            self.failed(report, event_id, verdict.reason)
            return
        self.retries.pop(event_id, None)
        if verdict.kind == "recovered" and verdict.outcome is not None:
            report.recovered.append(verdict.outcome.event_id)
            _keep(self.recovered, verdict.outcome.event_id, self.last_run or 0)
        elif verdict.kind == "known":
            report.known += 1
        else:
            report.in_progress += 1

    def failed(self, report: Report, event_id: str, code: str) -> None:
        """Tried again by the next runs, then named (``MAX_EVENT_ATTEMPTS``)."""
        attempts = self.retries.get(event_id, 0) + 1
        report.failed.append(event_id)
        if attempts >= MAX_EVENT_ATTEMPTS:
            self.name(report, event_id, f"failed {attempts} runs in a row ({code})")
        else:
            self.retries[event_id] = attempts

    def name(self, report: Report, event_id: str, reason: str) -> None:
        """Not processed, with the reason: once (the overlap lists it again), the newest kept."""
        self.retries.pop(event_id, None)
        if event_id in self.named:
            return
        reason = reason[:MAX_REASON_CHARS]
        report.skipped[event_id] = reason
        _keep(self.named, event_id, reason)

    def as_item(self) -> dict[str, Any]:
        """The state as saved: within ``MAX_STATE_BYTES``, dropping the oldest named and recovered
        events first (each was logged when it happened); what is retried is never dropped."""
        while True:
            item = {
                **self.__dict__,
                "sweeps": {name: sweep.as_item() for name, sweep in self.sweeps.items()},
                "gap": list(self.gap) if self.gap else None,
            }
            if len(json.dumps(item, separators=(",", ":"))) <= MAX_STATE_BYTES:
                return item
            trimmed = self.named if len(self.named) >= len(self.recovered) else self.recovered
            if not trimmed:
                return item  # only retries and cursors: bounded by MAX_RETRIES and the id rules
            trimmed.pop(next(iter(trimmed)))

    @classmethod
    def from_item(cls, value: dict[str, Any]) -> State:
        plain = ("retries", "named", "recovered", "endpoints", "last_run", "last_complete")
        known = {name: value[name] for name in plain if name in value}
        sweeps = value.get("sweeps")
        if isinstance(sweeps, dict):
            known["sweeps"] = {name: Sweep.from_item(sweeps.get(name)) for name in SWEEPS}
        else:  # saved before the sweeps (2026-12): one window, the thin list inside it
            undelivered = Sweep.from_item(value)
            thin = Sweep(undelivered.watermark)
            if undelivered.window is not None and not value.get("thin_done"):
                thin.window, thin.cursor = undelivered.window, value.get("thin_page")
            known["sweeps"] = {"undelivered": undelivered, "complete": Sweep(), "thin": thin}
        gap = value.get("gap")
        known["gap"] = (int(gap[0]), None if gap[1] is None else int(gap[1])) if gap else None
        return cls(**known)


def _keep(newest: dict[str, Any], event_id: str, value: Any) -> None:
    """Add ``event_id`` last, and drop the oldest beyond ``KEEP_NAMED``."""
    newest[event_id] = value
    while len(newest) > KEEP_NAMED:
        newest.pop(next(iter(newest)))
