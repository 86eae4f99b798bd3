"""Send realistic, correctly signed Stripe events to a local webhook, like ``stripe trigger``.

No network beyond the local webhook, no Stripe account. Payloads are the tests' own (``infra.fixtures``).

    python -m infra.local.trigger payment_intent.succeeded
    python -m infra.local.trigger --flow checkout --shuffle
    python -m infra.local.trigger invoice.paid --resend        # see dedup
    python -m infra.local.trigger charge.refunded --tamper     # see the 400
    python -m infra.local.trigger invoice.paid --undelivered   # Stripe could not deliver it: the reconciler
    python -m infra.local.trigger --list
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.cli import Problem, exit_with
from infra.fixtures.delivery import Answer, post
from infra.fixtures.flows import FLOWS
from infra.fixtures.payloads import (
    encode,
)
from infra.fixtures.signing import signature_header
from infra.fixtures.versions import GENERATIONS
from infra.local.connect import (
    DEFAULT_ENDPOINT,
    DEFAULT_WEBHOOK_URL,
    SECRET_NAME,
    START_HINT,
    check_reachable,
    client,
    fill_addresses,
    queries,
    signing_secret,
)
from infra.local.resources import TABLE_NAME
from infra.local.stripe_standin import keep_sent, sent_bucket, store_undelivered
from infra.local.trigger_events import build_events, list_events
from infra.local.views import count, handler_label, record_line
from stripe_webhook.adapters.bodies import UnreadableBody
from stripe_webhook.settings import API_VERSION

if TYPE_CHECKING:
    from stripe_webhook.adapters.queries import TableQueries

STALE_SECONDS = 600


THIN_TYPE = "v1.billing.meter.error_report_triggered"


@dataclass(frozen=True)
class Delivery:
    event: dict[str, Any]
    body: bytes
    header: str
    note: str = ""
    expect_rejection: bool = False


DESCRIPTION = (
    "Send realistic, signed Stripe events to the local webhook (like `stripe trigger`, offline). "
    "The secret comes from STRIPE_WEBHOOK_SECRET, else from the running local stack."
)
OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("event_type",), {"nargs": "?", "help": "the event type to send, e.g. payment_intent.succeeded"}),
    (("--flow",), {"choices": sorted(FLOWS), "help": "send a whole realistic flow, in order"}),
    (("--list",), {"action": "store_true", "help": "list the event types and flows, then exit"}),
    (("--payload",), {"type": Path, "metavar": "FILE", "help": "send this event JSON file, signed now"}),
    (
        ("--thin",),
        {
            "nargs": "?",
            "const": THIN_TYPE,
            "metavar": "TYPE",
            "help": "send a thin event notification to <url>/thin: for a handled type (invoice.paid or "
            "v1.invoice.paid) the v1 notification, its object served to the function's fetch by the local "
            f"Stripe API stand-in; any other type as a generic one (default {THIN_TYPE})",
        },
    ),
    (
        ("--replay",),
        {"metavar": "EVT_ID", "help": "send a stored event again, exactly as stored (expect a duplicate)"},
    ),
    (("--resend",), {"action": "store_true", "help": "deliver every event twice (new signature): dedup"}),
    (("--shuffle",), {"action": "store_true", "help": "send the flow's events in random order"}),
    (("--seed",), {"type": int, "help": "random seed for --shuffle (to repeat an order)"}),
    (("--tamper",), {"action": "store_true", "help": "change the body after signing (expect 400)"}),
    (
        ("--undelivered",),
        {
            "action": "store_true",
            "help": "do not send it: keep it in the local Stripe API stand-in as an event Stripe could not"
            " deliver (GET /v1/events lists it), for the local stack's reconciler to recover",
        },
    ),
    (("--stale",), {"action": "store_true", "help": f"sign {STALE_SECONDS}s in the past (expect 400)"}),
    (("--account",), {"help": "send as a Connect event for this acct_ id"}),
    (
        ("--fixed-ids",),
        {
            "action": "store_true",
            "help": "keep the stored payloads' object ids and times (to test collisions on purpose); by "
            "default every run uses fresh ids, so runs never interfere, and the objects' times (periods, "
            "due dates) are moved to now, their distances kept",
        },
    ),
    (
        ("--api-version",),
        {
            "choices": GENERATIONS,
            "default": API_VERSION,
            "help": "render the events as an endpoint on this Stripe API version receives them "
            f"(default: the stack's pinned {API_VERSION}; older ones test what an older endpoint sends)",
        },
    ),
    (("--table",), {"default": TABLE_NAME, "help": f"table to read back (default {TABLE_NAME})"}),
    (("--no-inspect",), {"action": "store_true", "help": "do not read back what was stored"}),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.trigger", description=DESCRIPTION)
    for names, options in OPTIONS:
        parser.add_argument(*names, **options)
    parser.add_argument(
        "--url",
        default=None,
        help="webhook URL (default: the running stack's, from .local-stack.json, "
        f"else {DEFAULT_WEBHOOK_URL})",
    )
    parser.add_argument(
        "--aws-endpoint",
        default=None,
        help="local AWS endpoint, to show what was stored (default: the running stack's, "
        f"else {DEFAULT_ENDPOINT})",
    )
    args = parser.parse_args(argv)
    sources = [name for name in ("event_type", "flow", "payload", "replay", "thin") if getattr(args, name)]
    if not args.list and not sources:
        parser.error("name an event type, a --flow, a --payload FILE or --replay evt_… (see --list)")
    if len(sources) > 1:
        parser.error("give one of an event type, --flow, --payload, --replay and --thin")
    if args.shuffle and not args.flow:
        parser.error("--shuffle needs a --flow")
    if args.undelivered and (args.thin or args.replay or args.tamper or args.stale or args.resend):
        parser.error(
            "--undelivered keeps events for the reconciler: no --thin, --replay, --tamper, --stale, --resend"
        )
    return args


def deliveries(events: list[dict[str, Any]], secret: str, args: argparse.Namespace) -> list[Delivery]:
    planned = []
    for event in events:
        body = encode(event)
        now = int(time.time())
        if args.tamper:
            tampered = body.replace(b'"livemode": false', b'"livemode": true', 1)
            if tampered == body:
                tampered = body + b" "
            planned.append(Delivery(event, tampered, signature_header(body, secret, now), "tampered", True))
            continue
        if args.stale:
            header = signature_header(body, secret, now - STALE_SECONDS)
            planned.append(Delivery(event, body, header, f"signed {STALE_SECONDS}s ago", True))
            continue
        planned.append(Delivery(event, body, signature_header(body, secret, now)))
        if args.resend:
            header = signature_header(body, secret, now + 1)
            planned.append(Delivery(event, body, header, "redelivery"))
    return planned


def send(url: str, delivery: Delivery) -> Answer:
    try:
        return post(url, delivery.body, header=delivery.header)
    except OSError as error:
        raise Problem(f"could not reach {url}: {error}. {START_HINT}") from None


def secret_mismatch_hint(secret: str, aws_endpoint: str) -> str:
    """Why a trigger's own signature was refused: almost always a stale STRIPE_WEBHOOK_SECRET."""
    from_shell = bool(os.environ.get("STRIPE_WEBHOOK_SECRET"))
    try:
        stack_secret = client("secretsmanager", aws_endpoint).get_secret_value(SecretId=SECRET_NAME)[
            "SecretString"
        ]
    except Exception:  # the stack's endpoint is elsewhere: say what is known
        stack_secret = None
    if stack_secret is not None and secret not in stack_secret.split(","):
        where = "STRIPE_WEBHOOK_SECRET in your shell" if from_shell else "the secret used"
        return f"hint: {where} is not the running stack's signing secret. " + (
            "Unset it (`unset STRIPE_WEBHOOK_SECRET`) so the trigger reads the stack's, or restart "
            "the stack with it set."
            if from_shell
            else "Restart the stack, or pass the secret it printed."
        )
    return "hint: the signature was refused; is STRIPE_WEBHOOK_SECRET the secret the stack printed?"


def describe(delivery: Delivery, answer: Answer) -> str:
    event = delivery.event
    note = f" ({delivery.note})" if delivery.note else ""
    head = f"-> {event['type']} {event['id']}{note}"
    body = answer.json
    if answer.status == 200:
        result = (
            f"   {answer.status} {body.get('status')} {handler_label(body.get('handler'))}"
            f" records={body.get('records_written', 0)} stale={body.get('records_stale', 0)}"
            f" sns={body.get('message_id') or '-'}"
        )
    else:
        expected = " (as intended)" if delivery.expect_rejection and 400 <= answer.status < 500 else ""
        result = f"   {answer.status} {body.get('error', 'error')}: {body.get('message', '')}{expected}"
        if answer.status >= 500:
            result += "\n   the stack's console shows the traceback (the terminal running `make run`)"
    return f"{head}\n{result}"


def stored(table: TableQueries, event: dict[str, Any]) -> list[str]:
    """What the table holds for this event and its object, one line each."""
    try:
        logged = table.get_event(event["id"])
    except UnreadableBody as error:
        return [f"   event log: its stored body cannot be read ({error})"]
    lines = []
    if logged:
        lines.append(
            f"   event log: {logged.get('status')} {handler_label(logged.get('handler'))}"
            f" published as {logged.get('sns_message_id', '-')}"
        )
    else:
        lines.append("   event log: nothing stored")
    named = event.get("related_object") if event.get("object") == "v2.core.event" else None
    object_id = (named or event.get("data", {}).get("object", {})).get("id")
    record = table.get_record(object_id) if isinstance(object_id, str) else None
    if record:
        lines.append(f"   current record {record_line(object_id, record)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print(list_events())
        return 0
    fill_addresses(args)
    if args.undelivered:
        return store_undelivered(build_events(args), args.aws_endpoint)
    check_reachable(args.url, "webhook", START_HINT)
    secret = signing_secret(args.aws_endpoint)
    planned = deliveries(build_events(args), secret, args)
    table = None
    if not args.no_inspect:
        try:
            check_reachable(args.aws_endpoint, "local AWS endpoint", "")
            table = queries(args.aws_endpoint, args.table)
        except Problem:
            print(f"(no local AWS endpoint at {args.aws_endpoint}: not showing what was stored)")
    counts: dict[str, int] = {}
    unexpected = 0
    url = f"{args.url.rstrip('/')}/thin" if args.thin else args.url
    stand_in = sent_bucket(args.aws_endpoint)
    for delivery in planned:
        answer = send(url, delivery)
        print(describe(delivery, answer))
        if stand_in is not None and not delivery.expect_rejection:  # Stripe's own events, not forgeries
            keep_sent(stand_in, delivery.event, delivered=200 <= answer.status < 300)
        outcome = str(answer.json.get("status")) if answer.status == 200 else f"http {answer.status}"
        counts[outcome] = counts.get(outcome, 0) + 1
        if (answer.status == 200) == delivery.expect_rejection:
            unexpected += 1
            if answer.json.get("error") == "signature_mismatch" and unexpected == 1:
                print(secret_mismatch_hint(secret, args.aws_endpoint), file=sys.stderr)
        if table is not None:
            print("\n".join(stored(table, delivery.event)))
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    print(f"sent {count(len(planned), 'delivery')}: {summary}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    exit_with(main)
