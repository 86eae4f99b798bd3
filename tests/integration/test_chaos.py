"""Chaos: many concurrent deliveries against a model of real DynamoDB and SNS (``tests/aws_model.py``).

A mix of new events, concurrent duplicates (a second endpoint during a secret roll; webhook and
EventBridge both delivering) and several events about the same objects is delivered by 8
threads at once, while the model injects transaction conflicts, throttles, 500s, lost answers
and killed invocations. Whatever did not get a 2xx is delivered again, as Stripe and EventBridge
do, until everything has one. Then, for every event:

- it is in the event log once, ``PUBLISHED``;
- the records equal those of the same events processed one at a time, without faults;
- a FIFO topic carried exactly one copy; a standard topic one, plus at most one for each
  publish whose answer the model lost.

``make test`` runs ``CHAOS_OBJECTS`` = 25 objects per topic kind; ``make chaos`` runs 400. The
counts are printed at the end of the run (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from contract import aws as aws_clients
from infra.fixtures.payloads import available_events, encode, fresh_event
from infra.fixtures.variants import VARIANTS
from infra.local.resources import create_resources
from stripe_webhook import composition, observability
from stripe_webhook.composition import Components
from stripe_webhook.core.events import parse_event
from stripe_webhook.edges import api_gateway, eventbridge
from stripe_webhook.errors import WebhookError
from stripe_webhook.settings import get_settings
from tests.aws_model import AwsModel, Killed, Rates
from tests.integration.conftest import Aws
from tests.support import all_items, drain, signed_request
from tests.support import eventbridge as eventbridge_envelope

CHAOS_OBJECTS = int(os.environ.get("CHAOS_OBJECTS", "25"))
CHAOS_REPORT: list[str] = []
"""Printed by tests/conftest.py at the end of the run."""
WORKERS = 8
INVOCATION_SECONDS = 4.0
LEASE_SECONDS = 3
MAX_ROUNDS = 12
CALM_AFTER_ROUND = 4
"""From this round on the model injects nothing: the outage is over and every retry can succeed."""
VOLATILE = {"updated_at", "received_at", "published_at", "expires_at"}


@dataclass(frozen=True)
class Delivery:
    event: dict[str, Any]
    path: str  # "webhook" | "eventbridge"


def lifecycle(event_type: str) -> int:
    """Creation first, deletion last: the order in which Stripe creates a resource's events."""
    return 0 if event_type.endswith(".created") else 2 if event_type.endswith(".deleted") else 1


def chaos_events(rng: random.Random, objects: int) -> list[dict[str, Any]]:
    """2-4 events about each of ``objects`` objects, every ``created`` distinct."""
    families: dict[str, list[str]] = defaultdict(list)
    for event_type in available_events():
        families[VARIANTS[event_type][0] if event_type in VARIANTS else event_type].append(event_type)
    bases = sorted(families)
    created = int(time.time()) - 1_000_000
    events = []
    for number in range(objects):
        family = families[bases[number % len(bases)]]
        chosen = rng.sample(family, min(len(family), rng.randint(2, 4)))
        for event_type in sorted(chosen, key=lifecycle):
            created += 1
            event = fresh_event(event_type, created=created)
            stripe_object = event["data"]["object"]
            if "id" in stripe_object:  # the balance has none: one balance per account
                stripe_object["id"] = f"{stripe_object['id']}x{number:04d}"
            events.append(event)
    return events


def deliveries(rng: random.Random, events: list[dict[str, Any]]) -> list[Delivery]:
    """Each event once or more; copies of one event, and events of one object, sent close together."""
    by_object: dict[str, list[Delivery]] = defaultdict(list)
    for event in events:
        copies = rng.choice([1, 1, 2, 2, 3])
        paths = ["webhook"] + [rng.choice(["webhook", "eventbridge"]) for _ in range(copies - 1)]
        by_object[event["data"]["object"].get("id", "balance")].extend(
            Delivery(event, path) for path in paths
        )
    groups = list(by_object.values())
    rng.shuffle(groups)
    ordered = []
    for group in groups:
        rng.shuffle(group)
        ordered.extend(group)
    return ordered


def attempt(delivery: Delivery, secret: str) -> str:
    """One delivery as the function's edge receives it: "ok", or why Stripe will send it again."""
    deadline = time.time() + INVOCATION_SECONDS
    try:
        if delivery.path == "eventbridge":
            eventbridge.handle(eventbridge_envelope(delivery.event), composition.components(), deadline)
            return "ok"
        request = signed_request(encode(delivery.event), secret)
        answer = api_gateway.handle(api_gateway.ProxyRequest.of(request), composition.components(), deadline)
        if answer["statusCode"] == 200:
            return "ok"
        return str(json.loads(answer["body"])["error"])
    except Killed:
        return "killed"
    except WebhookError as error:  # the EventBridge edge raises, so Lambda retries
        return error.code


def reference_records(aws: Aws, events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The records the same events leave when processed one at a time, in ``created`` order."""
    resources = create_resources(aws.dynamodb, aws.sns, table_name="reference", topic_name="reference")
    settings = get_settings()
    settings = type(settings)(
        **{**vars(settings), "table_name": "reference", "topic_arn": resources.topic_arn}
    )
    pipeline = Components(settings, dynamodb=boto3.client("dynamodb"), sns=boto3.client("sns")).pipeline
    for event in events:
        pipeline.process(parse_event(encode(event)))
    return records(aws, "reference")


def records(aws: Aws, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (item["pk"], item["sk"]): {name: value for name, value in item.items() if name not in VOLATILE}
        for item in all_items(aws.dynamodb, table)
        if item["sk"] != "EVENT"
    }


@pytest.mark.slow  # a randomized run of many deliveries: make test and CI, not make check
@pytest.mark.parametrize("topic", ["standard", "fifo"])
def test_every_event_is_stored_once_published_and_recorded_as_if_alone(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, secret: str, topic: str
) -> None:
    aws: Aws = request.getfixturevalue("fifo_aws" if topic == "fifo" else "aws")
    # moto's transactions roll back the items they touch (conftest.item_level_rollback): linear
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1_000_000)))
    rng = random.Random(seed)
    events = chaos_events(rng, CHAOS_OBJECTS)
    expected = reference_records(aws, events)

    # Scaled down from 28 s invocations and 60 s leases, so killed claims expire within the test.
    # The mark keeps over 1 s (on AWS: over 11 s) for its retries: conflicts last milliseconds.
    monkeypatch.setenv("IN_PROGRESS_LEASE_SECONDS", str(LEASE_SECONDS))
    monkeypatch.setattr("stripe_webhook.core.budget.MIN_LEASE_SECONDS", 1)
    monkeypatch.setattr("stripe_webhook.core.budget.PUBLISH_BUDGET_SECONDS", 1.2)
    monkeypatch.setattr("stripe_webhook.core.budget.CALL_BUDGET_SECONDS", 0.1)
    metrics = _count_metrics(monkeypatch)
    composition.reset()
    model = AwsModel(Rates(), seed)
    model.install(aws_clients.session())
    components = composition.components()
    _ = (components.pipeline, components.store.client, components.publisher.client)  # before threads

    pending = deliveries(rng, events)
    answers: Counter[str] = Counter()
    sent = rounds = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        while pending and rounds < MAX_ROUNDS:
            rounds += 1
            if rounds == CALM_AFTER_ROUND:
                model.calm()
            results = list(pool.map(lambda delivery: attempt(delivery, secret), pending))
            sent += len(pending)
            answers.update(results)
            waiting = [result for result in results if result in ("in_progress", "killed")]
            pending = [delivery for delivery, result in zip(pending, results, strict=True) if result != "ok"]
            if waiting:
                time.sleep(LEASE_SECONDS + 0.2)  # Stripe's retry comes after the lease
    seconds = time.perf_counter() - started

    copies = Counter(message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url))
    not_marked = metrics["PublishedNotMarked"]
    CHAOS_REPORT.append(
        f"chaos ({topic} topic, seed {seed}): {len(events)} events, {sent} deliveries in {rounds} rounds,"
        f" {seconds:.1f} s; answers: {_listed(answers)}"
    )
    CHAOS_REPORT.append(f"  faults injected: {_listed(model.injected)}")
    spread = Counter(copies[event["id"]] for event in events)
    CHAOS_REPORT.append(
        f"  copies per event: {_listed(Counter({f'{n}x': count for n, count in spread.items()}))};"
        f" published but not marked: {not_marked}"
    )

    assert not pending, (
        f"still failing after {MAX_ROUNDS} rounds: {Counter(attempt(d, secret) for d in pending)}"
    )
    for event in events:
        logged = aws.queries.get_event(event["id"])
        assert logged is not None and logged["status"] == "PUBLISHED", (event["id"], logged)
        if topic == "fifo":
            assert copies[event["id"]] == 1, event["id"]
        else:
            allowed = 1 + model.lost_publishes[event["id"]]
            assert 1 <= copies[event["id"]] <= allowed, (event["id"], copies[event["id"]])
    assert set(copies) == {event["id"] for event in events}
    assert not_marked == 0  # the model never fails every attempt of a whole invocation
    assert records(aws, aws.table) == expected


def _count_metrics(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the function's metrics thread-safely (Powertools' metric set is one per container)."""
    counted: Counter[str] = Counter()
    lock = threading.Lock()

    def count(name: str) -> None:
        with lock:
            counted[name] += 1

    for module in (observability, api_gateway, eventbridge):
        monkeypatch.setattr(module, "count", count)
    return counted


def _listed(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counter.most_common()) or "none"
