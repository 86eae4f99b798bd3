"""``make burst`` retries what Stripe would retry, and calls lost only what was acknowledged and then
went missing (no sockets: the deliveries are a fake)."""

from __future__ import annotations

from collections import Counter

import pytest

from infra.bench import burst
from infra.bench.burst import BurstResult, Reply, Tally, send_all
from infra.fixtures.delivery import Answer
from infra.fixtures.payloads import fresh_event


def test_a_refused_and_retryable_answer_is_retried_until_it_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a stack that answers 503 twice, then 200, and a body it refuses with 400
    busy, bad = fresh_event("invoice.paid"), fresh_event("charge.refunded")
    answers = {"busy": [503, 503, 200], "bad": [400, 200]}
    sent: Counter[str] = Counter()

    def post(url: str, body: bytes, *, secret: str, timeout: float) -> Answer:
        kind = "busy" if busy["id"].encode() in body else "bad"
        sent[kind] += 1
        return Answer(answers[kind].pop(0), "{}", 0.01)

    monkeypatch.setattr(burst, "post", post)
    pauses: list[float] = []

    # When the burst sends one of each
    result = send_all(
        "http://stack/webhook",
        "whsec_x",
        [busy, bad],
        2,
        sleep=pauses.append,
    )

    # Then the 503s were retried with growing pauses, and the 400 was not retried
    by_kind = {
        ("busy" if reply.event_id == result.replies[0].event_id else "bad"): reply for reply in result.replies
    }
    assert (by_kind["busy"].status, by_kind["busy"].attempts) == (200, 3)
    assert (by_kind["bad"].status, by_kind["bad"].attempts) == (400, 1)
    assert sent == Counter({"busy": 3, "bad": 1})
    assert len(pauses) == 2 and pauses[1] > pauses[0] / 2


def test_only_an_acknowledged_event_that_went_missing_is_lost() -> None:
    replies = [
        Reply("evt_ok", 200, "", 0.1),
        Reply("evt_missing", 200, "", 0.1),
        Reply("evt_refused", 503, "", 0.1, attempts=burst.MAX_ATTEMPTS),
        Reply("evt_twice", 200, "", 0.1),
    ]
    stored = Counter({"evt_ok": 1, "evt_twice": 1, "evt_refused": 0})
    consumed = Counter({"evt_ok": 1, "evt_twice": 2})

    tally = Tally.of(BurstResult(replies), stored, consumed)

    assert tally.lost == ["evt_missing"] and tally.doubled == ["evt_twice"]
    assert tally.unacknowledged == ["evt_refused"] and not tally.clean
    text = "\n".join(tally.lines())
    assert "3 messages for 4 events" in text
    assert "1 never acknowledged, 1 lost, 1 doubled" in text
    assert "not lost, Stripe would keep retrying them" in text


def test_a_clean_burst_says_so_in_the_singular_too() -> None:
    tally = Tally.of(
        BurstResult([Reply("evt_1", 200, "", 0.1)]), Counter({"evt_1": 1}), Counter({"evt_1": 1})
    )

    assert tally.clean and tally.lines()[0] == "on the queue     1 message for 1 event"


def test_a_connection_reset_is_counted_as_no_answer_and_sent_again_never_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = fresh_event("invoice.paid")
    answers: list[Answer | OSError] = [
        ConnectionResetError(104, "Connection reset by peer"),
        Answer(200, "{}", 0.01),
    ]

    def post(url: str, body: bytes, *, secret: str, timeout: float) -> Answer:
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    monkeypatch.setattr(burst, "post", post)

    result = send_all("http://stack/webhook", "whsec_x", [event], 1, sleep=lambda _seconds: None)

    (reply,) = result.replies
    assert (reply.status, reply.attempts) == (200, 2)
    answers.extend([ConnectionRefusedError(111, "Connection refused")] * burst.MAX_ATTEMPTS)
    refused = send_all("http://stack/webhook", "whsec_x", [event], 1, sleep=lambda _seconds: None)
    assert refused.statuses == Counter({burst.NO_ANSWER: 1})  # counted, after every attempt
