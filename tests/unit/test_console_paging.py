"""The console's event-log paging on a model of DynamoDB's Query (sorted partitions, ``Limit``,
``ExclusiveStartKey``, ``ScanIndexForward``, ``BETWEEN`` on the sort key, a filter applied after the
limit, as the developer guide documents them): every entry exactly once, newest first, across
pages and streams; a damaged cursor is a clear error."""

from __future__ import annotations

import random
from typing import Any

import pytest

from infra.console.event_log import BUFFER, EventLog, Filters, _Position
from stripe_webhook.adapters import schema

DAY = 86_400


class Dynamo:
    """Query over in-memory index partitions, with DynamoDB's paging rules."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.returned: list[int] = []

    def query(self, **request: Any) -> dict[str, Any]:
        names, values = request["ExpressionAttributeNames"], request["ExpressionAttributeValues"]
        key_name, key = names["#key"], values[":key"]["S"]
        low, high = values[":low"]["S"], values[":high"]["S"]
        found = sorted(
            (e for e in self.entries if e.get(key_name) == key and low <= e[schema.CREATED_EVENT] <= high),
            key=lambda e: (e[schema.CREATED_EVENT], e["pk"]),
            reverse=not request["ScanIndexForward"],
        )
        start = request.get("ExclusiveStartKey")
        if start:
            mark = (start[schema.CREATED_EVENT]["S"], start["pk"]["S"])
            found = [e for e in found if (e[schema.CREATED_EVENT], e["pk"]) < mark]
        page = found[: request["Limit"]]
        answer: dict[str, Any] = {}
        if len(page) == request["Limit"]:  # the limit reached: DynamoDB says where it stopped
            last = page[-1]
            answer["LastEvaluatedKey"] = {
                name: {"S": last[name]} for name in ("pk", "sk", key_name, schema.CREATED_EVENT)
            }
        if "FilterExpression" in request:
            page = [e for e in page if e["status"] == values[":status"]["S"]]
        self.returned.append(len(page))
        answer["Items"] = [{name: {"S": str(value)} for name, value in e.items()} for e in page]
        return answer


def entries(count: int, day: int, types: list[str], seed: int = 7) -> list[dict[str, Any]]:
    chance = random.Random(seed)
    made = []
    for n in range(count):
        event_id = f"evt_{n:06d}"
        created = day + chance.randrange(DAY)  # many share a second with another
        event_type = chance.choice(types)
        made.append(
            {
                "pk": schema.event_pk(event_id),
                "sk": schema.EVENT_SK,
                "created": str(created),
                "event_type": event_type,
                "status": chance.choice([schema.PUBLISHED] * 9 + [schema.IN_PROGRESS]),
                "object_id": f"pi_{n % 7}",
                schema.TYPE_DAY: schema.type_day_key(event_type, created, schema.type_shard(event_id)),
                schema.CREATED_EVENT: schema.created_event_key(created),
            }
        )
    return made


def every_page(log: EventLog, filters: Filters, size: int) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        page = log.page(filters, cursor, size)
        found += page.entries
        if page.cursor is None:
            return found
        cursor = page.cursor


@pytest.mark.parametrize("size", [1, 7, 50])
def test_pages_by_type_hold_every_entry_once_newest_first(size: int) -> None:
    day = 20_000 * DAY
    table = entries(600, day, ["invoice.paid", "charge.succeeded"])
    dynamo = Dynamo(table)
    log = EventLog(dynamo, "t", ["invoice.paid", "charge.succeeded"], workers=1)

    found = every_page(log, Filters(event_type="invoice.paid", since=day, until=day + DAY - 1), size)

    expected = [e for e in table if e["event_type"] == "invoice.paid"]
    assert sorted(e["event_id"] for e in found) == sorted(schema.event_id_of(e) for e in expected)
    assert len({e["event_id"] for e in found}) == len(found)
    times = [int(e["created"]) for e in found]
    assert times == sorted(times, reverse=True)
    assert max(dynamo.returned) <= BUFFER


def test_every_type_and_status_and_object_page_the_same_way() -> None:
    day = 20_000 * DAY
    types = ["invoice.paid", "charge.succeeded", "customer.created"]
    table = entries(400, day, types)
    log = EventLog(Dynamo(table), "t", types, workers=4)

    every = every_page(log, Filters(since=day, until=day + DAY - 1, status="released"), 13)
    released = {schema.event_id_of(e) for e in table if e["status"] == schema.IN_PROGRESS}
    assert {e["event_id"] for e in every} == released and len(every) == len(released)

    mine = every_page(log, Filters(object_id="pi_3"), 9)
    assert sorted(e["event_id"] for e in mine) == sorted(
        schema.event_id_of(e) for e in table if e["object_id"] == "pi_3"
    )


def test_an_empty_range_ends_with_bounded_work_and_a_way_on() -> None:
    day = 20_000 * DAY
    log = EventLog(Dynamo([]), "t", ["invoice.paid"], workers=1)
    page = log.page(Filters(since=day - 40 * DAY, until=day), None, 10)
    assert page.entries == [] and page.cursor is not None and len(page.days) == 1
    typed = log.page(Filters(event_type="invoice.paid", since=day - 40 * DAY, until=day), None, 10)
    assert len(typed.days) == 31 and typed.cursor is not None


@pytest.mark.parametrize("cursor", ["x", "eyJkYXkiOjF9", _Position(1, {0: {"pk": "EVENT#1"}}).encode()])
def test_a_damaged_cursor_is_a_clear_error(cursor: str) -> None:
    log = EventLog(Dynamo([]), "t", ["invoice.paid"], workers=1)
    with pytest.raises(ValueError, match="cursor is damaged"):
        log.page(Filters(), cursor)


def test_filters_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        Filters(status="lost")
    with pytest.raises(ValueError, match="ends before it starts"):
        Filters(since=10, until=5)
    with pytest.raises(ValueError, match="no index holds"):
        EventLog(Dynamo([]), "t", [], workers=1).page(Filters(status="skipped"))
