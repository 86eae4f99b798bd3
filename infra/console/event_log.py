"""The console's event log: pages of event-log entries, newest first, at most ``MAX_QUERIES`` a page.

Two ways in, each a set of *streams* (one index partition between two sort keys), merged:

- by object id: the ``by-object`` index, one stream;
- anything else: the ``by-time`` index, one stream per shard (``schema.LOG_SHARDS``). Every event
  is there, whatever its type (those no handler takes too), and a shard holds all of its days, so
  a page costs the same whatever the range.

A type (a prefix: ``invoice.`` takes every invoice event) and a status are filters on the query
(``FilterExpression``): DynamoDB applies them after it read ``Limit`` entries, so a rare type may
need more than one query per stream. A page stops at ``MAX_QUERIES`` queries whatever it found, and
says how far back it looked (``reached``): the cursor goes on from there.

The merge takes the newest entry of any stream only when no stream can still hold a newer one:
each stream was read down to a point (its ``LastEvaluatedKey``), and an entry newer than every
stream's point is final. The cursor to the next page is, per stream, where to start again (after
the last entry taken from it, or its point when all it read was taken or filtered out), and which
streams are spent. No ``Scan``, ever.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stripe_webhook.adapters import schema
from stripe_webhook.adapters.dynamo_items import from_item

MAX_QUERIES = 10
"""What one page may cost: the 8 shards' first queries, and a few more where a filter thinned them."""
MAX_PAGE = 100
FILTERED_LIMIT = 300
"""Entries a filtered query reads (``Limit`` counts them before the filter): a rare type is found
in few queries, and a page holds at most ``LOG_SHARDS`` times this many."""
WORKERS = 8
STATUSES = {"published": schema.PUBLISHED, "released": schema.IN_PROGRESS}
"""The statuses the indexes hold (each projects ``status``): published, or released for a retry
(a delivery gave its claim back: Stripe's retry, or the reconciler, processes it again)."""
ELSEWHERE = ("recovered", "skipped", "claimed")
"""Statuses no index holds: the reconciler's state keeps the first two, a Scan finds the third
(``reads.ConsoleReads.events``)."""

Key = dict[str, Any]
"""An ``ExclusiveStartKey``: the table's and the index's key attributes of one entry."""


@dataclass(frozen=True)
class Filters:
    """What the person asked for; every field optional."""

    event_type: str = ""
    """A type, or the start of one (``invoice.`` takes every invoice event)."""
    object_id: str = ""
    since: int | None = None
    until: int | None = None
    status: str = ""

    def __post_init__(self) -> None:
        if self.status and self.status not in (*STATUSES, *ELSEWHERE):
            raise ValueError(f"status must be one of {', '.join((*STATUSES, *ELSEWHERE))}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("the range ends before it starts")

    @property
    def filtered(self) -> bool:
        return bool(self.event_type or self.status)


@dataclass(frozen=True)
class Stream:
    index: str
    key_name: str
    key: str
    low: str
    high: str


@dataclass
class Page:
    entries: list[dict[str, Any]]
    cursor: str | None
    queries: int
    reached: int | None = None
    """With a cursor: every entry created at or after this second was looked at (where the next
    page goes on from)."""


@dataclass
class _Reader:
    """One stream as this page reads it: what it found and has not given out, and how far it read."""

    stream: Stream
    start: Key | None
    found: list[dict[str, Any]] = field(default_factory=list)
    """Entries read and not yet taken, newest first."""
    point: Key | None = None
    """Where its last query stopped (``LastEvaluatedKey``); None once it has nothing more."""
    read: bool = False
    taken: Key | None = None
    """The key of the last entry taken from it on this page."""

    @property
    def at(self) -> Key | None:
        """Where its next query starts: where the last one stopped, or the page's start."""
        return self.point if self.read else self.start

    @property
    def spent(self) -> bool:
        return self.read and self.point is None

    def resume(self) -> Key | bool | None:
        """Where the next page starts it: a key, None (from its start), or False (spent)."""
        if self.found:  # read but not taken: read again next time
            return self.taken if self.taken is not None else self.start
        if not self.read:
            return self.start
        return False if self.point is None else self.point


@dataclass
class _Position:
    at: dict[int, Key] = field(default_factory=dict)
    """Stream number → the ``ExclusiveStartKey`` it goes on from."""
    done: set[int] = field(default_factory=set)

    def encode(self) -> str:
        raw = json.dumps({"at": self.at, "done": sorted(self.done)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> _Position:
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            at = {int(number): dict(key) for number, key in raw["at"].items()}
            for key in at.values():
                if not all(isinstance(value, dict) and "S" in value for value in key.values()):
                    raise ValueError(key)
            return cls(at, {int(number) for number in raw["done"]})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError("the page cursor is damaged: start from the first page") from None


class EventLog:
    """Pages of the event log for the console (``query`` is ``client.query``, so tests count it)."""

    def __init__(self, client: Any, table: str, *, workers: int = WORKERS) -> None:
        self.client, self.table, self.workers = client, table, workers

    def page(self, filters: Filters, cursor: str | None = None, size: int = 50) -> Page:
        size = max(1, min(size, MAX_PAGE))
        if filters.status in ELSEWHERE:
            raise ValueError(f"no index holds {filters.status} events")
        until = filters.until if filters.until is not None else int(time.time())
        low, high = schema.created_event_bounds(filters.since or 0, until)
        if filters.object_id:
            streams = [Stream(schema.OBJECT_INDEX, schema.OBJECT_ID, filters.object_id, low, high)]
        else:
            streams = [
                Stream(schema.TIME_INDEX, schema.LOG_SHARD, shard, low, high) for shard in schema.log_shards()
            ]
        position = _Position.decode(cursor) if cursor else _Position()
        if any(number >= len(streams) for number in (*position.at, *position.done)):
            raise ValueError("the page cursor is damaged: start from the first page")
        readers = {
            number: _Reader(stream, position.at.get(number))
            for number, stream in enumerate(streams)
            if number not in position.done
        }
        return _Merge(self, filters, size).run(readers, position.done)

    def query(self, reader: _Reader, filters: Filters, limit: int) -> None:
        """One query of ``reader``'s stream, from where it stopped: what it found, and where it got."""
        stream = reader.stream
        names = {"#key": stream.key_name, "#sort": schema.CREATED_EVENT}
        values = {":key": {"S": stream.key}, ":low": {"S": stream.low}, ":high": {"S": stream.high}}
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": stream.index,
            "KeyConditionExpression": "#key = :key AND #sort BETWEEN :low AND :high",
            "ScanIndexForward": False,
            "Limit": limit,
        }
        conditions = []
        if filters.status:
            conditions.append("#status = :status")
            names["#status"], values[":status"] = "status", {"S": STATUSES[filters.status]}
        if filters.event_type:
            conditions.append("begins_with(#type, :type)")
            names["#type"], values[":type"] = "event_type", {"S": filters.event_type}
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        request["ExpressionAttributeNames"], request["ExpressionAttributeValues"] = names, values
        if reader.at:
            request["ExclusiveStartKey"] = reader.at
        answer = self.client.query(**request)
        reader.found += answer.get("Items", [])
        reader.point, reader.read = answer.get("LastEvaluatedKey"), True


@dataclass
class _Merge:
    log: EventLog
    filters: Filters
    size: int
    queries: int = 0

    def run(self, readers: dict[int, _Reader], done: set[int]) -> Page:
        taken: list[dict[str, Any]] = []
        self._query(list(readers.values()))
        while len(taken) < self.size:
            live = [reader for reader in readers.values() if reader.found]
            best = max(live, key=lambda reader: _order(reader.found[0]), default=None)
            behind = [
                reader
                for reader in readers.values()
                if not reader.found
                and not reader.spent
                and (best is None or _point_order(reader) > _order(best.found[0]))
            ]
            if behind:  # a stream may still hold something newer than the best found: read on
                if not self._query(behind):
                    break
                continue
            if best is None:
                break  # every stream is spent
            item = best.found.pop(0)
            best.taken = _key(item, best.stream)
            taken.append(item)
        return self._page(taken, readers, done)

    def _query(self, readers: list[_Reader]) -> bool:
        """Read each of ``readers`` once more, as far as the budget goes (False: it is spent)."""
        readers = readers[: max(0, MAX_QUERIES - self.queries)]
        if not readers:
            return False
        limit = max(self.size, FILTERED_LIMIT) if self.filters.filtered else self.size
        self.queries += len(readers)
        with ThreadPoolExecutor(max_workers=self.log.workers) as pool:
            list(pool.map(lambda reader: self.log.query(reader, self.filters, limit), readers))
        return True

    def _page(self, taken: list[dict[str, Any]], readers: dict[int, _Reader], done: set[int]) -> Page:
        """The page, and its cursor: per stream, where it goes on (or that it is spent)."""
        position = _Position(done=set(done))
        for number, reader in readers.items():
            resume = reader.resume()
            if resume is False:
                position.done.add(number)
            elif isinstance(resume, dict):
                position.at[number] = resume
        entries = [entry_of(item) for item in taken]
        if all(reader.resume() is False for reader in readers.values()):
            return Page(entries, None, self.queries)
        if len(taken) == self.size:
            reached = int(entries[-1].get("created") or 0) if entries else None
        else:  # stopped by the budget: the stream that got least far says how far the page looked
            reached = max((_created(reader) for reader in readers.values() if not reader.spent), default=None)
        return Page(entries, position.encode(), self.queries, reached)


def _order(item: dict[str, Any]) -> tuple[str, str]:
    return item[schema.CREATED_EVENT]["S"], item["pk"]["S"]


def _point_order(reader: _Reader) -> tuple[str, str]:
    """The newest place ``reader`` can still give an entry from (exclusive)."""
    if not reader.at:
        return ("~", "~")  # not read yet, from the top: anything
    return _order(reader.at)


def _created(reader: _Reader) -> int:
    """The second down to which ``reader`` looked: it read everything newer."""
    return int(_order(reader.at)[0][:12]) if reader.at else 0


def _key(item: dict[str, Any], stream: Stream) -> Key:
    return {name: item[name] for name in ("pk", "sk", stream.key_name, schema.CREATED_EVENT)}


def entry_of(item: dict[str, Any]) -> dict[str, Any]:
    """An event-log item (or index entry) as the console shows it: plain values, its event id, no keys."""
    values = from_item(item)
    values["event_id"] = schema.event_id_of(values)
    for name in ("pk", "sk", schema.TYPE_DAY, schema.CREATED_EVENT, schema.LOG_SHARD):
        values.pop(name, None)
    return values
