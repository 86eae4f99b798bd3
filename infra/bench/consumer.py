"""The consumer kit's figures: an actions function's cold start and warm CPU per message, against a
bare SQS-triggered function making the same DynamoDB write, and the AWS calls per message.

The action measured is ``entitlement``: one DynamoDB write per business fact, read from the
subscription's record, which the message carries as the webhook publishes it. Ours parses and
validates each message against the contract inside Powertools' ``BatchProcessor`` and makes the
write with its note, and a check that the record is still the stored one, in one transaction (a
write action: ``stripe_actions.handled``). The floor is what a tutorial's SQS handler does:
``json.loads`` the body and ``put_item`` the same item conditioned on an older state, with no
validation, no record and no idempotency.

Messages come in batches of ``BATCH`` as Lambda's SQS event source sends them; the subscription
records they refer to are seeded first (untimed). Each variant runs in a fresh process
(``python -m infra.bench.consumer --child …``) against the AWS endpoint of ``infra.bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import statistics
import time
from collections import Counter
from typing import Any

from infra.bench.cold import cold_run
from infra.bench.environment import TRACE_HEADER, child_environment, compiled_as_shipped, run_python
from infra.bench.warm import cpu_ms_per_call, in_turn
from infra.cli import exit_with
from infra.local.action_runners import sqs_lambda_event
from infra.local.resources import ACTIONS_TABLE_NAME, IDEMPOTENCY_TABLE_NAME

ACTION = "entitlement"
RECORDS_TABLE = "stripe-webhooks-bench-records"
"""The records the consumer reads live in a table of their own: moto answers a Query by reading
every item of the table, and the webhook's runs leave thousands in the events table."""
BATCH = 10
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:stripe-actions-entitlement"


def consumer_environment(env: dict[str, str]) -> dict[str, str]:
    """The entitlement function's environment, as the template sets it, on the bench's endpoint."""
    return {
        **env,
        "TABLE_NAME": RECORDS_TABLE,
        "ACTIONS": ACTION,
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE_NAME,
        "ACTIONS_TABLE": ACTIONS_TABLE_NAME,
        "PAYLOAD_BUCKET": "stripe-webhooks-payloads",
    }


def subscription_events(count: int) -> list[dict[str, Any]]:
    """``customer.subscription.updated`` events, each about a subscription of its own."""
    from infra.fixtures.payloads import fresh_event

    events = []
    for _ in range(count):
        event = fresh_event("customer.subscription.created", type="customer.subscription.updated")
        suffix = secrets.token_hex(8)
        event["data"]["object"]["id"] = f"sub_bench{suffix}"
        event["data"]["object"]["customer"] = f"cus_bench{suffix}"
        events.append(event)
    return events


def seed_records(dynamodb: Any, table: str, events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Write the records the webhook would have written for ``events`` (its own handler decides
    them, its claim's ``record_item`` makes the items); each event's object's record, by event id."""
    from contract.records import object_key
    from stripe_webhook.adapters.claim import record_item
    from stripe_webhook.adapters.dynamo_items import to_item
    from stripe_webhook.core.events import parse_event
    from stripe_webhook.core.ordering import RecordWrite
    from stripe_webhook.handlers import build_registry

    registry, now = build_registry(), time.time()
    items, own = [], {}
    for event in events:
        parsed = parse_event(json.dumps(event).encode())
        route = registry.resolve(parsed.type)
        assert route is not None and parsed.object_id is not None
        for record in route.handler(parsed):
            item = record_item(RecordWrite.first(parsed, record), now)
            if (record.pk, record.sk) == object_key(parsed.object_id):
                own[parsed.id] = item
            items.append({"PutRequest": {"Item": to_item(item)}})
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={table: items[start : start + 25]})
    return own


def lambda_event(
    events: list[dict[str, Any]], records: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The SQS event Lambda sends for these events, published as the webhook publishes them: with
    the record each delivery wrote (``records``, by event id), where it fits."""
    from stripe_webhook.adapters.publisher import add_record, message_attributes, message_body
    from stripe_webhook.core.events import parse_event

    messages = []
    for event in events:
        parsed = parse_event(json.dumps(event).encode())
        attributes = message_attributes(parsed)
        body = message_body(parsed, attributes, None)
        add_record(attributes, len(parsed.raw), (records or {}).get(parsed.id))
        messages.append(
            {
                "MessageId": secrets.token_hex(16),
                "ReceiptHandle": secrets.token_hex(16),
                "Body": body,
                "Attributes": {"ApproximateReceiveCount": "1", "AWSTraceHeader": TRACE_HEADER},
                "MessageAttributes": attributes,
            }
        )
    return sqs_lambda_event(messages, QUEUE_ARN)


def records_table(env: dict[str, str]) -> Any:
    """A DynamoDB client on the bench's endpoint, with ``RECORDS_TABLE`` made as the template's
    events table (once)."""
    from infra.local.connect import client
    from infra.local.resources import create_table
    from infra.template import TABLE_RESOURCE

    dynamodb = client("dynamodb", env["AWS_ENDPOINT_URL"])
    if RECORDS_TABLE not in dynamodb.list_tables()["TableNames"]:
        create_table(dynamodb, RECORDS_TABLE, TABLE_RESOURCE)
    return dynamodb


def cold_consumer_starts(env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall ms and peak MB of a fresh process handling one batch of one new message, ours
    and the floor's, runs interleaved so drift hits both alike."""
    compiled_as_shipped()
    env = consumer_environment(env)
    events = subscription_events(2 * runs)
    records = seed_records(records_table(env), RECORDS_TABLE, events)
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "floor": []}
    for index in range(runs):
        for offset, (name, taken) in enumerate(samples.items()):
            taken.append(
                cold_run(f"cold_consumer_{name}", lambda_event([events[2 * index + offset]], records), env)
            )
    return {
        name: (statistics.median(s[0] for s in taken) * 1000, statistics.median(s[1] for s in taken))
        for name, taken in samples.items()
    }


def warm_consumer(env: dict[str, str], messages: int, rounds: int = 3) -> dict[str, Any]:
    """Each variant in a fresh process, ``rounds`` times, ours and the floor's runs alternating so
    that what the machine does meanwhile falls on both: CPU per message (new, and for ours
    duplicate) and calls. Each figure is the median of its rounds; ``ratios`` are each round's ours
    per new message over the floor's, whose median the budget bounds."""
    records_table(consumer_environment(env))
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": []}
    for round_ in range(rounds):
        for kind in in_turn(round_, ("ours", "floor")):
            arguments = ["-m", "infra.bench.consumer", "--child", kind, "--messages", str(messages)]
            result = run_python(
                arguments, child_environment(consumer_environment(env), ""), f"the consumer {kind} run"
            )
            runs[kind].append(json.loads(result.stdout.strip().splitlines()[-1]))
    figures: dict[str, Any] = dict(runs["ours"][-1])  # the call counts: the same every round
    for name in ("ours_new", "ours_duplicate"):
        figures[name] = statistics.median(run[name] for run in runs["ours"])
    figures["floor_new"] = statistics.median(run["floor_new"] for run in runs["floor"])
    figures["ratios"] = sorted(
        ours["ours_new"] / floor["floor_new"] for ours, floor in zip(runs["ours"], runs["floor"], strict=True)
    )
    return figures


def child_ours(messages: int) -> dict[str, Any]:
    from contract import aws
    from infra.lambda_context import LambdaContext
    from stripe_actions.app import lambda_handler

    events = subscription_events(messages + BATCH)
    records = seed_records(aws.client("dynamodb"), os.environ["TABLE_NAME"], events)
    batches = [lambda_event(events[start : start + BATCH], records) for start in range(0, len(events), BATCH)]
    recorded: list[tuple[str, dict[str, Any]]] = []

    def record(event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
        recorded.append((event_name, params))

    hook: Any = record
    aws.session().register("before-parameter-build", hook)
    failures: list[Any] = []

    def handle(batch: dict[str, Any]) -> None:
        context: Any = LambdaContext(timeout_seconds=30)
        failures.extend(lambda_handler(batch, context)["batchItemFailures"])

    with contextlib.redirect_stdout(io.StringIO()):
        handle(batches[0])  # warm the container: clients, models, the compiled contract
        recorded.clear()
        new_ms = cpu_ms_per_call(handle, iter(batches[1:]).__next__, len(batches) - 1) / BATCH
        calls_new = list(recorded)
        recorded.clear()
        duplicate_ms = cpu_ms_per_call(handle, iter(batches[1:]).__next__, len(batches) - 1) / BATCH
        calls_duplicate = list(recorded)
    if failures:
        raise SystemExit(f"the consumer failed {len(failures)} messages")

    return {
        "ours_new": new_ms,
        "ours_duplicate": duplicate_ms,
        "calls_new": len(calls_new) / messages,
        "calls_duplicate": len(calls_duplicate) / messages,
        "calls_by_operation": dict(Counter(name.split(".", 2)[2] for name, _ in calls_new)),
    }


def child_floor(messages: int) -> dict[str, Any]:
    from infra.bench.programs.cold_consumer_floor import handle

    events = subscription_events(messages + BATCH)
    batches = [lambda_event(events[start : start + BATCH]) for start in range(0, len(events), BATCH)]
    handle(batches[0])

    def work(batch: dict[str, Any]) -> None:
        handle(batch)

    return {"floor_new": cpu_ms_per_call(work, iter(batches[1:]).__next__, len(batches) - 1) / BATCH}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.consumer", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--child", choices=["ours", "floor"], required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args(argv)
    figures = child_ours(args.messages) if args.child == "ours" else child_floor(args.messages)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    exit_with(main)
