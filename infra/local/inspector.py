"""Look inside the local stack: recent events, one event in full, and the consumer queue.

python -m infra.local.inspector events [--limit 20] [--type invoice.paid]
python -m infra.local.inspector event evt_123    # the stored event, its record, its published message
python -m infra.local.inspector tail [--follow]  # messages on the consumer queue (consumes them)
python -m infra.local.inspector actions          # the example actions performed, and the emails sent
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from contract import RECORD
from contract.aws import error_code
from infra.cli import Problem, exit_with
from infra.local.connect import (
    DEFAULT_ENDPOINT,
    check_reachable,
    client,
    fill_addresses,
    queries,
)
from infra.local.resources import IDEMPOTENCY_TABLE_NAME, QUEUE_NAME, TABLE_NAME
from infra.local.views import aligned, count, event_records, handler_label, shown, summarize
from stripe_webhook.adapters.bodies import UnreadableBody

if TYPE_CHECKING:
    from stripe_webhook.adapters.queries import TableQueries

FOLLOW_LIMIT_SECONDS = 3600


_LISTED = ("event_id", "event_type", "created", "received_at", "status", "handler")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.inspector",
        description="Look inside the local stack's table, consumer queue and example actions.",
    )
    endpoint_help = f"local AWS endpoint (default: the running stack's, else {DEFAULT_ENDPOINT})"
    parser.add_argument("--aws-endpoint", default=None, help=endpoint_help)
    parser.add_argument("--table", default=TABLE_NAME, help=f"default {TABLE_NAME}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    events = commands.add_parser("events", help="recent events from the event log, newest first")
    events.add_argument("--aws-endpoint", default=argparse.SUPPRESS, help=endpoint_help)
    events.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    events.add_argument("--type", help="only this event type")

    event = commands.add_parser("event", help="one event: log entry, record, and the message consumers got")
    event.add_argument("--aws-endpoint", default=argparse.SUPPRESS, help=endpoint_help)
    event.add_argument("event_id", help="evt_...")
    event.add_argument("--payload", action="store_true", help="also print the full stored payload")

    tail = commands.add_parser("tail", help="print (and consume) messages on the consumer queue")
    tail.add_argument("--aws-endpoint", default=argparse.SUPPRESS, help=endpoint_help)
    tail.add_argument("--queue", default=QUEUE_NAME, help=f"queue name (default {QUEUE_NAME})")
    tail.add_argument("--follow", action="store_true", help="keep waiting for new messages (Ctrl-C to stop)")

    actions = commands.add_parser(
        "actions",
        help="the example actions performed (action, business key, time, outcome); the emails SES accepted",
    )
    actions.add_argument("--aws-endpoint", default=argparse.SUPPRESS, help=endpoint_help)
    return parser.parse_args(argv)


def recent_events(table: TableQueries, limit: int, event_type: str | None) -> list[str]:
    """A Scan: fine for the local stack's small table (the deployed function never scans)."""
    wanted = event_type or ""  # a type, or a prefix of types (``invoice.``), as the inbox filters
    items = [
        item for item in table.scan_event_log(_LISTED) if str(item.get("event_type", "")).startswith(wanted)
    ]
    items.sort(key=lambda item: (item.get("received_at", 0), item.get("created", 0)), reverse=True)
    rows = [
        (
            time.strftime("%H:%M:%S", time.localtime(item.get("received_at", 0))),
            str(item["event_id"]),
            str(item["event_type"]),
            str(item.get("status", "?")),
            handler_label(item.get("handler")),
        )
        for item in items[:limit]
    ]
    return aligned(rows) or [
        f"no events of a type starting {wanted!r} stored yet" if wanted else "no events stored yet"
    ]


def show_event(table: TableQueries, event_id: str, payload: bool) -> list[str]:
    from stripe_webhook.adapters.publisher import stored_message

    try:
        stored = table.get_event(event_id)
    except UnreadableBody as error:
        raise Problem(f"event {event_id}: its stored body cannot be read ({error})") from None
    if stored is None:
        raise Problem(f"no event {event_id} in {table.table_name} (see: make inspect)")
    raw = stored.pop("payload", None)
    lines = ["event log:"]
    lines += [
        f"  {name}: {shown(name, value)}"
        for name, value in sorted(stored.items())
        if name not in ("pk", "sk")
    ]
    written = event_records(table, raw, event_id) if isinstance(raw, str) else []
    for pk, sk, item, ours in written:
        effect = "written by this event" if ours else "not this event's: stale, or replaced since"
        fields = summarize(item) if item else "(absent)"
        lines.append(f"record {pk} / {sk} ({effect}): {fields}")
    if not written:
        lines.append("records: none (no handler for this type)")
    if isinstance(raw, str):
        body, attributes = stored_message({**stored, "payload": raw})
        lines.append("published message:")
        lines.append(
            "  attributes: " + json.dumps({name: value["StringValue"] for name, value in attributes.items()})
        )
        lines.append(
            "  body: "
            + ("S3 pointer (event too large for SNS): " + body if body != raw else "the event JSON")
        )
        if payload:
            lines.append(raw)
    return lines


def tail(sqs: Any, queue: str, follow: bool) -> int:
    queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    deadline = time.monotonic() + FOLLOW_LIMIT_SECONDS
    if follow:
        print(f"waiting for messages on {queue} (Ctrl-C to stop) ...", flush=True)
    seen = 0
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1 if follow else 0,
        )
        for message in response.get("Messages", []):
            attributes = {
                name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()
            }
            size = len(message["Body"].encode())
            record = attributes.pop(RECORD, None)  # the record it carries: its size, not its fields
            carried = f"  + the record its delivery wrote ({len(record)} bytes)" if record is not None else ""
            print(
                f"{attributes.get('event_type', '?'):<42} {attributes.get('event_id', '?')}  {size} bytes  "
                + json.dumps(attributes)
                + carried,
                flush=True,
            )
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            seen += 1
        if not response.get("Messages") and (not follow or time.monotonic() > deadline):
            break
    if not follow:
        print(count(seen, "message"))
    return seen


def performed_actions(dynamodb: Any) -> list[str]:
    """The Powertools idempotency records (the actions done or in progress, newest last) and the
    effect ledger's entries (the emails and alerts sent, and those uncertain: ``ops effects``)."""
    from stripe_actions.effects import EFFECT_PREFIX, UNCERTAIN, EffectLedger
    from stripe_webhook.adapters.dynamo_items import from_item

    try:
        records = [
            from_item(item)
            for page in dynamodb.get_paginator("scan").paginate(TableName=IDEMPOTENCY_TABLE_NAME)
            for item in page["Items"]
            if not item["id"]["S"].startswith(EFFECT_PREFIX)
        ]
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        return ["the example actions are not running (the stack was started with --no-actions)"]
    rows = []
    for record in records:
        if record.get("status") == "COMPLETED":
            done = json.loads(record.get("data") or "{}")
            rows.append(
                (
                    int(done.get("at", 0)),
                    done.get("action", "?"),
                    done.get("key", "?"),
                    f"done: {done.get('detail', '')}",
                )
            )
        else:
            until = int(record.get("in_progress_expiration", 0)) // 1000
            rows.append((until, "?", record["id"], f"in progress (taken over after {_clock(until)})"))
    rows.sort()
    lines = aligned([(_clock(at), str(action), str(key), outcome) for at, action, key, outcome in rows])
    lines = lines or ["no actions performed yet"]
    entries = sorted(
        EffectLedger(IDEMPOTENCY_TABLE_NAME, remember_seconds=0, client=dynamodb).entries(),
        key=lambda entry: int(entry.get("started_at", 0)),
    )
    done = [entry for entry in entries if entry.get("status") == "DONE"]
    lines.append(f"effects done (emails SES accepted, alerts SNS accepted): {len(done)}")
    for entry in entries:
        details = entry.get("details") if isinstance(entry.get("details"), dict) else None
        to = f"  to {details['to']}" if details and "to" in details else ""
        at = _clock(int(entry.get("started_at", 0)))
        if entry.get("status") == "DONE":
            lines.append(f"  {at}  {entry['effect']}{to}  {entry.get('result', '')}")
        else:
            why = entry.get("reason") if entry.get("status") == UNCERTAIN else "started, never finished"
            lines.append(
                f'  {at}  {entry["effect"]}{to}  UNCERTAIN: {why}; settle it: make ops ARGS="effects --local"'
            )
    return lines


def _clock(timestamp: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fill_addresses(args)
    try:
        check_reachable(args.aws_endpoint, "local AWS endpoint", "Start the local stack first: make run")
        if args.command == "events":
            print("\n".join(recent_events(queries(args.aws_endpoint, args.table), args.limit, args.type)))
        elif args.command == "event":
            print("\n".join(show_event(queries(args.aws_endpoint, args.table), args.event_id, args.payload)))
        elif args.command == "actions":
            print("\n".join(performed_actions(client("dynamodb", args.aws_endpoint))))
        else:
            tail(client("sqs", args.aws_endpoint), args.queue, args.follow)
    except (ClientError, BotoCoreError) as error:
        raise Problem(f"the local AWS endpoint refused the request: {error}") from error
    except KeyboardInterrupt:  # the end of tail --follow
        return 0
    return 0


if __name__ == "__main__":
    exit_with(main)
