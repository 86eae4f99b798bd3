"""``redrive``: republish stored events of some types to the topic, or to one consumer's queue."""

from __future__ import annotations

from collections.abc import Iterable

from infra.ops.deployed import Context
from infra.ops.progress import Progress, day


def redrive(ctx: Context, event_types: Iterable[str], since: int, until: int, queue_url: str | None) -> int:
    """Republish stored events (from the by-type index) to the topic, or to one consumer's queue."""
    from stripe_webhook.bodies import UnreadableBody
    from stripe_webhook.events import parse_stored_event
    from stripe_webhook.ports import PayloadLocation
    from stripe_webhook.publisher import stored_message

    queries, publisher = ctx.components.queries, ctx.components.publisher
    target = queue_url or ctx.stack.topic_arn
    ctx.say(f"redriving {', '.join(event_types)} from {day(since)} .. {day(until)} to {target}")
    sqs = ctx.aws("sqs") if queue_url else None
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
            extra = {"redrive": "true"}
            if sqs is None:
                # A body too big for a message was stored in S3 with the event: send a pointer to it.
                event = parse_stored_event(stored["payload"].encode("utf-8"))
                publisher.publish(
                    event, payload=PayloadLocation.of_event_item(stored), extra_attributes=extra
                )
            else:
                body, attributes = stored_message(stored, extra)
                sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
            progress.add("sent")
    progress.done()
    if unreadable:
        ctx.say(f"not sent, their stored body cannot be read: {', '.join(unreadable)}")
    return 0
