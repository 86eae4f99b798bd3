"""Concurrent deliveries over real HTTP to the local stack, and the zero-loss / zero-duplicate check.

Used by the tests (small bursts, asserted) and by the burst benchmark (large, figures printed):

    python -m infra.bench.burst --events 2000 --concurrency 16     (make burst)
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from infra.cli import exit_with
from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode, fresh_event
from infra.local.connect import (
    check_reachable,
    client,
    fill_addresses,
    queries,
    signing_secret,
)
from infra.local.resources import QUEUE_NAME, TABLE_NAME
from stripe_webhook import schema

BURST_TYPES = (
    "payment_intent.succeeded",
    "invoice.paid",
    "charge.succeeded",
    "customer.created",
    "product.created",
)


@dataclass(frozen=True)
class Reply:
    event_id: str
    status: int
    body: str
    seconds: float


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


def send_all(url: str, secret: str, events: list[dict[str, Any]], concurrency: int) -> BurstResult:
    def one(event: dict[str, Any]) -> Reply:
        answer = post(url, encode(event), secret=secret, timeout=60)
        return Reply(event["id"], answer.status, answer.text, answer.seconds)

    result = BurstResult()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        result.replies = list(pool.map(one, events))
    result.wall_seconds = time.perf_counter() - started
    return result


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
    sent = Counter(event["id"] for event in events)
    stored = stored_event_ids(args.aws_endpoint)
    lost = [event_id for event_id in sent if event_id not in consumed or event_id not in stored]
    doubled = [event_id for event_id, count in consumed.items() if count > 1]
    print(f"responses        {dict(sorted(result.statuses.items()))}")
    rate = len(events) / result.wall_seconds
    print(f"throughput       {rate:,.0f} events/s ({result.wall_seconds:.1f} s wall)")
    print(f"latency p50      {result.latency_ms(0.5):.1f} ms")
    print(f"latency p99      {result.latency_ms(0.99):.1f} ms")
    print(f"latency mean     {statistics.fmean(r.seconds for r in result.replies) * 1000:.1f} ms")
    print(f"in the table     {sum(1 for event_id in sent if event_id in stored)} / {len(events)}")
    print(
        f"on the queue     {sum(consumed[event_id] for event_id in sent)} messages for {len(events)} events"
    )
    print(f"lost             {len(lost)}")
    print(f"duplicated       {len(doubled)}")
    return 0 if not lost and not doubled and set(result.statuses) == {200} else 1


if __name__ == "__main__":
    exit_with(main)
