"""What a refused record write means, decided from the stored item alone."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.ordering import Decision, LastEvent, StoredRecord, bound, decide, decision
from stripe_webhook.core.records import RANK_SLOTS, Record

SECOND = 1_764_300_000
AT = SECOND * RANK_SLOTS


def stored(content: dict[str, Any], mark: int, event_id: str) -> StoredRecord:
    return StoredRecord(LastEvent(mark, event_id, "customer.updated"), "deleted" in content, content)


def record(content: dict[str, Any], second: int = SECOND, rank: int = 20, *, ranked: bool = True) -> Record:
    return Record("OBJECT#cus_1", "STATE", content, second * RANK_SLOTS + rank, ranked=ranked)


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        # a later second, a later rank in the same second, a deletion: the stored state is newer
        (record({"email": "a"}), stored({"email": "b"}, AT + RANK_SLOTS, "evt_b"), Decision.STALE),
        (
            record({"email": "a"}, rank=10),
            stored({"email": "b"}, AT + 20, "evt_b"),
            Decision.STALE,
        ),
        (record({"email": "a"}), stored({"deleted": True}, AT, "evt_b"), Decision.STALE),
        # our own write, sent again
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_a"), Decision.OURS),
        # same second and rank, same content: the higher event id takes the tie
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_0"), Decision.REPLACE),
        (record({"email": "a"}), stored({"email": "a"}, AT + 20, "evt_z"), Decision.STALE),
        # same second and rank, different content: nothing orders them
        (
            record({"email": "a"}),
            stored({"email": "b"}, AT + 20, "evt_z"),
            Decision.AMBIGUOUS,
        ),
        # an unranked record (statuses that cycle): any two of one second are ambiguous
        (
            record({"status": "active"}, rank=30, ranked=False),
            stored({"status": "paused"}, AT + 60, "evt_b"),
            Decision.AMBIGUOUS,
        ),
    ],
    ids=["later-second", "later-rank", "deleted", "ours", "tie-won", "tie-lost", "ambiguous", "unranked"],
)
def test_decision(ours: Record, theirs: StoredRecord, expected: Decision) -> None:
    assert decision(ours, "evt_a", theirs) == expected


def test_an_unranked_record_asks_about_any_state_of_its_second() -> None:
    assert bound(record({}, rank=60)) == AT + 60
    assert bound(record({}, rank=60, ranked=False)) == SECOND * RANK_SLOTS


def test_a_boolean_is_not_the_number_one() -> None:
    """DynamoDB tells ``true`` from ``1``: so does the tie-break's "same content"."""
    assert (
        decision(record({"flag": True}), "evt_a", stored({"flag": 1}, AT + 20, "evt_0")) == Decision.AMBIGUOUS
    )
    assert (
        decision(record({"flag": True}), "evt_a", stored({"flag": True}, AT + 20, "evt_0"))
        == Decision.REPLACE
    )


def _event(event_id: str) -> StripeEvent:
    customer = {"id": "cus_1", "object": "customer"}
    return StripeEvent(event_id, "customer.updated", SECOND, False, None, None, customer, b"{}")


@pytest.mark.parametrize("stored_id", ["evt_0", "evt_z"], ids=["ours-wins", "stored-wins"])
def test_an_ambiguous_tie_asks_stripe_and_names_the_tie_break_winner(stored_id: str) -> None:
    ours, theirs = record({"email": "a"}), stored({"email": "b"}, AT + 20, stored_id)
    truth = record({"email": "c"})
    decided, instead = decide(_event("evt_a"), ours, theirs, lambda _record: truth)
    assert decided == Decision.AMBIGUOUS and instead is not None
    assert instead.content == truth and not instead.uncertain
    assert instead.if_unchanged == theirs.last_event
    assert instead.last_event.event_id == max("evt_a", stored_id)


@pytest.mark.parametrize(
    ("stored_id", "puts"), [("evt_0", True), ("evt_z", False)], ids=["ours-wins", "stored-wins"]
)
def test_without_stripe_an_ambiguous_tie_keeps_the_winner_marked_uncertain(
    stored_id: str, puts: bool
) -> None:
    ours, theirs = record({"email": "a"}), stored({"email": "b"}, AT + 20, stored_id)
    decided, instead = decide(_event("evt_a"), ours, theirs, None)
    assert decided == Decision.AMBIGUOUS and instead is not None and instead.uncertain
    assert (instead.content == ours) is puts and (instead.content is None) is not puts
    assert instead.if_unchanged == theirs.last_event
