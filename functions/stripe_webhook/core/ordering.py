"""Which of two events about one object wins its record, when DynamoDB refused a record write.

Pure: the claim (``adapters/claim.py``) reads the stored record back and asks here; nothing in
this module touches AWS.

Stripe's ``created`` is whole seconds and event ids carry no order. A record write succeeds at
once when the stored state is older: an earlier second, or (for records whose lifecycle only
moves forward, ``Record.ranked``) an earlier rank in the same second. Otherwise DynamoDB refuses
it, and ``decision`` says what the refusal means:

    STALE      the stored state is newer (a later second, a later rank, a deletion): keep it
    OURS       the stored state is this event's own (a re-sent claim): nothing to do
    REPLACE    same second, same content: the tie goes to the higher (watermark, event id), so
               every arrival order leaves the same record
    AMBIGUOUS  same second, different content, and nothing orders them: ask Stripe for the
               object's current state (``Pipeline``), or keep the tie-break winner and mark the
               record ``order_uncertain``

``decide`` turns a decision into the ``RecordWrite`` the claim sends instead, or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import RANK_SLOTS, Record
from stripe_webhook.ports import Resolver


class Decision(Enum):
    STALE = "stale"
    OURS = "ours"
    REPLACE = "replace"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class LastEvent:
    """The event a record names as its last (its ``last_event_*`` attributes)."""

    watermark: int
    event_id: str
    event_type: str = ""

    def beats(self, other: LastEvent) -> bool:
        """The tie-break of one second: the higher watermark, then the higher event id."""
        return (self.watermark, self.event_id) > (other.watermark, other.event_id)


@dataclass(frozen=True)
class StoredRecord:
    """A stored record as a refused write is decided against, in plain values."""

    last_event: LastEvent
    deleted: bool
    content: Mapping[str, Any]
    """What the handler wrote: the item without the attributes the claim adds."""
    uncertain: bool = False
    """Marked ``order_uncertain``: nothing ordered its event and another of the same second."""


@dataclass(frozen=True)
class RecordWrite:
    """One record write of a claim."""

    record: Record
    """As the handler made it: what a refusal is decided against, every round."""
    last_event: LastEvent
    """The event the written item names as its last."""
    content: Record | None
    """What is put: ``record``, or Stripe's current state; None keeps the stored content and only
    marks it ``order_uncertain``."""
    if_unchanged: LastEvent | None = None
    """A write decided against a stored record applies only while that record's last event is still
    this one. None on the first try, which applies over any older state (``bound``)."""
    uncertain: bool = False
    """Written with ``order_uncertain``: nothing ordered the two events of its second."""

    @classmethod
    def first(cls, event: StripeEvent, record: Record) -> RecordWrite:
        """The first try: the handler's record, over any older state."""
        return cls(record, LastEvent(record.watermark, event.id, event.type), record)


def bound(record: Record) -> int:
    """A stored watermark below this is older than ``record``: overwritten without a question."""
    return record.watermark if record.ranked else record.watermark // RANK_SLOTS * RANK_SLOTS


def decision(record: Record, event_id: str, stored: StoredRecord) -> Decision:
    """What a refused write of ``record`` means, decided from the stored record alone."""
    if stored.deleted:
        return Decision.STALE
    last = stored.last_event
    if last.event_id == event_id:
        return Decision.OURS
    if last.watermark // RANK_SLOTS != record.watermark // RANK_SLOTS or (
        record.ranked and last.watermark != record.watermark
    ):
        return Decision.STALE  # refused, so the stored state is in a later second, or ranked later
    if same_content(record, stored):
        ours = LastEvent(record.watermark, event_id)
        return Decision.REPLACE if ours.beats(last) else Decision.STALE
    return Decision.AMBIGUOUS


def same_content(record: Record, stored: StoredRecord) -> bool:
    """Whether the stored content is the record's, value for value and type for type (JSON tells
    ``true`` from ``1``, as DynamoDB does)."""
    return _canonical(stored.content) == _canonical(record.attributes)


def _canonical(content: Mapping[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=repr)


def decide(
    event: StripeEvent, record: Record, stored: StoredRecord, resolve: Resolver | None
) -> tuple[Decision, RecordWrite | None]:
    """What to write instead of a refused ``record``, given the stored record."""
    decided = decision(record, event.id, stored)
    if decided in (Decision.STALE, Decision.OURS):
        return decided, None
    last = stored.last_event
    ours = LastEvent(record.watermark, event.id, event.type)
    if decided == Decision.REPLACE:
        return decided, RecordWrite(record, ours, record, if_unchanged=last)
    # Same second, different content, nothing to order them: ask Stripe, else keep the
    # tie-break winner and say the order is uncertain.
    winner = ours if ours.beats(last) else last
    truth = resolve(record) if resolve is not None else None
    if truth is not None:  # Stripe's current state, named after the tie-break winner
        return decided, RecordWrite(record, winner, truth, if_unchanged=last)
    content = record if winner is ours else None  # the stored event wins: only mark it
    return decided, RecordWrite(record, winner, content, if_unchanged=last, uncertain=True)
