"""Concurrent deliveries over real HTTP to the local stack, and the zero-loss / zero-duplicate check.

Used by the tests (small bursts, asserted) and by the burst benchmark (large, figures printed):

    python -m infra.bench.burst --events 2000 --concurrency 16     (make burst)

An answer Stripe would retry (409, 429, 5xx) is retried as Stripe does, with backoff, a bounded
number of times: the webhook's contract is that such an event is not yet processed, not that it is
lost. Lost means acknowledged (2xx) and then missing from the table or the queue; doubled means
more than one message for one event.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from infra.cli import exit_with
from infra.fixtures.delivery import Answer, post
from infra.fixtures.payloads import encode, fresh_event
from infra.local.connect import (
    check_reachable,
    client,
    fill_addresses,
    queries,
    signing_secret,
)
from infra.local.resources import QUEUE_NAME, TABLE_NAME
from infra.local.views import count
from stripe_webhook.adapters import schema

BURST_TYPES = (
    "payment_intent.succeeded",
    "invoice.paid",
    "charge.succeeded",
    "customer.created",
    "product.created",
)


MAX_ATTEMPTS = 6
"""Deliveries of one event at most (Stripe's retries go on for three days; a burst's must end)."""
FIRST_BACKOFF_SECONDS = 0.2


@dataclass(frozen=True)
class Reply:
    event_id: str
    status: int
    body: str
    seconds: float
    attempts: int = 1
    answered_at: float = 0.0
    """Wall-clock time the final answer arrived (what an action's effect is timed from)."""


NO_ANSWER = 0
"""A delivery that got no HTTP answer (the connection refused or reset): Stripe sends it again."""


def retryable(status: int) -> bool:
    """What Stripe delivers again: anything but a 2xx; here the answers the contract says are not
    final (409 in progress, 429 throttled, 5xx) and no answer at all, since a 4xx repeats itself."""
    return status in (NO_ANSWER, 409, 429) or status >= 500


@dataclass
class BurstResult:
    replies: list[Reply] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def statuses(self) -> Counter[int]:
        return Counter(reply.status for reply in self.replies)

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted(reply.seconds for reply in self.replies)
        index = min(len(latencies) - 1, round(quantile * (len(latencies) - 1)))
        return latencies[index] * 1000


def send_all(
    url: str,
    secret: str,
    events: list[dict[str, Any]],
    concurrency: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> BurstResult:
    def one(event: dict[str, Any]) -> Reply:
        body, spent = encode(event), 0.0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                answer = post(url, body, secret=secret, timeout=60)
            except OSError as error:  # reset, refused, timed out: counted, never a traceback
                answer = Answer(NO_ANSWER, type(error).__name__, time.perf_counter() - started)
            spent += answer.seconds
            if not retryable(answer.status) or attempt == MAX_ATTEMPTS:
                break
            sleep(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))  # noqa: S311
        return Reply(event["id"], answer.status, answer.text, spent, attempt, time.time())

    result = BurstResult()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        result.replies = list(pool.map(one, events))
    result.wall_seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Tally:
    """What became of a burst's events, from the answers, the table and the consumer queue."""

    acknowledged: list[str]
    unacknowledged: list[str]
    lost: list[str]
    doubled: list[str]
    messages: int

    @classmethod
    def of(cls, result: BurstResult, stored: Counter[str], consumed: Counter[str]) -> Tally:
        acked = [reply.event_id for reply in result.replies if 200 <= reply.status < 300]
        return cls(
            acknowledged=acked,
            unacknowledged=[reply.event_id for reply in result.replies if not 200 <= reply.status < 300],
            lost=[event_id for event_id in acked if not stored[event_id] or not consumed[event_id]],
            doubled=[reply.event_id for reply in result.replies if consumed[reply.event_id] > 1],
            messages=sum(consumed[reply.event_id] for reply in result.replies),
        )

    def lines(self) -> list[str]:
        events = len(self.acknowledged) + len(self.unacknowledged)
        lines = [f"on the queue     {count(self.messages, 'message')} for {count(events, 'event')}"]
        if self.messages != events:
            why = [f"{len(self.unacknowledged)} never acknowledged"] if self.unacknowledged else []
            why += [f"{len(self.lost)} lost"] if self.lost else []
            why += [f"{len(self.doubled)} doubled"] if self.doubled else []
            lines.append(f"                 the difference: {', '.join(why) or 'still in flight'}")
        lines.append(f"lost             {len(self.lost)}   (acknowledged with a 2xx, then missing)")
        lines.append(f"duplicated       {len(self.doubled)}")
        if self.unacknowledged:
            lines.append(
                f"not acknowledged {len(self.unacknowledged)} after {MAX_ATTEMPTS} attempts each:"
                " not lost, Stripe would keep retrying them"
            )
        return lines

    @property
    def clean(self) -> bool:
        return not self.lost and not self.doubled and not self.unacknowledged


def stored_event_ids(endpoint: str, table: str = TABLE_NAME) -> Counter[str]:
    """Published event-log entries (a Scan: fine for the local stack)."""
    scanned = queries(endpoint, table).scan_event_log(("event_id",), status=schema.PUBLISHED)
    return Counter(item["event_id"] for item in scanned)


class Consumer:
    """A downstream consumer draining the queue while the burst runs, counting event ids."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.ids: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Consumer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.receive():
                time.sleep(0.02)

    def receive(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["event_id"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        for message in messages:
            self.ids[message["MessageAttributes"]["event_id"]["StringValue"]] += 1
        if messages:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return len(messages)

    def wait_for(self, expected: int, timeout: float = 60.0) -> Counter[str]:
        """Keep consuming until ``expected`` messages arrived, then a little longer for strays."""
        deadline = time.monotonic() + timeout
        while sum(self.ids.values()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything doubled would arrive about now
        return self.ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.burst", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=2000, help="distinct events to send (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel senders (default 16)")
    parser.add_argument("--url", default=None, help="default: the running stack's webhook")
    parser.add_argument("--aws-endpoint", default=None, help="default: the running stack's endpoint")
    args = parser.parse_args(argv)
    fill_addresses(args)
    check_reachable(args.url, "webhook", "Start the local stack first: make run")
    secret = signing_secret(args.aws_endpoint)
    sqs = client("sqs", args.aws_endpoint)
    queue_url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    events = [fresh_event(BURST_TYPES[index % len(BURST_TYPES)]) for index in range(args.events)]
    print(f"sending {args.events} events at concurrency {args.concurrency} to {args.url} ...", flush=True)
    with Consumer(sqs, queue_url) as consumer:
        while consumer.receive():  # start from an empty queue
            pass
        consumer.ids.clear()
        result = send_all(args.url, secret, events, args.concurrency)
        consumed = consumer.wait_for(len(events))
    tally = Tally.of(result, stored_event_ids(args.aws_endpoint), consumed)
    retried = sum(1 for reply in result.replies if reply.attempts > 1)
    shown = {
        ("no answer" if status == NO_ANSWER else status): n for status, n in sorted(result.statuses.items())
    }
    print(f"responses        {shown}   (after retries; {retried} retried)")
    rate = len(events) / result.wall_seconds
    print(f"throughput       {rate:,.0f} events/s ({result.wall_seconds:.1f} s wall)")
    print(f"latency p50      {result.latency_ms(0.5):.1f} ms   (all attempts of an event)")
    print(f"latency p99      {result.latency_ms(0.99):.1f} ms")
    print(f"latency mean     {statistics.fmean(r.seconds for r in result.replies) * 1000:.1f} ms")
    print("\n".join(tally.lines()))
    return 0 if tally.clean else 1


if __name__ == "__main__":
    exit_with(main)
