"""The console's event log: pages of event-log entries, newest first, read with index queries only.

Three ways in, each a set of *streams* (one index partition between two sort keys), merged:

- by object id: the ``by-object`` index, one stream;
- by event type: the ``by-type`` index, one stream per shard of each UTC day (``schema.TYPE_SHARDS``
  plus the unsharded key of entries written before sharding);
- every type: the ``by-type`` index for each type the stack handles, every shard, one day per page
  (about 500 queries, 16 at a time; empty partitions answer at once, ~1 s from a laptop).

A page is at most ``size`` entries. Each stream is read a chunk at a time (``size`` entries, less
when there are many streams: together at most ``BUFFER``) and merged lazily, so a page holds about
``BUFFER`` entries at most whatever the table holds, and a day with nothing in it costs one query
per stream. The cursor to the next page is where each stream stopped (the last entry taken from
it: DynamoDB's ``ExclusiveStartKey``) and which streams are spent; a page never reads more than
``MAX_DAYS`` days (one without a type), so an empty range ends in bounded work with a cursor to go
on. No ``Scan``, ever.
"""

from __future__ import annotations

import base64
import heapq
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stripe_webhook.adapters import schema
from stripe_webhook.adapters.dynamo_items import from_item

DAY = 86_400
BUFFER = 2_500
MIN_CHUNK = 5
MAX_DAYS = 31
MAX_PAGE = 100
WORKERS = 16
STATUSES = {"published": schema.PUBLISHED, "released": schema.IN_PROGRESS}
"""The statuses the indexes hold (each projects ``status``): published, or released for a retry
(a delivery gave its claim back: Stripe's retry, or the reconciler, processes it again)."""
ELSEWHERE = ("recovered", "skipped", "claimed")
"""Statuses no index holds: the reconciler's state keeps the first two, a Scan finds the third
(``reads.ConsoleReads.events``)."""


@dataclass(frozen=True)
class Filters:
    """What the person asked for; every field optional."""

    event_type: str = ""
    object_id: str = ""
    since: int | None = None
    until: int | None = None
    status: str = ""

    def __post_init__(self) -> None:
        if self.status and self.status not in (*STATUSES, *ELSEWHERE):
            raise ValueError(f"status must be one of {', '.join((*STATUSES, *ELSEWHERE))}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("the range ends before it starts")


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
    days: list[str] = field(default_factory=list)
    """The UTC days this page read (empty for an object's events)."""


@dataclass
class _Run:
    """One page's reading: its filters, the chunk each stream is read by, the queries made."""

    filters: Filters
    chunk: int = MIN_CHUNK
    queries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> None:
        with self.lock:
            self.queries += 1


@dataclass
class _Position:
    day: int | None
    at: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Stream number → the ``ExclusiveStartKey`` after the last entry taken from it."""
    done: set[int] = field(default_factory=set)

    def encode(self) -> str:
        raw = json.dumps({"day": self.day, "at": self.at, "done": sorted(self.done)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> _Position:
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            at = {int(number): dict(key) for number, key in raw["at"].items()}
            for key in at.values():
                if not all(isinstance(value, dict) and "S" in value for value in key.values()):
                    raise ValueError(key)
            day = raw["day"]
            return cls(None if day is None else int(day), at, {int(number) for number in raw["done"]})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ValueError("the page cursor is damaged: start from the first page") from None


class EventLog:
    """Pages of the event log for the console (``query`` is ``client.query``, so tests count it)."""

    def __init__(self, client: Any, table: str, event_types: list[str], *, workers: int = WORKERS) -> None:
        self.client, self.table, self.event_types, self.workers = client, table, event_types, workers

    def page(self, filters: Filters, cursor: str | None = None, size: int = 50) -> Page:
        size = max(1, min(size, MAX_PAGE))
        if filters.status in ELSEWHERE:
            raise ValueError(f"no index holds {filters.status} events")
        run = _Run(filters)
        until = filters.until if filters.until is not None else int(time.time())
        since = filters.since if filters.since is not None else 0
        if filters.object_id:
            start = _Position.decode(cursor) if cursor else _Position(None)
            found, left = self._merge([self._object_stream(filters, since, until)], start, size, run)
            return Page(found, left.encode() if left else None, run.queries)
        position = _Position.decode(cursor) if cursor else _Position(until - until % DAY)
        entries: list[dict[str, Any]] = []
        days: list[str] = []
        floor = since - since % DAY
        max_days = MAX_DAYS if filters.event_type else 1
        while position.day is not None and len(entries) < size and len(days) < max_days:
            day = position.day
            days.append(time.strftime("%Y-%m-%d", time.gmtime(day)))
            streams = self._day_streams(filters, day, since, until)
            found, left = self._merge(streams, position, size - len(entries), run)
            entries.extend(found)
            if left is not None:
                position = left
                break
            position = _Position(day - DAY) if day - DAY >= floor and day - DAY >= 0 else _Position(None)
        more = position.day is not None
        return Page(entries, position.encode() if more else None, run.queries, days)

    def _object_stream(self, filters: Filters, since: int, until: int) -> Stream:
        low, high = schema.created_event_bounds(since, until)
        return Stream(schema.OBJECT_INDEX, schema.OBJECT_ID, filters.object_id, low, high)

    def _day_streams(self, filters: Filters, day: int, since: int, until: int) -> list[Stream]:
        low, high = schema.created_event_bounds(max(since, day), min(until, day + DAY - 1))
        types = [filters.event_type] if filters.event_type else self.event_types
        return [
            Stream(schema.TYPE_INDEX, schema.TYPE_DAY, key, low, high)
            for event_type in types
            for key in schema.type_day_keys(event_type, day)
        ]

    def _merge(
        self, streams: list[Stream], position: _Position, size: int, run: _Run
    ) -> tuple[list[dict[str, Any]], _Position | None]:
        """Up to ``size`` entries, newest first, and where to go on (None: every stream is spent)."""
        live = [number for number in range(len(streams)) if number not in position.done]
        run.chunk = min(size, max(MIN_CHUNK, BUFFER // max(len(live), 1)))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            firsts = dict(
                zip(
                    live,
                    pool.map(lambda n: self._query(streams[n], position.at.get(n), run), live),
                    strict=True,
                )
            )
        readers = [self._read(streams[n], n, firsts[n], run) for n in live]
        merged = heapq.merge(*readers, key=lambda pair: _order(pair[1]), reverse=True)
        taken: list[dict[str, Any]] = []
        last: dict[int, dict[str, Any]] = {}
        for number, item in merged:
            if len(taken) == size:
                break
            last[number] = item
            taken.append(item)
        else:  # every stream is spent
            return [entry_of(item) for item in taken], None
        at = {**position.at}
        for number, item in last.items():
            stream = streams[number]
            at[number] = {name: item[name] for name in ("pk", "sk", stream.key_name, schema.CREATED_EVENT)}
        done = position.done | {n for n in live if not firsts[n][0] and "next" not in firsts[n][1]}
        return [entry_of(item) for item in taken], _Position(position.day, at, done)

    def _read(
        self,
        stream: Stream,
        number: int,
        first: tuple[list[dict[str, Any]], dict[str, Any]],
        run: _Run,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        items, more = first
        while True:
            yield from ((number, item) for item in items)
            if "next" not in more:
                return
            items, more = self._query(stream, more["next"], run)

    def _query(
        self, stream: Stream, start: dict[str, Any] | None, run: _Run
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One chunk of a stream, newest first (raw items), and ``{"next": key}`` if it goes on."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": stream.index,
            "KeyConditionExpression": "#key = :key AND #sort BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#key": stream.key_name, "#sort": schema.CREATED_EVENT},
            "ExpressionAttributeValues": {
                ":key": {"S": stream.key},
                ":low": {"S": stream.low},
                ":high": {"S": stream.high},
            },
            "ScanIndexForward": False,
            "Limit": run.chunk,
        }
        if run.filters.status:
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"]["#status"] = "status"
            request["ExpressionAttributeValues"][":status"] = {"S": STATUSES[run.filters.status]}
        if start:
            request["ExclusiveStartKey"] = start
        while True:  # a filtered chunk may hold nothing yet go on
            run.count()
            answer = self.client.query(**request)
            items, start = answer.get("Items", []), answer.get("LastEvaluatedKey")
            if items or not start:
                return items, ({"next": start} if start else {})
            request["ExclusiveStartKey"] = start


def _order(item: dict[str, Any]) -> tuple[str, str]:
    return item[schema.CREATED_EVENT]["S"], item["pk"]["S"]


def entry_of(item: dict[str, Any]) -> dict[str, Any]:
    """An event-log item (or index entry) as the console shows it: plain values, its event id, no keys."""
    values = from_item(item)
    values["event_id"] = schema.event_id_of(values)
    for name in ("pk", "sk", schema.TYPE_DAY, schema.CREATED_EVENT):
        values.pop(name, None)
    return values
