"""What the reconciler (``reconciler.py``) speaks: its state between runs, the stack's endpoints,
what a run did, and the rule for events rendered in an API version the handlers do not read.

The ledger (``ledger.py``) keeps ``State`` and the ``Endpoint`` list in the events table; ``ops``
reads them back for ``status`` and writes the endpoints at ``register``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from contract import matches
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
class State:
    """What the reconciler keeps between runs (one item, ``ledger``)."""

    watermark: int | None = None
    """Every undelivered event created before it has been processed (or named)."""
    window: tuple[int, int] | None = None
    """The window a run is working through: created ``since`` .. ``until``."""
    cursor: str | None = None
    """The last event of the window processed (``starting_after``)."""
    cursor_created: int | None = None
    resume_at: int | None = None
    """Set when Stripe no longer knew the cursor: the window is listed again up to this second."""
    thin_page: str | None = None
    """The next page of the window's thin events (``next_page_url``), or None to start."""
    thin_done: bool = False
    retries: dict[str, int] = field(default_factory=dict)
    """Event id → failed runs so far."""
    named: dict[str, str] = field(default_factory=dict)
    """Event id → why it was skipped or given up."""
    recovered: dict[str, int] = field(default_factory=dict)
    """Event id → the run that recovered it (its start), the newest ``KEEP_NAMED`` (the console's)."""
    endpoints: dict[str, str] = field(default_factory=dict)
    """Endpoint id → its status at the last run (``enabled``, ``disabled``, ``missing``, ``unknown``)."""
    last_run: int | None = None

    def next_window(self, now: int, limits: Limits, first_endpoint: int | None) -> tuple[int, int]:
        """From the watermark less the overlap (the first run: from the oldest recorded endpoint's
        creation, nothing before it was the stack's) to ``now`` less the grace, within 30 days."""
        until = now - limits.grace_seconds
        if self.watermark is not None:
            since = self.watermark - limits.overlap_seconds
        elif first_endpoint:
            since = first_endpoint
        else:
            since = until - limits.overlap_seconds
        return max(since, now - EVENTS_API_WINDOW_DAYS * 86_400), until

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
        report.skipped[event_id] = reason
        _keep(self.named, event_id, reason)

    def as_item(self) -> dict[str, Any]:
        return {**self.__dict__, "window": list(self.window) if self.window else None}

    @classmethod
    def from_item(cls, value: dict[str, Any]) -> State:
        window = value.get("window")
        known = {name: value[name] for name in cls.__dataclass_fields__ if name in value}
        known["window"] = (int(window[0]), int(window[1])) if window else None
        return cls(**known)


def _keep(newest: dict[str, Any], event_id: str, value: Any) -> None:
    """Add ``event_id`` last, and drop the oldest beyond ``KEEP_NAMED``."""
    newest[event_id] = value
    while len(newest) > KEEP_NAMED:
        newest.pop(next(iter(newest)))


class Ledger(Protocol):
    """Where the reconciler keeps its state and reads the stack's endpoints (``ledger.py``)."""

    def begin(self, now: float, lease_seconds: int) -> tuple[State, str] | None: ...

    def save(self, state: State, token: str, *, finished: bool = False) -> None: ...

    def endpoints(self) -> list[Endpoint]: ...


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
    error: str | None = None

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
