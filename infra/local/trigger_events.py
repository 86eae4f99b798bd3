"""What ``make trigger`` sends: the event types it knows, events built from its options (a type, a
flow, a file, a stored event, a thin notification), fresh ids and the chosen API version's shape."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from infra.cli import Problem
from infra.fixtures.flows import FLOWS, flow_events
from infra.fixtures.payloads import (
    available_events,
    fresh_event,
    thin_notification,
    v1_thin_notification,
    with_current_times,
    with_fresh_ids,
)
from infra.fixtures.versions import shaped
from infra.local.connect import client, queries
from infra.local.stripe_standin import BUCKET as STANDIN_BUCKET
from infra.local.stripe_standin import object_key
from infra.stripe_types import THIN_PREFIXES, unknown
from stripe_webhook.adapters.bodies import UnreadableBody


def list_events() -> str:
    from stripe_webhook.composition import registry

    by_family: dict[str, list[str]] = {}
    unhandled = []
    for event_type in available_events():
        route = registry().resolve(event_type)
        if route is None:
            unhandled.append(event_type)
        else:
            by_family.setdefault(route.family, []).append(event_type)
    lines = ["Event types (by handler family):"]
    for family, types in sorted(by_family.items()):
        lines.append(f"  {family}")
        lines += [f"    {event_type}" for event_type in types]
    if unhandled:
        lines.append("  (no handler: stored and published only)")
        lines += [f"    {event_type}" for event_type in unhandled]
    lines.append("Flows (--flow NAME):")
    lines += [f"  {name:<15} {description}" for name, (description, _) in FLOWS.items()]
    return "\n".join(lines)


def thin_delivery(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The notification ``--thin`` sends, and the object it names when the function will fetch it
    (a type with a stored payload: its fresh object, shaped as the pinned API version)."""
    snapshot_type = args.thin.removeprefix("v1.")
    if snapshot_type not in available_events():
        if not args.thin.startswith(THIN_PREFIXES):  # no thin type is named so: a typo, said so
            problem = unknown(args.thin, available_events()) or (
                f"{args.thin!r}: no payload to serve its fetch (see --list); a generic thin"
                " notification's type starts with v1. or v2."
            )
            raise Problem(f"--thin {problem}")
        return thin_notification(args.thin), None
    (event,) = with_current_times(with_fresh_ids([fresh_event(snapshot_type)]))
    event = shaped(event, args.api_version)
    return v1_thin_notification(event, context=args.account), event["data"]["object"]


def store_for_fetch(aws_endpoint: str, notification: dict[str, Any], obj: dict[str, Any]) -> None:
    """Give the local Stripe API stand-in the object, where it answers the notification's fetch."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client("s3", aws_endpoint).put_object(
            Bucket=STANDIN_BUCKET,
            Key=object_key(notification["related_object"]["url"]),
            Body=json.dumps(obj).encode(),
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError) as error:
        raise Problem(
            f"cannot hand the object to the local Stripe API stand-in ({error}); is make run up?"
        ) from None


def build_events(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.thin:
        notification, obj = thin_delivery(args)
        if obj is not None:
            store_for_fetch(args.aws_endpoint, notification, obj)
        return [notification]
    if args.payload or args.replay:
        return [from_file(args.payload) if args.payload else stored_event(args.aws_endpoint, args.replay)]
    try:
        events = flow_events(args.flow) if args.flow else [fresh_event(args.event_type)]
    except LookupError as error:
        raise Problem(f"{error.args[0]} (see --list)") from None
    if not args.fixed_ids:
        events = with_current_times(with_fresh_ids(events))
    if args.api_version:
        try:
            events = [shaped(event, args.api_version) for event in events]
        except ValueError as error:
            raise Problem(str(error)) from None
    if args.account:
        for event in events:
            event["account"] = args.account
    if args.shuffle:
        if args.seed is None:
            args.seed = random.randrange(1, 1_000_000)  # noqa: S311 (not security)
            print(f"shuffled with --seed {args.seed} (pass it to repeat this order)")
        random.Random(args.seed).shuffle(events)  # noqa: S311 (not security)
    return events


def from_file(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(path.read_text())
    except OSError as error:
        raise Problem(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise Problem(f"{path} is not JSON: {error}") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
    ):
        raise Problem(f"{path} is not a Stripe event (it needs a string id and type)")
    return event


def stored_event(aws_endpoint: str, event_id: str) -> dict[str, Any]:
    """The event as the local stack stored it (its raw payload), to send again."""
    try:
        stored = queries(aws_endpoint).get_event(event_id)
    except UnreadableBody as error:
        raise Problem(f"event {event_id}: its stored body cannot be read ({error})") from None
    if stored is None or "payload" not in stored:
        raise Problem(f"no event {event_id} is stored in the local stack (see: make inspect)")
    event: dict[str, Any] = json.loads(stored["payload"])
    return event
