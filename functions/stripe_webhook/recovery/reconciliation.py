"""What the reconciler (``reconciler.py``) speaks: the stack's endpoints, what a run did, its
limits, what became of one listed event, and the port where it keeps its state
(``reconciler_state.State``).

The ledger (``ledger.py``) keeps the state and the ``Endpoint`` list in the events table; ``ops``
reads them back for ``status`` and writes the endpoints at ``register``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from contract import matches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from stripe_webhook.core.pipeline import EventOutcome
    from stripe_webhook.recovery.reconciler_state import State

EVENTS_API_WINDOW_DAYS = 30
"""How long Stripe's Events API keeps an event (it lists the last 30 days)."""


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
    checked: int = 0
    """Listed by the complete sweep and found published in the log (no write)."""
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
            "checked": self.checked,
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
