"""Which of two events about one object wins its record, when DynamoDB refused a record write.

Stripe's ``created`` is whole seconds and event ids carry no order. A record write succeeds at
once when the stored state is older: an earlier second, or (for records whose lifecycle only
moves forward, ``Record.ranked``) an earlier rank in the same second. Otherwise DynamoDB refuses
it, the store reads the stored item back, and ``verdict`` decides with it:

    STALE      the stored state is newer (a later second, a later rank, a deletion): keep it
    OURS       the stored state is this event's own (a re-sent claim): nothing to do
    REPLACE    same second, same content: the tie goes to the higher (watermark, event id), so
               every arrival order leaves the same record
    AMBIGUOUS  same second, different content, and nothing orders them: ask Stripe for the
               object's current state (``Pipeline``), or keep the tie-break winner and mark the
               record ``order_uncertain``

``decide`` turns a verdict into what the store writes instead (a ``Write``: ``How`` it is written
and the ``Stamp`` of the stored item it was decided against), or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from stripe_webhook.adapters.dynamo_items import to_item
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import RANK_SLOTS, Record
from stripe_webhook.ports import Resolver

BOOKKEEPING = frozenset(
    {"pk", "sk", "last_event_id", "last_event_type", "last_event_watermark", "updated_at", "order_uncertain"}
)
"""Item attributes the store adds; everything else is the handler's content."""
UNCERTAIN = "order_uncertain"


class Verdict(Enum):
    STALE = "stale"
    OURS = "ours"
    REPLACE = "replace"
    AMBIGUOUS = "ambiguous"


def bound(record: Record) -> int:
    """A stored watermark below this is older than ``record``: overwritten without a question."""
    return record.watermark if record.ranked else record.watermark // RANK_SLOTS * RANK_SLOTS


def verdict(record: Record, event_id: str, stored: dict[str, Any]) -> Verdict:
    """Decide, from the stored item (DynamoDB attribute values), what a refused write means."""
    if "deleted" in stored:
        return Verdict.STALE
    last = stamp_of(stored)
    if last.event_id == event_id:
        return Verdict.OURS
    if last.watermark // RANK_SLOTS != record.watermark // RANK_SLOTS or (
        record.ranked and last.watermark != record.watermark
    ):
        return Verdict.STALE  # refused, so the stored state is in a later second, or ranked later
    if same_content(record, stored):
        ours_higher = (record.watermark, event_id) > (last.watermark, last.event_id)
        return Verdict.REPLACE if ours_higher else Verdict.STALE
    return Verdict.AMBIGUOUS


def same_content(record: Record, stored: dict[str, Any]) -> bool:
    content = {name: value for name, value in stored.items() if name not in BOOKKEEPING}
    return content == to_item(record.attributes)


@dataclass(frozen=True)
class Stamp:
    """The event a record names as its last (``last_event_*``): a write decided against a stored
    item requires that item's stamp to be still there."""

    watermark: int
    event_id: str
    event_type: str = ""


def stamp_of(stored: dict[str, Any]) -> Stamp:
    """The stamp of a stored item (DynamoDB attribute values)."""
    return Stamp(
        int(stored["last_event_watermark"]["N"]),
        stored["last_event_id"]["S"],
        stored.get("last_event_type", {}).get("S", ""),
    )


class How(Enum):
    """How one record write of a claim is made."""

    ORDERED = "ordered"
    """Put the handler's record if the stored state is older (``writes.ORDERED``): every first try."""
    REPLACE = "replace"
    """Put the handler's record over the stored item decided on (a same-second tie we win)."""
    RESOLVED = "resolved"
    """Put Stripe's current state over it, credited to the tie-break winner."""
    UNCERTAIN = "uncertain"
    """Put the handler's record over it, marked ``order_uncertain`` (we win the tie-break)."""
    FLAG = "flag"
    """Keep the stored content, only mark it ``order_uncertain`` (the stored event wins)."""


@dataclass(frozen=True)
class Resolved:
    """A same-second tie settled by asking Stripe: the object's current state as the handler makes
    it, and the event the item names as its last (the tie-break winner)."""

    content: Record
    credited: Stamp


@dataclass(frozen=True)
class Write:
    """One record write of a claim: the handler's record, and how it is written this round."""

    record: Record
    """As the handler made it: what a refusal is decided against, every round."""
    how: How = How.ORDERED
    over: Stamp | None = None
    """The stored item's stamp that a decided write requires (None: ``ORDERED``)."""
    resolved: Resolved | None = None
    """``RESOLVED`` only: what is written instead of ``record``."""

    @property
    def puts_content(self) -> bool:
        return self.how is not How.FLAG

    @property
    def uncertain(self) -> bool:
        return self.how in (How.UNCERTAIN, How.FLAG)


def decide(
    event: StripeEvent, record: Record, stored: dict[str, Any], resolve: Resolver | None
) -> tuple[Verdict, Write | None]:
    """What to write instead of a refused record, given the item DynamoDB returned."""
    decided = verdict(record, event.id, stored)
    if decided in (Verdict.STALE, Verdict.OURS):
        return decided, None
    last = stamp_of(stored)
    if decided == Verdict.REPLACE:
        return decided, Write(record, How.REPLACE, last)
    # Same second, different content, nothing to order them: ask Stripe, else keep the
    # tie-break winner (the higher watermark, then event id) and say the order is uncertain.
    ours = Stamp(record.watermark, event.id, event.type)
    ours_win = (ours.watermark, ours.event_id) > (last.watermark, last.event_id)
    truth = resolve(record) if resolve is not None else None
    if truth is not None:
        return decided, Write(record, How.RESOLVED, last, Resolved(truth, ours if ours_win else last))
    return decided, Write(record, How.UNCERTAIN if ours_win else How.FLAG, last)
