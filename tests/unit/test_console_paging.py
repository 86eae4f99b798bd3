"""The console's event-log paging on a model of DynamoDB's Query (sorted partitions, ``Limit``,
``ExclusiveStartKey``, ``ScanIndexForward``, ``BETWEEN`` on the sort key, a filter applied after the
limit, as the developer guide documents them): every entry exactly once, newest first, across
pages and streams; a damaged cursor is a clear error."""

from __future__ import annotations

import random
from typing import Any

import pytest

from infra.console.event_log import FILTERED_LIMIT, MAX_QUERIES, EventLog, Filters, Page, _Position
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
        if ":status" in values:  # filters apply after the limit, as DynamoDB's do
            page = [e for e in page if e["status"] == values[":status"]["S"]]
        if ":type" in values:
            page = [e for e in page if e["event_type"].startswith(values[":type"]["S"])]
        self.returned.append(len(page))
        answer["Items"] = [{name: {"S": str(value)} for name, value in e.items()} for e in page]
        return answer


def entries(count: int, day: int, types: list[str], seed: int = 7, first: int = 0) -> list[dict[str, Any]]:
    chance = random.Random(seed)
    made = []
    for n in range(first, first + count):
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
                schema.LOG_SHARD: schema.log_shard(event_id),
                schema.CREATED_EVENT: schema.created_event_key(created),
            }
        )
    return made


def every_page(log: EventLog, filters: Filters, size: int) -> list[Page]:
    pages: list[Page] = []
    cursor = None
    while True:
        page = log.page(filters, cursor, size)
        pages.append(page)
        if page.cursor is None:
            return pages
        cursor = page.cursor
        assert len(pages) < 10_000


@pytest.mark.parametrize("size", [1, 7, 50])
def test_pages_hold_every_entry_once_newest_first_and_cost_at_most_max_queries(size: int) -> None:
    day = 20_000 * DAY
    table = entries(600, day, ["invoice.paid", "charge.succeeded"]) + entries(
        300, day - 9 * DAY, ["a.b"], 3, first=600
    )
    dynamo = Dynamo(table)
    log = EventLog(dynamo, "t", workers=1)

    pages = every_page(log, Filters(until=day + DAY), size)
    found = [entry for page in pages for entry in page.entries]

    assert sorted(e["event_id"] for e in found) == sorted(schema.event_id_of(e) for e in table)
    assert len({e["event_id"] for e in found}) == len(found)
    times = [int(e["created"]) for e in found]
    assert times == sorted(times, reverse=True)
    assert max(page.queries for page in pages) <= MAX_QUERIES
    assert max(dynamo.returned) <= max(size, FILTERED_LIMIT)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(event_type="invoice."),
        Filters(event_type="charge.succeeded", status="released"),
        Filters(status="released"),
        Filters(object_id="pi_3"),
        Filters(object_id="pi_3", event_type="customer"),
    ],
)
def test_every_filter_pages_the_same_way_within_the_budget(filters: Filters) -> None:
    day = 20_000 * DAY
    types = ["invoice.paid", "invoice.created", "charge.succeeded", "customer.created"]
    table = entries(2_000, day, types) + entries(5, day - 40 * DAY, ["invoice.paid"], 11, first=2_000)
    log = EventLog(Dynamo(table), "t", workers=4)

    pages = every_page(log, Filters(**{**filters.__dict__, "until": day + DAY}), 13)
    found = [entry for page in pages for entry in page.entries]

    def wanted(entry: dict[str, Any]) -> bool:
        status = {"released": schema.IN_PROGRESS, "": entry["status"]}[filters.status]
        return (
            entry["event_type"].startswith(filters.event_type)
            and entry["status"] == status
            and (not filters.object_id or entry["object_id"] == filters.object_id)
        )

    assert sorted(e["event_id"] for e in found) == sorted(schema.event_id_of(e) for e in table if wanted(e))
    assert len({e["event_id"] for e in found}) == len(found)
    times = [int(e["created"]) for e in found]
    assert times == sorted(times, reverse=True)
    assert all(page.queries <= MAX_QUERIES for page in pages)


def test_a_rare_type_over_a_long_range_stops_at_the_budget_and_says_how_far_it_looked() -> None:
    day = 20_000 * DAY
    table = entries(20_000, day, ["charge.succeeded"]) + entries(
        3, day - 300 * DAY, ["invoice.paid"], 5, first=20_000
    )
    log = EventLog(Dynamo(table), "t", workers=2)

    first = log.page(Filters(event_type="invoice.", until=day + DAY), None, 10)

    assert first.entries == [] and first.queries == MAX_QUERIES and first.cursor is not None
    assert first.reached is not None and day < first.reached < day + DAY
    pages = every_page(log, Filters(event_type="invoice.", until=day + DAY), 10)
    assert len([entry for page in pages for entry in page.entries]) == 3


def test_an_empty_table_costs_one_query_a_shard_and_ends() -> None:
    log = EventLog(Dynamo([]), "t", workers=1)
    page = log.page(Filters(since=0, until=20_000 * DAY), None, 10)
    assert page.entries == [] and page.cursor is None and page.queries == schema.LOG_SHARDS


@pytest.mark.parametrize(
    "cursor", ["x", "eyJkYXkiOjF9", _Position({0: {"pk": "EVENT#1"}}).encode(), _Position({}, {99}).encode()]
)
def test_a_damaged_cursor_is_a_clear_error(cursor: str) -> None:
    log = EventLog(Dynamo([]), "t", workers=1)
    with pytest.raises(ValueError, match="cursor is damaged"):
        log.page(Filters(), cursor)


def test_filters_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        Filters(status="lost")
    with pytest.raises(ValueError, match="ends before it starts"):
        Filters(since=10, until=5)
    with pytest.raises(ValueError, match="no index holds"):
        EventLog(Dynamo([]), "t", workers=1).page(Filters(status="skipped"))
