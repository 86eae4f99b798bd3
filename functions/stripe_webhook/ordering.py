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

``decide`` turns a verdict into what the store writes instead (a ``Write``), or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from stripe_webhook.dynamo_items import to_item
from stripe_webhook.events import StripeEvent
from stripe_webhook.ports import Resolver
from stripe_webhook.records import RANK_SLOTS, Record

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
    stored_mark, stored_id = seen(stored)
    if stored_id == event_id:
        return Verdict.OURS
    if stored_mark // RANK_SLOTS != record.watermark // RANK_SLOTS or (
        record.ranked and stored_mark != record.watermark
    ):
        return Verdict.STALE  # refused, so the stored state is in a later second, or ranked later
    if same_content(record, stored):
        return Verdict.REPLACE if (record.watermark, event_id) > (stored_mark, stored_id) else Verdict.STALE
    return Verdict.AMBIGUOUS


def same_content(record: Record, stored: dict[str, Any]) -> bool:
    content = {name: value for name, value in stored.items() if name not in BOOKKEEPING}
    return content == to_item(record.attributes)


def seen(stored: dict[str, Any]) -> tuple[int, str]:
    """The (watermark, event id) that a replacing write requires to be still stored."""
    return int(stored["last_event_watermark"]["N"]), stored["last_event_id"]["S"]


@dataclass(frozen=True)
class Write:
    """One record write of a claim: as the handler made it, or as decided against the stored item."""

    original: Record
    record: Record
    seen: tuple[int, str] | None = None
    """(watermark, event id) of the stored item this write replaces; None: an ordered write."""
    last_event: tuple[str, str, int] | None = None
    """(id, type, watermark) the item names as its last event; None: the claim's event."""
    uncertain: bool = False
    flag_only: bool = False
    """Keep the stored content, only mark it ``order_uncertain``."""


def decide(
    event: StripeEvent, record: Record, stored: dict[str, Any], resolve: Resolver | None
) -> tuple[Verdict, Write | None]:
    """What to write instead of a refused record, given the item DynamoDB returned."""
    decided = verdict(record, event.id, stored)
    if decided in (Verdict.STALE, Verdict.OURS):
        return decided, None
    stored_seen = seen(stored)
    if decided == Verdict.REPLACE:
        return decided, Write(record, record, seen=stored_seen)
    # Same second, different content, nothing to order them: ask Stripe, else keep the
    # tie-break winner (the higher watermark, then event id) and say the order is uncertain.
    ours_win = (record.watermark, event.id) > stored_seen
    truth = resolve(record) if resolve is not None else None
    if truth is not None:
        winner = (
            (event.id, event.type, record.watermark)
            if ours_win
            else (stored_seen[1], stored["last_event_type"]["S"], stored_seen[0])
        )
        return decided, Write(record, truth, seen=stored_seen, last_event=winner)
    return decided, Write(record, record, seen=stored_seen, uncertain=True, flag_only=not ours_win)
