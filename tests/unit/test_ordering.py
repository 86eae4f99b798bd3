"""What a refused record write means, decided from the stored item alone."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_webhook.adapters.dynamo_items import to_item
from stripe_webhook.core.ordering import Verdict, bound, verdict
from stripe_webhook.core.records import RANK_SLOTS, Record

SECOND = 1_764_300_000
AT = SECOND * RANK_SLOTS


def stored(content: dict[str, Any], mark: int, event_id: str, **extra: Any) -> dict[str, Any]:
    return to_item(
        {
            **content,
            "pk": "OBJECT#cus_1",
            "sk": "STATE",
            "last_event_id": event_id,
            "last_event_type": "customer.updated",
            "last_event_watermark": mark,
            "updated_at": SECOND + 5,
            **extra,
        }
    )


def record(content: dict[str, Any], second: int = SECOND, rank: int = 20, *, ranked: bool = True) -> Record:
    return Record("OBJECT#cus_1", "STATE", content, second * RANK_SLOTS + rank, ranked=ranked)


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        # a later second, a later rank in the same second, a deletion: the stored state is newer
        (record({"email": "a"}), stored({"email": "b"}, AT + RANK_SLOTS, "evt_b"), Verdict.STALE),
        (
            record({"email": "a"}, rank=10),
            stored({"email": "b"}, AT + 20, "evt_b"),
            Verdict.STALE,
        ),
        (record({"email": "a"}), stored({"deleted": True}, AT, "evt_b"), Verdict.STALE),
        # our own write, sent again
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_a"), Verdict.OURS),
        # same second and rank, same content: the higher event id takes the tie
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_0"), Verdict.REPLACE),
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_z"), Verdict.STALE),
        # same second and rank, different content: nothing orders them
        (
            record({"email": "a"}),
            stored({"email": "b"}, AT + 20, "evt_z"),
            Verdict.AMBIGUOUS,
        ),
        # an unranked record (statuses that cycle): any two of one second are ambiguous
        (
            record({"status": "active"}, rank=30, ranked=False),
            stored({"status": "paused"}, AT + 60, "evt_b"),
            Verdict.AMBIGUOUS,
        ),
    ],
    ids=["later-second", "later-rank", "deleted", "ours", "tie-won", "tie-lost", "ambiguous", "unranked"],
)
def test_verdict(ours: Record, theirs: dict[str, Any], expected: Verdict) -> None:
    assert verdict(ours, "evt_a", theirs) == expected


def test_an_unranked_record_asks_about_any_state_of_its_second() -> None:
    assert bound(record({}, rank=60)) == AT + 60
    assert bound(record({}, rank=60, ranked=False)) == SECOND * RANK_SLOTS
