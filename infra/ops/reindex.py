"""``ops reindex``: put the events a stack stored before the ``by-time`` index into it.

The mark (or a release) gives every event its ``log_shard``, the key of the ``by-time`` index the
console lists events by. Events stored by an earlier version have none, so the console would not
list them (they are found by object id and by event id all the same). This reads the event log
once (a ``Scan`` of event items that have an index entry and no ``log_shard``) and sets it on
each, conditioned on the item still lacking it: running it twice, or beside the function, writes
nothing twice. It is its own resume: stopped, it goes on where items still lack the key.

Reads and writes are paced by ``--rate`` (items a second): a Scan page is 1 MB at most, and each
update one write unit (the item is read back into the indexes: about 2 more).
"""

from __future__ import annotations

import time
from typing import Any

from infra.ops.deployed import Context
from infra.ops.progress import Progress
from stripe_webhook.adapters import schema

DEFAULT_RATE = 50.0
PAGE_ITEMS = 100


def reindex(ctx: Context, rate: float = DEFAULT_RATE) -> int:
    """Set ``log_shard`` on every indexed event item that lacks it; 0, or 1 if any update failed."""
    from botocore.exceptions import ClientError

    dynamodb = ctx.aws("dynamodb")
    request: dict[str, Any] = {
        "TableName": ctx.stack.table_name,
        "FilterExpression": "sk = :event AND attribute_exists(#sort) AND attribute_not_exists(#shard)",
        "ProjectionExpression": "pk",
        "ExpressionAttributeNames": {"#sort": schema.CREATED_EVENT, "#shard": schema.LOG_SHARD},
        "ExpressionAttributeValues": {":event": {"S": schema.EVENT_SK}},
        "Limit": PAGE_ITEMS,
    }
    verb = "would index" if ctx.dry_run else "indexed"
    progress = Progress(f"reindex {ctx.stack.name}", ctx.out)
    failed = 0
    pace = Pace(rate)
    while True:
        pace.wait(PAGE_ITEMS)
        answer = dynamodb.scan(**request)
        for item in answer.get("Items", []):
            event_id = schema.event_id_of({"pk": item["pk"]["S"]})
            if ctx.dry_run:
                progress.add(verb)
                continue
            pace.wait(1)
            try:
                dynamodb.update_item(
                    TableName=ctx.stack.table_name,
                    Key=schema.event_key(event_id),
                    UpdateExpression="SET #shard = :shard",
                    ConditionExpression="attribute_exists(#sort) AND attribute_not_exists(#shard)",
                    ExpressionAttributeNames={"#sort": schema.CREATED_EVENT, "#shard": schema.LOG_SHARD},
                    ExpressionAttributeValues={":shard": {"S": schema.log_shard(event_id)}},
                )
                progress.add(verb)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":  # indexed meanwhile, or expired
                    progress.add("already indexed")
                    continue
                failed += 1
                progress.add("failed")
                ctx.say(f"  {event_id}: {code or error}")
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    progress.done()
    if failed:
        ctx.say(f"{failed:,} event(s) not indexed (named above): run it again to go on")
        return 1
    ctx.say("every stored event is in the by-time index" if not ctx.dry_run else "nothing was changed")
    return 0


class Pace:
    """At most ``rate`` units a second, on average since it started."""

    def __init__(self, rate: float, clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started, self.spent = clock(), 0.0

    def wait(self, units: float) -> None:
        due = self.started + self.spent / self.rate
        ahead = due - self.clock()
        if ahead > 0:
            self.sleep(ahead)
        self.spent += units
