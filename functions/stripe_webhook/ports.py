"""What the pipeline needs from the outside world, and the values it exchanges with it.

The pipeline speaks only these Protocols and types; the adapters (``store.py`` for DynamoDB,
``publisher.py`` for SNS, ``payloads.py`` for S3) implement them, and the unit tests' dataclass
fakes do too. Nothing here imports botocore.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record

Resolver = Callable[[Record], Record | None]
"""The record as the object's current state in Stripe makes it, or None if that is unknown."""


@dataclass(frozen=True)
class PayloadLocation:
    """Where one event's body is stored: the bucket, the key and the body's size in bytes."""

    bucket: str
    key: str
    size: int

    def as_item(self) -> dict[str, object]:
        return {"bucket": self.bucket, "key": self.key, "bytes": self.size}

    @classmethod
    def from_item(cls, values: dict[str, Any]) -> PayloadLocation:
        return cls(str(values["bucket"]), str(values["key"]), int(values["bytes"]))

    @classmethod
    def of_event_item(cls, item: Mapping[str, Any]) -> PayloadLocation | None:
        """Where an event-log item's body is stored, when it is in S3 (its ``payload_s3``)."""
        stored = item.get("payload_s3")
        return cls.from_item(stored) if stored else None


@dataclass(frozen=True)
class Claim:
    """The result of claiming an event for processing."""

    token: str | None
    duplicate: bool = False
    resumed: bool = False
    """A previous attempt wrote the records but never published; we took over its lease."""
    records_written: int = 0
    records_stale: int = 0
    records_uncertain: int = 0
    """Records kept by tie-break and marked ``order_uncertain`` (no Stripe key to ask)."""
    lease_expires_at: float | None = None
    """Wall-clock time after which another delivery may take the event over."""
    may_have_published_at: int | None = None
    """On a takeover: the earliest time an earlier holder may have published the event (its
    publish's answer was lost, or it stopped without releasing its lease: died, or published and
    could not mark). None when no earlier holder can have published."""
    record: Mapping[str, Any] | None = None
    """The event's object's record as this claim wrote it whole (plain values), else None."""


class EventStore(Protocol):
    """The event log and the records: claim (dedup + lease + records), mark, release."""

    def claim(
        self,
        event: StripeEvent,
        records: Sequence[Record],
        handler: str | None,
        now: float,
        *,
        resolve: Resolver | None = None,
        payload: PayloadLocation | None = None,
    ) -> Claim: ...

    def mark_published(
        self,
        event: StripeEvent,
        token: str,
        message_id: str,
        now: float,
        *,
        deadline: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool: ...

    def release(
        self,
        event: StripeEvent,
        token: str,
        *,
        published_maybe_at: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool:
        """``payload``: where the body is when it is too big for the item (else the item keeps it)."""
        ...


class EventPublisher(Protocol):
    """The topic consumers subscribe to; it also knows its own message size limit."""

    def needs_offload(self, event: StripeEvent) -> bool:
        """Whether the event's body is too big for a message and must be stored first."""
        ...

    def publish(
        self,
        event: StripeEvent,
        *,
        payload: PayloadLocation | None = None,
        extra_attributes: dict[str, str] | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> str:
        """``record``: the event's object's record as the claim wrote it, carried when it fits."""
        ...


class PayloadStore(Protocol):
    """Where bodies too big for a message are kept, byte for byte, under their event id, written
    once: a second copy gets the stored object's location and size, and writes nothing."""

    def store(self, event_id: str, body: bytes) -> PayloadLocation: ...
