"""What a DynamoDB request costs, by DynamoDB's documented sizing rules (Amazon DynamoDB Developer Guide):

- item size (“Item sizes and formats”, ``CapacityUnitCalculations.html``): each attribute's name in
  UTF-8 bytes plus its value: a string's UTF-8 bytes, a binary's bytes, a number's significant
  digits halved (rounded up) plus one byte, a boolean or null one byte, a list or map three bytes
  plus one per element plus its elements (a map's keys counted as names), a set its elements;
- writes (“Capacity unit consumption for write operations”, ``read-write-operations.html``): one
  write unit per 1 KB of the item, rounded up; a put or update costs by the larger of the item
  before and after it; a write refused by its condition still consumes its units;
- transactions (“Capacity management for transactions”, ``transaction-apis.html``): each item in
  a ``TransactWriteItems`` costs twice what its single write would, whether or not it commits;
- global secondary indexes (“Provisioned throughput considerations for GSIs”, ``GSI.html``): a
  write that adds an index entry costs one write to the index, one that removes an entry one, one
  that changes an entry's key two (delete and put), one that changes only a projected attribute
  one, each by the entry's size (the index key, the table's key and the projected attributes);
- reads: one read unit per 4 KB, rounded up, strongly consistent; half that eventually consistent;
  a query by the total size of the items it returns.

Stored bytes add DynamoDB's 100 bytes of per-item overhead (“Table size”) to the table's item and
each index entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
ITEM_OVERHEAD_BYTES = 100
Item = Mapping[str, Mapping[str, Any]]
"""An item as DynamoDB's wire format spells it: ``{"pk": {"S": "…"}, "n": {"N": "12"}}``."""


def number_size(text: str) -> int:
    """A number's size: its significant digits (leading and trailing zeros dropped), halved and
    rounded up, plus one byte."""
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(
            1 + len(name.encode("utf-8")) + value_size(element) for name, element in content.items()
        )
    if kind == "SS":
        return sum(len(element.encode("utf-8")) for element in content)
    if kind == "NS":
        return sum(number_size(element) for element in content)
    if kind == "BS":
        return sum(len(element) for element in content)
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def item_size(item: Item | None) -> int:
    """An item's size in bytes as DynamoDB counts it (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    @classmethod
    def of(cls, description: Mapping[str, Any]) -> Index:
        """From ``DescribeTable``'s ``GlobalSecondaryIndexes`` entry (or the template's)."""
        projection = description.get("Projection", {})
        return cls(
            str(description["IndexName"]),
            tuple(str(key["AttributeName"]) for key in description["KeySchema"]),
            str(projection.get("ProjectionType", "ALL")),
            tuple(projection.get("NonKeyAttributes", ())),
        )

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """The index entry an item makes, or None (sparse: an item without the index's keys)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = (
            set(self.keys) | set(table_keys) | (set(self.included) if self.projection == "INCLUDE" else set())
        )
        return {name: value for name, value in item.items() if name in names}


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def index_writes(self, before: Item | None, after: Item | None) -> int:
        """What the indexes cost for an item going from ``before`` to ``after`` (None: absent)."""
        units = 0
        for index in self.indexes:
            old, new = index.entry(before, self.keys), index.entry(after, self.keys)
            if old == new:
                continue
            if old is None or new is None:  # an entry added or removed
                units += write_units(item_size(old or new))
            elif any(old[key] != new[key] for key in index.keys):  # moved: delete and put
                units += write_units(item_size(old)) + write_units(item_size(new))
            else:  # a projected attribute changed
                units += write_units(max(item_size(old), item_size(new)))
        return units

    def stored_bytes(self, item: Item | None) -> int:
        """What an item occupies with its index entries, overhead included."""
        if not item:
            return 0
        entries = [index.entry(item, self.keys) for index in self.indexes]
        return sum(item_size(entry) + ITEM_OVERHEAD_BYTES for entry in [item, *entries] if entry is not None)


def write_cost(
    table: Table,
    before: Item | None,
    after: Item | None,
    *,
    new: Item | None,
    applied: bool,
    transactional: bool,
) -> int:
    """Write units of one put or update (``new``: the item a put sends; None for an update). A
    refused write costs its table units and changes no index."""
    sizes = [item_size(before), item_size(new if new is not None else after)]
    if applied:
        sizes.append(item_size(after))
    units = write_units(max(sizes)) * (2 if transactional else 1)
    return units + (table.index_writes(before, after) if applied else 0)
