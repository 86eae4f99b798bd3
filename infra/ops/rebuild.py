"""``rebuild``: re-derive records from the event log's stored bodies with today's handlers.

A field added to a handler reaches only the events that arrive afterwards: a redelivery is a
duplicate that writes nothing. ``rebuild`` reads the stored events of a window (the ``by-time``
index, filtered by type prefix and object), runs each stored body through today's handler, and
writes each record through the delivery's own conditional writes (``claim.record_write``):

- no record, or one from an older event: written over it, as a delivery would (``ORDERED``);
- the record this event wrote last, with other content now: rewritten, only while it is still
  this event's (``UNCHANGED``): a delivery that lands meanwhile wins (a record marked
  ``order_uncertain`` stays marked; one whose same-second tie the delivery settled with Stripe's
  current state gets this event's content, as the handler reads it now);
- a record a newer event wrote (or a deletion, or another event of the same second): kept.

So a record only moves forward, and an older event never overwrites what a newer one wrote.
Nothing is published: rebuilding records is not a new business event. ``--dry-run`` writes
nothing and says what would change (records, fields added, removed and changed, a few examples).
What it cannot rebuild is named: a body that cannot be read, an event with no stored body.
Events are gone once past ``EventRetentionDays`` (the table's TTL): a window before that finds none.

Resumable: its place (each shard's position) is kept in ``.rebuild/<stack>.json`` after every
page; ``--resume`` goes on from there. Reads and writes are paced by ``--rate`` (events a second).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import REPO_ROOT
from infra.ops.deployed import Context
from infra.ops.progress import Progress, Resumable, day
from infra.ops.reindex import Pace
from stripe_webhook.adapters import schema

if TYPE_CHECKING:
    from stripe_webhook.adapters.table import Table
    from stripe_webhook.core.events import StripeEvent
    from stripe_webhook.core.ordering import RecordWrite
    from stripe_webhook.core.records import Record

STATE_DIR = REPO_ROOT / ".rebuild"
DEFAULT_RATE = 25.0
PAGE_ITEMS = 100
SHOWN = 5
"""How many changed records a dry run shows in full (field by field)."""
KEEP_NAMED = 1_000


@dataclass
class RebuildState(Resumable):
    """A rebuild's window and place (``.rebuild/<stack>.json``)."""

    since: int
    until: int
    types: list[str] = field(default_factory=list)
    object_id: str | None = None
    positions: dict[str, Any] = field(default_factory=dict)
    """Each ``by-time`` shard's ``LastEvaluatedKey``, or ``"done"``."""
    counts: dict[str, int] = field(default_factory=dict)
    not_rebuilt: dict[str, str] = field(default_factory=dict)
    """Event id → why it could not be rebuilt (the newest ``KEEP_NAMED``)."""
    fields: dict[str, int] = field(default_factory=dict)
    """``added plan`` → how many records it was (or would be) added to; removed and changed too."""

    @classmethod
    def directory(cls) -> Path:
        return STATE_DIR

    def name(self, event_id: str, why: str) -> None:
        self.not_rebuilt[event_id] = why
        while len(self.not_rebuilt) > KEEP_NAMED:
            self.not_rebuilt.pop(next(iter(self.not_rebuilt)))


@dataclass
class Change:
    """What rebuilding one record changes (or would)."""

    key: str
    added: list[str]
    removed: list[str]
    changed: list[str]

    def line(self) -> str:
        parts = [
            f"{word} {', '.join(names)}"
            for word, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed))
            if names
        ]
        return f"  {self.key}: {'; '.join(parts) or 'rewritten'}"


def rebuild(ctx: Context, state: RebuildState, rate: float = DEFAULT_RATE) -> int:
    """Rebuild the records of ``state``'s window; 0, or 1 if a record's write failed."""
    where = f" of {state.object_id}" if state.object_id else ""
    kinds = f" {', '.join(state.types)}" if state.types else ""
    verb = "would rebuild" if ctx.dry_run else "rebuilding"
    ctx.say(f"{verb} the records of{kinds} events{where} from {day(state.since)} .. {day(state.until)}")
    kept_from = int(time.time()) - ctx.components.settings.retention_days * 86_400
    if state.since < kept_from:  # the table's TTL removed them: nothing to read, nothing to name
        ctx.say(
            f"note: the event log keeps {ctx.components.settings.retention_days} days (EventRetentionDays):"
            f" events before {day(kept_from)} are gone and cannot be rebuilt"
        )
    progress = Progress("dry run" if ctx.dry_run else "rebuild", ctx.out)
    progress.counts.update(state.counts)
    pace, shown, failed = Pace(rate), [0], 0
    for shard in schema.log_shards():
        while state.positions.get(shard) != "done":
            page = _page(ctx, state, shard)  # a page of keys: its cost is the events it holds
            for entry in page.get("Items", []):
                pace.wait(1)
                outcome = _one(ctx, state, schema.event_id_of({"pk": entry["pk"]["S"]}), shown)
                failed += outcome == "failed"
                progress.add(outcome)
            state.positions[shard] = page.get("LastEvaluatedKey", "done")
            state.counts = dict(progress.counts)
            if not ctx.dry_run:
                state.save(ctx.stack.name)
    progress.done()
    return _summary(ctx, state, failed)


def _page(ctx: Context, state: RebuildState, shard: str) -> dict[str, Any]:
    """One page of one ``by-time`` shard in the window: the events' keys."""
    low, high = schema.created_event_bounds(state.since, state.until)
    values: dict[str, Any] = {":shard": {"S": shard}, ":low": {"S": low}, ":high": {"S": high}}
    names = {"#shard": schema.LOG_SHARD, "#sort": schema.CREATED_EVENT}
    filters = []
    if state.types:
        names["#type"] = "event_type"
        prefixes = []
        for index, event_type in enumerate(state.types):
            values[f":type{index}"] = {"S": event_type}
            prefixes.append(f"begins_with(#type, :type{index})")
        filters.append(f"({' OR '.join(prefixes)})")
    if state.object_id:
        names["#object"] = schema.OBJECT_ID
        values[":object"] = {"S": state.object_id}
        filters.append("#object = :object")
    request: dict[str, Any] = {
        "TableName": ctx.stack.table_name,
        "IndexName": schema.TIME_INDEX,
        "KeyConditionExpression": "#shard = :shard AND #sort BETWEEN :low AND :high",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ProjectionExpression": "pk",
        "Limit": PAGE_ITEMS,
    }
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
    position = state.positions.get(shard)
    if isinstance(position, dict):
        request["ExclusiveStartKey"] = position
    answer: dict[str, Any] = ctx.aws("dynamodb").query(**request)
    return answer


def _one(ctx: Context, state: RebuildState, event_id: str, shown: list[int]) -> str:
    """Rebuild the records of one stored event; its outcome (counted by ``Progress``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stripe_webhook.adapters.bodies import UnreadableBody
    from stripe_webhook.composition import registry
    from stripe_webhook.core.events import parse_stored_event
    from stripe_webhook.errors import StorageError

    try:
        stored = ctx.components.queries.get_event(event_id)
    except UnreadableBody as error:  # named and skipped: the others still go
        state.name(event_id, f"its stored body cannot be read: {error}")
        return "unreadable"
    except StorageError as error:  # a large body's S3 copy gone (the bucket's lifecycle) or unreadable
        state.name(event_id, f"its stored body could not be read from the payload bucket: {error}")
        return "unreadable"
    if stored is None or "payload" not in stored:
        state.name(event_id, "no stored body (claimed, never published or released)")
        return "no body"
    try:
        event = parse_stored_event(str(stored["payload"]).encode("utf-8"))
        route = registry().resolve(event.type)
        records = route.handler(event) if route else None
    except Exception as error:  # an old body today's code cannot read: named, the others go on
        state.name(event_id, f"today's handler cannot read it: {type(error).__name__}: {error}")
        return "unreadable"
    if records is None:
        return "no handler"
    outcomes = []
    for record in records:
        try:
            outcomes.append(_record(ctx, state, event, record, shown))
        except (ClientError, BotoCoreError, StorageError) as error:  # this one's; the others go on
            state.name(event_id, f"{record.pk} / {record.sk}: {error}")
            outcomes.append("failed")
    for outcome in ("failed", "written", "would write", "changed meanwhile"):
        if outcome in outcomes:
            return outcome
    return "unchanged" if "unchanged" in outcomes else ("kept newer" if outcomes else "no record")


def _record(ctx: Context, state: RebuildState, event: StripeEvent, record: Record, shown: list[int]) -> str:
    """Write one record as the delivery's conditions allow (module docstring); its outcome."""
    from stripe_webhook.adapters import claim
    from stripe_webhook.core import ordering

    table: Table = ctx.components.store.table
    stored = claim.stored_record(table, record)
    if stored is None or (not stored.deleted and stored.last_event.watermark < ordering.bound(record)):
        write = ordering.RecordWrite.first(event, record)
    elif not stored.deleted and stored.last_event.event_id == event.id:
        if ordering.same_content(record, stored):
            return "unchanged"
        ours = ordering.LastEvent(stored.last_event.watermark, event.id, event.type)
        write = ordering.RecordWrite(
            record, ours, record, if_unchanged=stored.last_event, uncertain=stored.uncertain
        )
    else:
        return "kept newer"
    change = Change(
        f"{record.pk} / {record.sk}", *changed_fields(stored.content if stored else {}, record.attributes)
    )
    for word, names in (("added", change.added), ("removed", change.removed), ("changed", change.changed)):
        for name in names if stored is not None else ():
            state.fields[f"{word} {name}"] = state.fields.get(f"{word} {name}", 0) + 1
    if ctx.dry_run:
        if shown[0] < SHOWN:
            shown[0] += 1
            ctx.say(change.line())
        return "would write"
    # a delivery that wrote it since it was read keeps it
    return "written" if put_record(ctx, write) else "changed meanwhile"


def put_record(ctx: Context, write: RecordWrite) -> bool:
    """Send one record write as the delivery builds it (``claim.record_write``: its condition),
    DynamoDB's transaction conflicts retried as the write path retries them; False if the
    condition refused it (the stored record is no longer the one decided against)."""
    from botocore.exceptions import ClientError

    from contract.aws import error_code
    from stripe_webhook.adapters import claim
    from stripe_webhook.adapters.table import through_conflicts

    put = claim.record_write(ctx.stack.table_name, write, time.time())["Put"]
    try:
        through_conflicts(lambda: ctx.aws("dynamodb").put_item(**put), ctx.components.store.table.waits)
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The fields ``new`` adds, removes and changes, compared as JSON (``true`` is not ``1``)."""
    same = [name for name in set(old) & set(new) if _json(old[name]) == _json(new[name])]
    return sorted(set(new) - set(old)), sorted(set(old) - set(new)), sorted(set(old) & set(new) - set(same))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _summary(ctx: Context, state: RebuildState, failed: int) -> int:
    if state.fields:
        ctx.say("fields, by the records they " + ("would change in:" if ctx.dry_run else "changed in:"))
        for change, records in sorted(state.fields.items(), key=lambda pair: (-pair[1], pair[0]))[:20]:
            ctx.say(f"  {change}: {records:,}")
    if state.not_rebuilt:
        ctx.say(f"not rebuilt ({len(state.not_rebuilt):,}):")
        for event_id, why in list(state.not_rebuilt.items())[:20]:
            ctx.say(f"  {event_id}: {why}")
    if ctx.dry_run:
        ctx.say("nothing was written (--dry-run); nothing is ever published")
    elif failed:
        ctx.say(f"{failed:,} event(s) not rebuilt (named above): fix the cause and run: rebuild --resume")
        return 1
    else:
        ctx.say("records rebuilt; nothing was published")
    return 0
