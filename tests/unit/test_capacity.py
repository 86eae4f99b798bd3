"""DynamoDB's sizing rules as ``infra.bench.capacity`` applies them, on the developer guide's examples."""

from __future__ import annotations

from infra.bench.capacity import Index, Table, item_size, number_size, read_units, write_cost, write_units

TABLE = Table(
    ("pk", "sk"),
    (
        Index("by-type", ("type_day", "created_event"), "INCLUDE", ("status",)),
        Index("by-customer", ("customer_key", "customer_sort"), "ALL"),
    ),
)


def s(value: str) -> dict[str, str]:
    return {"S": value}


def test_item_size_counts_names_and_values_as_dynamodb_does() -> None:
    # names and strings in UTF-8 bytes; a number's significant digits halved, rounded up, plus 1
    assert item_size({"pk": s("EVENT#1"), "é": s("ab")}) == 2 + 7 + 2 + 2
    assert number_size("1796245094") == 6 and number_size("100") == 2 and number_size("0.0012") == 2
    assert item_size({"n": {"N": "12345"}, "b": {"BOOL": True}, "x": {"NULL": True}}) == 1 + 4 + 1 + 1 + 1 + 1
    # a map: 3 bytes plus, per element, 1 byte, its name and its value; a list likewise without names
    assert item_size({"m": {"M": {"a": s("xy")}}, "l": {"L": [s("z")]}}) == (1 + 3 + 1 + 1 + 2) + (
        1 + 3 + 1 + 1
    )


def test_units_round_up_per_kilobyte_written_and_four_read() -> None:
    assert [write_units(size) for size in (1, 1024, 1025, 3500)] == [1, 1, 2, 4]
    assert read_units(3500, consistent=True) == 1 and read_units(10_000, consistent=False) == 1.5


def test_a_transaction_doubles_and_a_refused_write_still_pays() -> None:
    item = {"pk": s("OBJECT#cus_1"), "sk": s("STATE"), "body": s("x" * 1500)}
    assert write_cost(TABLE, None, item, new=item, applied=True, transactional=False) == 2
    assert write_cost(TABLE, None, item, new=item, applied=True, transactional=True) == 4
    # refused by its condition: the units of the larger of the stored and the sent item, no index write
    assert (
        write_cost(TABLE, item, item, new={"pk": s("x"), "sk": s("y")}, applied=False, transactional=True)
        == 4
    )


def test_an_update_pays_for_the_larger_item_and_each_index_it_touches() -> None:
    before = {"pk": s("EVENT#evt_1"), "sk": s("EVENT"), "payload": s("x" * 2500), "status": s("IN_PROGRESS")}
    before |= {"type_day": s("charge.refunded#2026-12-02#3"), "created_event": s("000001796245094#evt_1")}
    after = {**before, "status": s("PUBLISHED")}
    # 3 units for the 2.6 KB item, 1 for the by-type entry whose projected status changed
    assert write_cost(TABLE, before, after, new=None, applied=True, transactional=False) == 4
    unchanged_projection = {**before, "published_at": {"N": "1796245095"}}
    assert write_cost(TABLE, before, unchanged_projection, new=None, applied=True, transactional=False) == 3
    # an index key that changes moves the entry: a delete and a put
    moved = {**after, "created_event": s("000001796245095#evt_1")}
    assert TABLE.index_writes(after, moved) == 2
    # a sparse index: an item without its keys writes nothing there
    record = {"pk": s("OBJECT#ch_1"), "sk": s("STATE"), "amount": {"N": "5000"}}
    assert TABLE.index_writes(None, record) == 0
    assert (
        TABLE.index_writes(None, {**record, "customer_key": s("cus_1"), "customer_sort": s("charge#1")}) == 1
    )
