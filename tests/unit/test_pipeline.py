"""The order of steps, with in-memory fakes that record what they were given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event
from stripe_webhook.core.events import StripeEvent, parse_event
from stripe_webhook.core.pipeline import Pipeline
from stripe_webhook.core.records import Record
from stripe_webhook.core.routing import Registry
from stripe_webhook.errors import ConfigurationError, HandlerError, OutOfTime, PublishError
from stripe_webhook.ports import Claim, PayloadLocation, Resolver

MESSAGE_LIMIT_BYTES = 262_144
"""The fake topic's message size limit (SNS's)."""


@dataclass
class FakeStore:
    claims: list[tuple[str, list[Record]]] = field(default_factory=list)
    payloads: dict[str, PayloadLocation | None] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    published_maybe_at: dict[str, float] = field(default_factory=dict)
    """What releases recorded; a later claim of the event is a takeover that carries it."""

    def claim(
        self,
        event: StripeEvent,
        records: Sequence[Record],
        handler: str | None,
        now: float,
        *,
        resolve: Resolver | None = None,
        payload: PayloadLocation | None = None,
    ) -> Claim:
        if event.id in self.done:
            return Claim(None, duplicate=True)
        self.claims.append((event.id, list(records)))
        self.payloads[event.id] = payload
        if event.id in self.published_maybe_at:
            return Claim("token", resumed=True, may_have_published_at=int(self.published_maybe_at[event.id]))
        record = {"pk": records[0].pk, "sk": records[0].sk, "last_event_id": event.id} if records else None
        return Claim("token", records_written=len(records), record=record)

    def mark_published(
        self,
        event: StripeEvent,
        token: str,
        message_id: str,
        now: float,
        *,
        deadline: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool:
        self.published[event.id] = message_id
        self.done.add(event.id)
        return True

    def release(
        self,
        event: StripeEvent,
        token: str,
        *,
        published_maybe_at: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool:
        self.released.append(event.id)
        if published_maybe_at is not None:
            self.published_maybe_at.setdefault(event.id, published_maybe_at)
        return True


@dataclass
class FakePublisher:
    fail: bool = False
    lose_answer: bool = False
    sent: list[str] = field(default_factory=list)
    pointers: dict[str, PayloadLocation] = field(default_factory=dict)
    attributes: list[dict[str, str]] = field(default_factory=list)
    records: list[Mapping[str, Any] | None] = field(default_factory=list)

    def publish(
        self,
        event: StripeEvent,
        *,
        payload: PayloadLocation | None = None,
        extra_attributes: dict[str, str] | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> str:
        if self.fail:
            raise PublishError("publish_failed", "SNS rejected the publish: KMSThrottlingException")
        self.attributes.append(dict(extra_attributes or {}))
        if self.lose_answer:
            self.lose_answer = False
            raise PublishError("publish_uncertain", "SNS's answer was lost; it may have accepted the message")
        self.sent.append(event.id)
        self.records.append(record)
        if payload is not None:
            self.pointers[event.id] = payload
        return f"msg-{len(self.sent)}"

    def needs_offload(self, event: StripeEvent) -> bool:
        return len(event.raw) > MESSAGE_LIMIT_BYTES


def _registry() -> Registry:
    routes = Registry()
    routes.add(
        "charge.dispute.*", "disputes", lambda event: [Record(f"DISPUTE#{event.object_id}", "DISPUTE")]
    )

    def broken(event: StripeEvent) -> list[Record]:
        raise KeyError("evidence_details")

    routes.add("payment_intent.succeeded", "payments", broken)
    return routes


def _event(name: str) -> StripeEvent:
    return parse_event(encode(fresh_event(name)))


def test_new_event_is_claimed_with_its_records_then_published_then_marked() -> None:
    store, publisher = FakeStore(), FakePublisher()
    event = _event("charge.dispute.created")

    outcome = Pipeline(_registry(), store, publisher).process(event)

    assert outcome.status == "processed"
    assert outcome.records_written == 1
    assert store.claims == [(event.id, [Record("DISPUTE#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq", "DISPUTE")])]
    assert publisher.sent == [event.id]
    assert store.published == {event.id: "msg-1"}
    # what the claim wrote of the event's object rides with the message
    assert publisher.records == [
        {"pk": "DISPUTE#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq", "sk": "DISPUTE", "last_event_id": event.id}
    ]


def test_duplicate_is_not_published_again() -> None:
    store, publisher = FakeStore(), FakePublisher()
    pipeline = Pipeline(_registry(), store, publisher)
    event = _event("charge.dispute.created")
    pipeline.process(event)

    outcome = pipeline.process(event)

    assert outcome.status == "duplicate"
    assert publisher.sent == [event.id]


def test_handler_bug_claims_nothing_so_a_redelivery_starts_clean() -> None:
    store, publisher = FakeStore(), FakePublisher()

    with pytest.raises(HandlerError) as raised:
        Pipeline(_registry(), store, publisher).process(_event("payment_intent.succeeded"))

    assert raised.value.code == "handler_failed"
    assert store.claims == []
    assert publisher.sent == []


def test_publish_failure_releases_the_lease_and_is_raised() -> None:
    store, publisher = FakeStore(), FakePublisher(fail=True)
    event = _event("charge.dispute.created")

    with pytest.raises(PublishError):
        Pipeline(_registry(), store, publisher).process(event)

    assert store.released == [event.id]
    assert store.published == {}


def test_unrouted_type_is_still_claimed_and_published() -> None:
    store, publisher = FakeStore(), FakePublisher()
    event = _event("product.created")

    outcome = Pipeline(_registry(), store, publisher).process(event)

    assert (outcome.status, outcome.handler) == ("processed", None)
    assert store.claims == [(event.id, [])]
    assert publisher.sent == [event.id]


@dataclass
class LeasedStore(FakeStore):
    """Claims carry a 60 s lease from the claim's time, as the DynamoDB store's do."""

    def claim(
        self,
        event: StripeEvent,
        records: Sequence[Record],
        handler: str | None,
        now: float,
        *,
        resolve: Resolver | None = None,
        payload: PayloadLocation | None = None,
    ) -> Claim:
        claim = super().claim(event, records, handler, now, resolve=resolve, payload=payload)
        return Claim(claim.token, records_written=claim.records_written, lease_expires_at=now + 60)


def test_a_holder_that_stalled_past_its_lease_budget_releases_instead_of_publishing() -> None:
    # Given the process stalled (a laptop running a backfill slept) between claim and publish
    store, publisher = LeasedStore(), FakePublisher()
    moments = iter([1_000.0, 1_050.0])  # claimed at 1000; 50 s later 10 s of lease are left
    pipeline = Pipeline(_registry(), store, publisher, clock=lambda: next(moments), publish_budget_seconds=24)
    event = _event("charge.dispute.created")

    with pytest.raises(OutOfTime):
        pipeline.process(event)

    assert publisher.sent == []
    assert store.released == [event.id]


def test_a_holder_with_lease_to_spare_publishes() -> None:
    store, publisher = LeasedStore(), FakePublisher()
    moments = iter([1_000.0, 1_002.0, 1_002.2, 1_002.5])
    pipeline = Pipeline(_registry(), store, publisher, clock=lambda: next(moments), publish_budget_seconds=24)
    event = _event("charge.dispute.created")

    assert pipeline.process(event).status == "processed"
    assert publisher.sent == [event.id]


def test_a_claim_that_ends_too_near_the_invocation_deadline_is_released_not_published() -> None:
    # Case 4 of issue 11: a slow claim leaves 15 s of a 28 s invocation; a publish and a mark may
    # need 22 s, so publishing could be cut off before the mark, and the retry would publish again.
    store, publisher = LeasedStore(), FakePublisher()
    moments = iter([1_000.0, 1_000.5, 1_013.0])  # before the claim, the claim, after it: 15 s left
    pipeline = Pipeline(_registry(), store, publisher, clock=lambda: next(moments), publish_budget_seconds=22)
    event = _event("charge.dispute.created")

    with pytest.raises(OutOfTime) as raised:
        pipeline.process(event, deadline=1_028.0)

    assert raised.value.code == "deadline_near"
    assert publisher.sent == []
    assert store.released == [event.id]


def test_an_invocation_already_near_its_deadline_claims_nothing() -> None:
    store, publisher = LeasedStore(), FakePublisher()
    pipeline = Pipeline(_registry(), store, publisher, clock=lambda: 1_010.0, publish_budget_seconds=22)

    with pytest.raises(OutOfTime):
        pipeline.process(_event("charge.dispute.created"), deadline=1_028.0)

    assert store.claims == []
    assert publisher.sent == []


def test_the_mark_gets_the_earlier_of_the_deadline_and_the_lease() -> None:
    deadlines: list[float | None] = []

    class Recording(LeasedStore):
        def mark_published(
            self,
            event: StripeEvent,
            token: str,
            message_id: str,
            now: float,
            *,
            deadline: float | None = None,
            payload: PayloadLocation | None = None,
        ) -> bool:
            deadlines.append(deadline)
            return super().mark_published(event, token, message_id, now)

    pipeline = Pipeline(
        _registry(), Recording(), FakePublisher(), clock=lambda: 1_000.0, publish_budget_seconds=22
    )
    pipeline.process(_event("charge.dispute.created"), deadline=1_028.0)
    pipeline.process(_event("charge.dispute.created"), deadline=1_100.0)

    assert deadlines == [1_028.0, 1_060.0]  # the invocation's end; then the 60 s lease's


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([Record(f"OBJECT#du_{n}", "STATE") for n in range(100)], "100 records"),
        ([Record("OBJECT#du_1", "STATE"), Record("OBJECT#du_1", "STATE")], "two records with one key"),
        ([Record("OBJECT#du_1", "STATE", {"lines": "x" * 400_000})], "DynamoDB items hold 400 KB"),
        (
            [Record(f"OBJECT#du_{n}", "STATE", {"lines": "x" * 300_000}) for n in range(12)],
            "a transaction holds 4 MB",
        ),
    ],
    ids=["too-many", "same-key", "item-too-big", "transaction-too-big"],
)
def test_records_one_transaction_cannot_hold_are_a_handler_error_before_any_write(
    records: list[Record], problem: str
) -> None:
    routes = Registry()
    routes.add("charge.dispute.created", "disputes", lambda event: records)
    store, publisher = FakeStore(), FakePublisher()

    with pytest.raises(HandlerError) as raised:
        Pipeline(routes, store, publisher).process(_event("charge.dispute.created"))

    assert raised.value.code == "handler_records_invalid" and problem in raised.value.message
    assert store.claims == [] and publisher.sent == []


def _large_event() -> StripeEvent:
    payload = fresh_event("charge.dispute.created")
    payload["data"]["object"]["metadata"] = {"evidence": "x" * 300_000}
    return parse_event(encode(payload))


def test_a_body_too_big_for_sns_is_stored_before_the_claim_and_both_claim_and_message_point_at_it() -> None:
    store, publisher = FakeStore(), FakePublisher()
    stored: list[tuple[str, int]] = []

    class FakePayloads:
        def store(self, event_id: str, body: bytes) -> PayloadLocation:
            assert event_id not in store.payloads, "stored after the claim"
            stored.append((event_id, len(body)))
            return PayloadLocation("bucket", f"events/{event_id}.json", len(body))

    event = _large_event()
    small = _event("charge.dispute.created")
    pipeline = Pipeline(_registry(), store, publisher, payloads=FakePayloads())
    pipeline.process(event)
    pipeline.process(small)

    location = PayloadLocation("bucket", f"events/{event.id}.json", len(event.raw))
    assert stored == [(event.id, len(event.raw))]
    assert store.payloads == {event.id: location, small.id: None}
    assert publisher.pointers == {event.id: location}


def test_a_body_too_big_for_sns_with_nowhere_to_store_it_is_not_claimed() -> None:
    store, publisher = FakeStore(), FakePublisher()

    with pytest.raises(ConfigurationError) as raised:
        Pipeline(_registry(), store, publisher).process(_large_event())

    assert raised.value.code == "missing_payload_bucket"
    assert store.claims == [] and publisher.sent == []


@pytest.mark.parametrize(
    ("window", "retry_after", "flagged"),
    [
        (0.0, 60, True),  # a standard topic never drops a second copy
        (300.0, 60, False),  # a FIFO topic drops it inside its window
        (300.0, 280, True),  # ... not when the publish may end past it (22 s budget)
        (300.0, 3 * 3600, True),  # Stripe's sandbox retries come hours apart
    ],
    ids=["standard", "fifo-inside-window", "fifo-window-ending", "fifo-hours-later"],
)
def test_a_publish_after_a_lost_publish_answer_is_flagged_unless_the_topic_drops_the_copy(
    window: float, retry_after: float, flagged: bool
) -> None:
    store, publisher = FakeStore(), FakePublisher(lose_answer=True)
    now = [1_800_000_000.0]
    pipeline = Pipeline(
        _registry(),
        store,
        publisher,
        clock=lambda: now[0],
        publish_budget_seconds=22.0,
        dedup_window_seconds=window,
    )
    event = _event("charge.dispute.created")

    with pytest.raises(PublishError):
        pipeline.process(event)
    assert store.published_maybe_at == {event.id: 1_800_000_000.0}  # when the lost publish began
    now[0] += retry_after
    outcome = pipeline.process(event)

    assert outcome.possible_duplicate is flagged
    assert publisher.attributes == [{}, {"possible_duplicate": "true"} if flagged else {}]
    assert store.published == {event.id: "msg-1"}


def test_a_failed_publish_that_sns_cannot_have_accepted_records_no_uncertainty() -> None:
    store, publisher = FakeStore(), FakePublisher(fail=True)
    event = _event("charge.dispute.created")

    with pytest.raises(PublishError):
        Pipeline(_registry(), store, publisher).process(event)

    assert store.released == [event.id] and store.published_maybe_at == {}
