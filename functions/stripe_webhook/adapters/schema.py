"""The table's shape: item keys, the event log's status values, and the indexes.

One table, string keys ``pk``/``sk``. The write side (``claim.py``, ``lease.py``) and the read
side (``queries.py``, the tooling) both spell keys through this module (the records' own keys
through ``contract.records``), so the two cannot disagree. The template's ``EventsTable``
declares the same attributes and indexes (``tests/integration/test_template.py`` checks it).

    EVENT#<event id>      / EVENT               the event log (dedup claim, lease, payload)
    OBJECT#<stripe id>    / STATE               one record per Stripe object    (``contract.records``:
    OBJECT#<stripe id>    / LINK#<name>#<id>    a link the object's events do not carry  the kit reads them)
    BALANCE#<acct|platform> / BALANCE#live|test  the latest balance
    RECONCILER            / STATE | ENDPOINTS   the reconciler's state, the stack's endpoints
    CONSOLE#<YYYY-MM>     / <time>#<id>         what a person did from the console (``infra.console``)

The ``by-object`` index (an event's ``object_id``, then ``created_event``) holds the same entries
as ``by-type``: both keys come from attributes the claim and the mark already write, so it costs
one index write per event and no change to the write path.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from contract.records import CUSTOMER_KEY, CUSTOMER_SORT

EVENT_SK = "EVENT"
RECONCILER_PK = "RECONCILER"
RECONCILER_STATE_SK = "STATE"
RECONCILER_ENDPOINTS_SK = "ENDPOINTS"
IN_PROGRESS = "IN_PROGRESS"
PUBLISHED = "PUBLISHED"

CUSTOMER_INDEX = "by-customer"
TYPE_INDEX = "by-type"
TYPE_DAY = "type_day"
CREATED_EVENT = "created_event"
OBJECT_INDEX = "by-object"
OBJECT_ID = "object_id"
TIME_INDEX = "by-time"
LOG_SHARD = "log_shard"
INDEXES = {
    CUSTOMER_INDEX: (CUSTOMER_KEY, CUSTOMER_SORT),
    TYPE_INDEX: (TYPE_DAY, CREATED_EVENT),
    OBJECT_INDEX: (OBJECT_ID, CREATED_EVENT),
    TIME_INDEX: (LOG_SHARD, CREATED_EVENT),
}
"""Index name → (partition key, sort key) attributes."""
TYPE_SHARDS = 8
"""The ``by-type`` index spreads each type's day over this many partition keys. One GSI partition
takes 1,000 writes/s and each event writes its index entry once (with the mark, or a release), so
one key would cap a single busy type (a billing run's ``invoice.*``) near 1,000 events/s; 8 keys,
near 8,000.
Only ever raise it: queries read shards ``0..TYPE_SHARDS-1``, plus the unsharded key of entries
written before sharding."""


LOG_SHARDS = 8
"""The ``by-time`` index (every event, in time order: the console's list) spreads the events over
this many partition keys, for the same reason as ``TYPE_SHARDS``: one key takes 1,000 writes/s.
Only ever raise it: the console reads shards ``0..LOG_SHARDS-1``."""


def log_shard(event_id: str) -> str:
    """An event's ``by-time`` partition key: stable, and even over event ids."""
    return str(_shard(event_id, LOG_SHARDS))


def log_shards() -> list[str]:
    """Every ``by-time`` partition key."""
    return [str(shard) for shard in range(LOG_SHARDS)]


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def event_id_of(item: dict[str, Any]) -> str:
    """An event-log item's (or index entry's) event id: its own attribute on items written before
    it was dropped, else its key (``EVENT#<event id>``; a key is in every index entry)."""
    return str(item.get("event_id") or str(item["pk"]).removeprefix("EVENT#"))


def event_key(event_id: str) -> dict[str, Any]:
    """The event-log item's key, as DynamoDB attribute values."""
    return {"pk": {"S": event_pk(event_id)}, "sk": {"S": EVENT_SK}}


def key_item(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def type_shard(event_id: str) -> int:
    """The ``by-type`` shard of an event: stable, and even over event ids."""
    return _shard(event_id, TYPE_SHARDS)


def _shard(event_id: str, shards: int) -> int:
    return zlib.crc32(event_id.encode()) % shards


def type_day_key(event_type: str, created: int, shard: int | None) -> str:
    """Partition key of the ``by-type`` index: one type, one UTC day, one shard (None: the
    unsharded key entries written before sharding carry)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(created))
    return f"{event_type}#{day}" if shard is None else f"{event_type}#{day}#{shard}"


def type_day_keys(event_type: str, day: int) -> list[str]:
    """Every ``by-type`` partition key of one type's UTC day: each shard's, and the unsharded key
    entries written before sharding carry."""
    return [type_day_key(event_type, day, shard) for shard in (None, *range(TYPE_SHARDS))]


def created_event_bounds(since: int, until: int) -> tuple[str, str]:
    """``BETWEEN`` bounds on ``created_event`` for ``since <= created <= until``, taking both sort
    keys: the time alone, and the time then ``#<event id>`` of entries written before."""
    return created_event_key(since), created_event_key(until) + "~"


def created_event_key(created: int) -> str:
    """Sort key of the ``by-type`` index: time order (entries written before this carry
    ``#<event id>`` after the time; the query's bounds take both)."""
    return f"{created:012d}"
