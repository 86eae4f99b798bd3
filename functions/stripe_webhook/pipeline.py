"""The order of steps for one verified event; the only module that knows it.

    route → (thin events a handler needs in full: fetch from Stripe) → handler
    computes records (pure) → claim + write records (one DynamoDB transaction)
    → publish to SNS → mark published

A handler that raises leaves nothing behind, so Stripe's retry starts clean.
Before publishing, the holder checks by the wall clock that its lease still
covers a publish and a mark (``publish_budget_seconds``); if a stall (a laptop
running ``ops backfill`` that slept) ate it, it releases the claim and raises
rather than racing the delivery that may take over.
A publish that fails releases the lease and raises, so Stripe's retry
publishes without re-writing records. A duplicate is answered from the claim
alone (one DynamoDB call).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from stripe_webhook.errors import ConfigurationError, HandlerError, LeaseExpiring, PublishError
from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record
from stripe_webhook.routing import Registry
from stripe_webhook.store import Claim


class EventStore(Protocol):
    def claim(
        self, event: StripeEvent, records: Sequence[Record], handler: str | None, now: float
    ) -> Claim: ...

    def mark_published(self, event_id: str, token: str, message_id: str, now: float) -> bool: ...

    def release(self, event_id: str, token: str) -> bool: ...


class EventPublisher(Protocol):
    def publish(self, event: StripeEvent) -> str: ...


@dataclass(frozen=True)
class Outcome:
    event_id: str
    event_type: str
    status: Literal["processed", "duplicate"]
    handler: str | None
    records_written: int = 0
    records_stale: int = 0
    message_id: str | None = None
    resumed: bool = False
    marked_published: bool = True


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        store: EventStore,
        publisher: EventPublisher,
        *,
        clock: Callable[[], float] = time.time,
        full_event: Callable[[StripeEvent], StripeEvent] | None = None,
        publish_budget_seconds: float = 0.0,
    ) -> None:
        self._registry = registry
        self._publish_budget = publish_budget_seconds
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._full_event = full_event

    def process(self, event: StripeEvent) -> Outcome:
        route = self._registry.resolve(event.type)
        family = route.family if route else None
        records: list[Record] = []
        if route is not None and route.needs_full_event and event.thin:
            if self._full_event is None:
                raise ConfigurationError(
                    "missing_api_key", "a handler needs the full event: set a Stripe API key"
                )
            event = self._full_event(event)
        if route is not None:
            try:
                records = route.handler(event)
            except Exception as error:  # a bug in one handler must not look like bad input
                raise HandlerError("handler_failed", f"the {family} handler raised") from error

        claim = self._store.claim(event, records, family, self._clock())
        if claim.duplicate or claim.token is None:
            return Outcome(event.id, event.type, "duplicate", family)
        if (
            claim.lease_expires_at is not None
            and self._clock() + self._publish_budget > claim.lease_expires_at
        ):
            self._store.release(event.id, claim.token)
            raise LeaseExpiring(
                "lease_expiring", "too little of the lease is left to publish; released for a retry"
            )

        try:
            message_id = self._publisher.publish(event)
        except PublishError:
            self._store.release(event.id, claim.token)
            raise
        # The event is stored and published; if this marker fails Stripe must not
        # retry (that would publish twice), so it is reported, not raised.
        marked = self._store.mark_published(event.id, claim.token, message_id, self._clock())
        return Outcome(
            event.id,
            event.type,
            "processed",
            family,
            records_written=claim.records_written,
            records_stale=claim.records_stale,
            message_id=message_id,
            resumed=claim.resumed,
            marked_published=marked,
        )
