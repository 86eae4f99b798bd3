"""The order of steps for one verified event; the only module that knows it.

    route (a thin v1 notification: fetch its object) → handler's records (pure) → (too big for
    SNS: store it in S3) → claim + write records (one transaction) → publish (with the event's
    object's record as the claim wrote it, when it fits) → mark published

A handler that raises leaves nothing behind; a publish fails by releasing the lease; a publish and
a mark must both fit before the deadline and the lease; an earlier holder that may have published
makes the next publish ``possible_duplicate``. Why each rule, with the tests that show it:
docs/guarantees.md (the time budget, lost answers, the FIFO window).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from contract import POSSIBLE_DUPLICATE, tracing
from contract.records import object_key
from stripe_webhook.core.events import HEALTH_NOTICE, StripeEvent, as_business_event
from stripe_webhook.core.records import Record, records_problem
from stripe_webhook.core.routing import Registry, Route
from stripe_webhook.errors import (
    ConfigurationError,
    HandlerError,
    InvalidPayload,
    OutOfTime,
    PublishError,
    missing_api_key,
)
from stripe_webhook.ports import EventPublisher, EventStore, PayloadLocation, PayloadStore, Resolver
from stripe_webhook.settings import API_VERSION


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    event_type: str
    status: Literal["processed", "duplicate"]
    handler: str | None
    records_written: int = 0
    records_stale: int = 0
    records_uncertain: int = 0
    message_id: str | None = None
    resumed: bool = False
    marked_published: bool = True
    possible_duplicate: bool = False
    """Published with ``possible_duplicate=true``: an earlier publish of it may have reached SNS."""


class Pipeline:
    def __init__(
        self,
        registry: Registry,
        store: EventStore,
        publisher: EventPublisher,
        *,
        clock: Callable[[], float] = time.time,
        full_event: Callable[[StripeEvent, float | None], StripeEvent] | None = None,
        related_object: Callable[[StripeEvent, float | None], dict[str, Any]] | None = None,
        current_object: Callable[[StripeEvent, float | None], dict[str, Any] | None] | None = None,
        payloads: PayloadStore | None = None,
        publish_budget_seconds: float = 0.0,
        dedup_window_seconds: float = 0.0,
        api_version: str = API_VERSION,
    ) -> None:
        """``dedup_window_seconds``: how long after a publish the topic itself drops a second copy
        with the same deduplication id (an SNS FIFO topic: 300; a standard topic: 0)."""
        self._registry = registry
        self._publish_budget = publish_budget_seconds
        self._dedup_window = dedup_window_seconds
        self._api_version = api_version
        """The version the stack fetches objects at (``StripeApiVersion``): a thin delivery's."""
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._full_event = full_event
        self._related_object = related_object
        self._current_object = current_object
        self._payloads = payloads

    def process(self, event: StripeEvent, *, deadline: float | None = None) -> EventOutcome:
        """Process one event; ``deadline``: wall-clock time when the invocation will be stopped."""
        event, route = self._route(event, deadline)
        family = route.family if route else None
        records = self._records(event, route) if route is not None else []
        if self._too_late_to_publish(deadline):
            raise OutOfTime("deadline_near", "too little time is left to process the event")
        resolve = self._resolver(event, route.handler, deadline) if route is not None else None
        # Stored before the claim, so neither the event log nor a message names a missing object.
        payload = self._offload(event) if self._publisher.needs_offload(event) else None
        with tracing.span("claim", **_annotations(event)):
            claim = self._store.claim(event, records, family, self._clock(), resolve=resolve, payload=payload)
        if claim.duplicate or claim.token is None:
            return EventOutcome(event.id, event.type, "duplicate", family)
        # Publish only if a publish and a mark both fit before the invocation ends and before
        # another delivery may take the event over (see ``budget``).
        must_end_by = min((t for t in (deadline, claim.lease_expires_at) if t is not None), default=None)
        if self._too_late_to_publish(must_end_by):
            self._store.release(event, claim.token, payload=payload)
            code = "lease_expiring" if must_end_by == claim.lease_expires_at else "deadline_near"
            raise OutOfTime(code, "too little time is left to publish and mark; released for a retry")
        flagged = claim.may_have_published_at is not None and not self._topic_drops_copy_of(
            claim.may_have_published_at
        )
        message_id = self._publish(event, claim.token, payload, flagged=flagged, record=claim.record)
        # The event is stored and published; if this marker fails Stripe must not retry (that
        # would publish twice), so it is retried while time is left, then reported, not raised.
        with tracing.span("mark", **_annotations(event)):
            marked = self._store.mark_published(
                event, claim.token, message_id, self._clock(), deadline=must_end_by, payload=payload
            )
        return EventOutcome(
            event.id,
            event.type,
            "processed",
            family,
            records_written=claim.records_written,
            records_stale=claim.records_stale,
            records_uncertain=claim.records_uncertain,
            message_id=message_id,
            resumed=claim.resumed,
            marked_published=marked,
            possible_duplicate=flagged,
        )

    def _route(self, event: StripeEvent, deadline: float | None) -> tuple[StripeEvent, Route | None]:
        """The event to process and its route: a thin notification about a v1 resource a handler
        keeps becomes the snapshot event it stands for; Stripe's notice of an event it never
        generated becomes that event, with its object as it is now (``health``); a thin event a
        handler needs in full is fetched whole."""
        if event.type == HEALTH_NOTICE and event.thin:
            event = self._recovered(event, deadline)
        route = self._registry.resolve(event.type)
        resource_type = event.v1_resource_type if route is None else None
        if resource_type is not None and (route := self._registry.resolve(resource_type)) is not None:
            event = self._as_snapshot(event, deadline)
        if route is not None and route.needs_full_event and event.thin and event.state_at is None:
            event = self._fetch_full(event, deadline)
        return event, route

    def _fetch_full(self, event: StripeEvent, deadline: float | None) -> StripeEvent:
        if self._full_event is None:
            raise missing_api_key("a handler needs the full event")
        return self._full_event(event, deadline)

    def _recovered(self, notice: StripeEvent, deadline: float | None) -> StripeEvent:
        """The event Stripe failed to generate, rebuilt from its health notice: the notice in full,
        then the object it names as Stripe serves it now (``health.as_recovered_event``)."""
        from stripe_webhook.core import health  # rare: off the cold path

        full = self._fetch_full(notice, deadline)
        impact = health.impact_of(full)
        if impact is None or self._current_object is None:
            return health.flagged(full, api_version=self._api_version)  # nothing to fetch
        fetched_at = int(self._clock())
        current = self._current_object(impact.reference(full), deadline)
        if current is None:  # a type with no retrieve path
            return health.flagged(full, api_version=self._api_version)
        return health.as_recovered_event(
            full, impact, current, fetched_at=fetched_at, api_version=self._api_version
        )

    @staticmethod
    def _records(event: StripeEvent, route: Route) -> list[Record]:
        """The handler's records; a handler that raises or returns nonsense is a ``HandlerError``."""
        try:
            records = route.handler(event)
        except InvalidPayload:  # a field no Stripe event carries (``records.scalar``): a 400
            raise
        except Exception as error:  # a bug in one handler must not look like bad input
            raise HandlerError("handler_failed", f"the {route.family} handler raised") from error
        problem = records_problem(records)
        if problem is not None:
            raise HandlerError("handler_records_invalid", f"the {route.family} handler returned {problem}")
        return records

    def _publish(
        self,
        event: StripeEvent,
        token: str,
        payload: PayloadLocation | None,
        *,
        flagged: bool,
        record: Mapping[str, Any] | None,
    ) -> str:
        """Publish; a failure releases the lease (noting when a lost answer may have published)."""
        started = self._clock()
        try:
            with tracing.span("publish", **_annotations(event)):
                return self._publisher.publish(
                    event,
                    payload=payload,
                    extra_attributes=POSSIBLE_DUPLICATE if flagged else None,
                    record=record,
                )
        except PublishError as error:
            maybe = started if error.code == "publish_uncertain" else None
            self._store.release(event, token, published_maybe_at=maybe, payload=payload)
            raise

    def _as_snapshot(self, notification: StripeEvent, deadline: float | None) -> StripeEvent:
        """A thin notification about a v1 resource a handler keeps: its object fetched now (the
        one extra call), and the event it stands for, ordered by the fetch time."""
        if self._related_object is None:
            raise missing_api_key("a thin notification names its object, to be fetched")
        fetched_at = int(self._clock())
        fetched = self._related_object(notification, deadline)
        return as_business_event(notification, fetched, fetched_at=fetched_at, api_version=self._api_version)

    def _offload(self, event: StripeEvent) -> PayloadLocation:
        if self._payloads is None:
            raise ConfigurationError(
                "missing_payload_bucket", "the event is too large for SNS; nothing stores it"
            )
        return self._payloads.store(event.id, event.raw)

    def _topic_drops_copy_of(self, published_at: float) -> bool:
        """Whether a publish now, finished within its budget, is still inside the deduplication
        window of one made at ``published_at`` (never, on a standard topic)."""
        return self._clock() + self._publish_budget < published_at + self._dedup_window

    def _too_late_to_publish(self, must_end_by: float | None) -> bool:
        """Whether a publish and a mark (``publish_budget_seconds``) no longer fit before ``must_end_by``."""
        return must_end_by is not None and self._clock() + self._publish_budget > must_end_by

    def _resolver(
        self, event: StripeEvent, handler: Callable[[StripeEvent], list[Record]], deadline: float | None
    ) -> Resolver | None:
        """How the store learns an object's true state when two events of one second disagree:
        the handler's record for the object as the Stripe API returns it now (fetched once)."""
        current_object = self._current_object
        if current_object is None or event.object_id is None:
            return None
        own_key = object_key(event.object_id)
        fetched: list[dict[str, Any] | None] = []

        def resolve(record: Record) -> Record | None:
            if (record.pk, record.sk) != own_key:
                return None  # a related object's record: its state is not in this object
            if not fetched:
                fetched.append(current_object(event, deadline))
            if fetched[0] is None:
                return None
            truth = handler(dataclasses.replace(event, data_object=fetched[0]))
            return next((item for item in truth if (item.pk, item.sk) == own_key), None)

        return resolve


def _annotations(event: StripeEvent) -> dict[str, str]:
    """What a step's span is found by in X-Ray (``annotation.event_id``): never the body."""
    return {"event_id": event.id, "event_type": event.type}
