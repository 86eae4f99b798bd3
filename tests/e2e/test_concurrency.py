"""Concurrency over real HTTP: simultaneous redeliveries, and a burst with nothing lost or doubled."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from infra.bench.burst import Consumer, send_all, stored_event_ids
from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode, fresh_event
from tests.e2e.conftest import SECRET, LocalStack
from tests.support import drain, get_item

TABLE = "stripe-webhooks-events"


def test_simultaneous_deliveries_of_one_event_publish_once_and_never_answer_2xx_early(
    stack: LocalStack,
) -> None:
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)
    dynamodb = stack.client("dynamodb")
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)
    start = threading.Barrier(16)
    status_when_answered: list[tuple[int, str, str | None]] = []

    def deliver() -> None:
        start.wait()
        answer = post(f"http://127.0.0.1:{stack.port}/webhook", body, secret=SECRET)
        status, text = answer.status, answer.text
        logged = get_item(dynamodb, TABLE, f"EVENT#{event['id']}", "EVENT")
        status_when_answered.append((status, text, None if logged is None else logged["status"]))

    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(16):
            pool.submit(deliver)

    outcomes = Counter(
        "processed" if '"processed"' in text else "duplicate" if '"duplicate"' in text else str(status)
        for status, text, _ in status_when_answered
    )
    assert outcomes["processed"] == 1
    assert set(outcomes) <= {"processed", "duplicate", "409"}
    # Every 2xx was sent only once the event was stored and published
    assert all(logged == "PUBLISHED" for status, _, logged in status_when_answered if status == 200)
    assert [message.attributes["event_id"] for message in drain(sqs, queue_url)] == [event["id"]]


def test_a_burst_of_distinct_events_loses_nothing_and_doubles_nothing(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)
    kinds = ("payment_intent.succeeded", "invoice.paid", "customer.created", "product.created")
    events = [fresh_event(kinds[index % len(kinds)]) for index in range(150)]

    with Consumer(sqs, queue_url) as consumer:  # make burst's default: 16 at once (the backlog holds them)
        result = send_all(f"http://127.0.0.1:{stack.port}/webhook", SECRET, events, concurrency=16)
        consumed = consumer.wait_for(len(events))

    sent = {event["id"] for event in events}
    stored = stored_event_ids(stack.endpoint, TABLE)
    assert result.statuses == Counter({200: len(events)})
    assert {event_id for event_id in sent if stored[event_id] == 1} == sent
    assert {event_id: consumed[event_id] for event_id in sent} == dict.fromkeys(sent, 1)
