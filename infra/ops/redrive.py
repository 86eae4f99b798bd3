"""``redrive``: republish stored events of some types to the topic, or to one consumer's queue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra.ops.deployed import Context
from infra.ops.progress import Progress, day


def redrive(ctx: Context, event_types: Iterable[str], since: int, until: int, queue_url: str | None) -> int:
    """Republish stored events (from the by-type index) to the topic, or to one consumer's queue."""
    from stripe_webhook.adapters.bodies import UnreadableBody

    queries = ctx.components.queries
    target = queue_url or ctx.stack.topic_arn
    ctx.say(f"redriving {', '.join(event_types)} from {day(since)} .. {day(until)} to {target}")
    progress = Progress("dry run" if ctx.dry_run else "redrive", ctx.out)
    unreadable: list[str] = []
    for event_type in event_types:
        for entry in queries.events_by_type(event_type, since, until):
            try:
                stored = queries.get_event(entry["event_id"])
            except UnreadableBody:  # skipped and named: the others still go
                unreadable.append(entry["event_id"])
                progress.add("unreadable (skipped)")
                continue
            if stored is None or "payload" not in stored:
                progress.add("no payload")
                continue
            if ctx.dry_run:
                progress.add("would send")
                continue
            republish(ctx, stored, queue_url)
            progress.add("sent")
    progress.done()
    if unreadable:
        ctx.say(f"not sent, their stored body cannot be read: {', '.join(unreadable)}")
    return 0


def republish(ctx: Context, stored: dict[str, Any], queue_url: str | None = None) -> str:
    """Publish one stored event (``queries.get_event``) again, marked ``redrive``: to the topic (every
    subscriber), or to one queue; its message id. A body too big for a message was stored in S3
    with the event: the message points to it."""
    from stripe_webhook.adapters.publisher import stored_message
    from stripe_webhook.core.events import parse_stored_event
    from stripe_webhook.ports import PayloadLocation

    extra = {"redrive": "true"}
    if queue_url is None:
        event = parse_stored_event(stored["payload"].encode("utf-8"))
        payload = PayloadLocation.of_event_item(stored)
        return str(ctx.components.publisher.publish(event, payload=payload, extra_attributes=extra))
    body, attributes = stored_message(stored, extra)
    sent = ctx.aws("sqs").send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
    return str(sent["MessageId"])
