"""What the reconciler (``reconciler.py``) speaks: its state between runs, the stack's endpoints,
what a run did, and the rule for events rendered in an API version the handlers do not read.

The ledger (``ledger.py``) keeps ``State`` and the ``Endpoint`` list in the events table; ``ops``
reads them back for ``status`` and writes the endpoints at ``register``.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from contract import matches
from stripe_webhook.events import API_VERSION as API_VERSION_PATTERN
from stripe_webhook.events import EVENT_ID, EVENT_TYPE, MAX_CREATED, is_id
from stripe_webhook.settings import OLDEST_READ

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from stripe_webhook.pipeline import EventOutcome

EVENTS_API_WINDOW_DAYS = 30
"""How long Stripe's Events API keeps an event (it lists the last 30 days)."""
MAX_EVENT_ATTEMPTS = 5
"""Runs that try a failing event before it is named and given up (one per run)."""
KEEP_NAMED = 200
"""How many skipped or given-up events the state keeps, newest last (each one is logged too)."""
MAX_RETRIES = 100
"""How many failing events the state retries at once; while it is full the sweeps wait."""
MAX_REASON_CHARS = 200
MAX_STATE_BYTES = 64_000
"""The state item's bound (DynamoDB's is 400 KB): what Stripe returns cannot grow it past this."""


def unreadable_version(api_version: str | None, pinned: str) -> str | None:
    """Why an event rendered in ``api_version`` is not processed, or None. Stripe's Events API
    renders each event in the version it was created with, not the endpoint's. Versions order by
    their date (``2025-03-31.basil``); none (a thin event's) is read as it is."""
    if not api_version:
        return None
    if api_version[:10] < OLDEST_READ[:10]:
        return (
            f"rendered in API version {api_version}, older than the oldest the handlers read ({OLDEST_READ})"
        )
    if api_version[:10] > pinned[:10]:
        return f"rendered in API version {api_version}, newer than the stack's pinned {pinned}"
    return None


@dataclass(frozen=True)
class Endpoint:
    """A Stripe endpoint ``ops register`` recorded as this stack's."""

    id: str
    kind: str
    """``webhook_endpoint`` (v1) or ``event_destination`` (v2)."""
    url: str
    enabled_events: tuple[str, ...]
    created: int

    def path(self) -> str:
        quoted = urllib.parse.quote(self.id, safe="")
        if self.kind == "event_destination":
            return f"/v2/core/event_destinations/{quoted}"
        return f"/v1/webhook_endpoints/{quoted}"

    def as_item(self) -> dict[str, Any]:
        return {**self.__dict__, "enabled_events": list(self.enabled_events)}

    @classmethod
    def from_item(cls, value: dict[str, Any]) -> Endpoint:
        return cls(
            str(value["id"]),
            str(value["kind"]),
            str(value.get("url", "")),
            tuple(str(name) for name in value.get("enabled_events", ())),
            int(value.get("created", 0)),
        )


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


def listed_problem(listed: dict[str, Any], *, thin: bool = False) -> str | None:
    """Why an event as a list returned it cannot be processed (a sentence), or None: checked
    before anything reads it, so one malformed item is named and skipped, never stops a run."""
    if not is_id(EVENT_ID, listed.get("id")):
        return "its id is not a Stripe event id"
    if not is_id(EVENT_TYPE, listed.get("type")):
        return "its type is not a Stripe event type"
    if "livemode" in listed and not isinstance(listed["livemode"], bool):
        return "its livemode is not true or false"
    if thin:
        return None  # created is ISO 8601 and api_version absent: parse_thin_event checks them
    created = listed.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created <= MAX_CREATED:
        return "its created is not a time"
    version = listed.get("api_version")
    if version is not None and not is_id(API_VERSION_PATTERN, version):
        return "its api_version is not a Stripe API version"
    return None


def label(listed: Any) -> str:
    """What names a listed event in the state and the logs: its id, or for an id that is none
    (too long, not a string, no object at all), a short stable stand-in, so the overlap names it once."""
    value = listed.get("id") if isinstance(listed, dict) else listed
    if is_id(EVENT_ID, value):
        return str(value)
    digest = hashlib.sha256(repr(value)[:4096].encode("utf-8", "replace")).hexdigest()[:16]
    return f"unreadable-id-{digest}"


def other_mode(listed: dict[str, Any], livemode: bool | None) -> str | None:
    """Why an event of the other mode than the stack's is not processed, or None."""
    if livemode is None or listed.get("livemode", livemode) is livemode:
        return None
    theirs, ours = ("live", "test") if livemode is False else ("test", "live")
    return f"a {theirs}-mode event; this stack is {ours} mode (StripeMode)"


def _keep(newest: dict[str, Any], event_id: str, value: Any) -> None:
    """Add ``event_id`` last, and drop the oldest beyond ``KEEP_NAMED``."""
    newest[event_id] = value
    while len(newest) > KEEP_NAMED:
        newest.pop(next(iter(newest)))


class Ledger(Protocol):
    """Where the reconciler keeps its state and reads the stack's endpoints (``ledger.py``)."""

    def begin(self, now: float, lease_seconds: int) -> tuple[State, str] | None: ...

    def save(self, state: State, token: str, *, finished: bool = False) -> None: ...

    def release(self, token: str) -> None: ...

    def endpoints(self) -> list[Endpoint]: ...

    def logged(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` the event log holds (batched reads)."""
        ...


@dataclass
class Report:
    """What one run did."""

    busy: bool = False
    recovered: list[str] = field(default_factory=list)
    known: int = 0
    in_progress: int = 0
    ignored: int = 0
    """Listed, but of a type none of the stack's endpoints subscribes to."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Newly named this run: event id → reason."""
    failed: list[str] = field(default_factory=list)
    stripe_calls: int = 0
    pages: int = 0
    window_done: bool = False
    lag_seconds: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)
    endpoints: int = 0
    missing: list[str] = field(default_factory=list)
    """Found by the complete sweep: listed by Stripe, absent from the log (then processed)."""
    backlogged: bool = False
    """The retries were full: the sweeps waited."""
    sweep_errors: dict[str, str] = field(default_factory=dict)
    """Sweep → the error that stopped it this run (the others went on)."""
    error: str | None = None
    """What stopped the run, or its undelivered sweep (``stripe_api_failed``, ``state_not_saved``)."""

    def summary(self) -> dict[str, Any]:
        return {
            "recovered": len(self.recovered),
            "recovered_ids": self.recovered[:100],
            "known": self.known,
            "in_progress": self.in_progress,
            "ignored": self.ignored,
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "stripe_calls": self.stripe_calls,
            "pages": self.pages,
            "window_done": self.window_done,
            "lag_seconds": self.lag_seconds,
            "endpoints": self.endpoints,
            "disabled_endpoints": self.disabled_endpoints,
            "missing": len(self.missing),
            "missing_ids": self.missing[:100],
            "backlogged": self.backlogged,
            "sweep_errors": self.sweep_errors,
            "busy": self.busy,
            "error": self.error,
        }


@dataclass(frozen=True)
class Limits:
    overlap_seconds: int = 600
    grace_seconds: int = 300
    max_pages: int = 10
    lease_seconds: int = 300
    thin: bool = False
    """Also list thin events (the stack has a thin-event endpoint)."""
    complete_every_seconds: int = 86_400
    """How often the complete sweep checks every event Stripe lists against the log."""


@dataclass(frozen=True)
class Verdict:
    """What became of one listed event."""

    kind: Literal["recovered", "known", "in_progress", "skipped", "failed"]
    reason: str = ""
    """Why it was skipped (a sentence) or failed (an error code)."""
    outcome: EventOutcome | None = None


def subscription(endpoints: list[Endpoint], handled: Iterable[str]) -> Callable[[str], bool]:
    """Whether an event of a type reached the stack: what its endpoints subscribe to, or, with none
    recorded, what the handlers take."""
    patterns = [name for endpoint in endpoints for name in endpoint.enabled_events] or list(handled)
    if "*" in patterns:
        return lambda _event_type: True
    return lambda event_type: any(matches(pattern, event_type) for pattern in patterns)
