"""The shape of the records the kit reads from the webhook's table: the webhook writes them,
``stripe_actions`` (``Consumer``'s ``read_record``) and the tools read them.

    OBJECT#<stripe id> / STATE               one record per Stripe object (the handler's fields)
    OBJECT#<stripe id> / LINK#<name>#<id>    a link the object's own events do not carry
    BALANCE#<acct|platform> / BALANCE#live|test  the latest balance (it has no id)

A reader queries the object's partition and gives its items, as plain values, to ``merged``. A
record that belongs to a customer carries the ``by-customer`` index's keys (``CUSTOMER_KEY``,
``CUSTOMER_SORT``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

STATE_SK = "STATE"
FIXED_BY_PREFIX = "evt_fix_"
"""What a record names as its last event when ``ops verify --records --fix`` wrote it from Stripe's
object (``evt_fix_<unix time of the fetch>``): no stored event has that id."""
UNCERTAIN = "order_uncertain"
"""Set on a record kept by a tie-break no Stripe key could settle."""
WRITE_MARKS = ("last_event_id", "last_event_watermark", "updated_at")
"""What every write of a record sets anew, so a record still holding the values one write gave
them is that write's: how an action tells the record it was sent is the one stored."""
LINK_SK_PREFIX = "LINK#"
CUSTOMER_KEY = "customer_key"
CUSTOMER_SORT = "customer_sort"


def object_key(object_id: str) -> tuple[str, str]:
    return f"OBJECT#{object_id}", STATE_SK


def link_sk(name: str, linked_id: str) -> str:
    return f"{LINK_SK_PREFIX}{name}#{linked_id}"


def balance_key(owner: str, livemode: bool) -> tuple[str, str]:
    """The balance has no id: one item per account (or ``platform``) and mode."""
    return f"BALANCE#{owner}", f"BALANCE#{'live' if livemode else 'test'}"


def customer_sort(object_type: str, created: int, object_id: str) -> str:
    """Sort key of the ``by-customer`` index: by object type, then the object's ``created``."""
    return f"{object_type}#{created:012d}#{object_id}"


def merged(object_id: str, items: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The object's record with its links merged, from every item of its partition: each link's ids
    in ``links[name]``, and ``record[name]`` = the id when there is one and the record has none (an
    invoice's ``payment_intent`` since API version 2025-03-31). None if there is no record."""
    sk = object_key(object_id)[1]
    items = list(items)
    record = next((item for item in items if item.get("sk") == sk), None)
    if record is None:
        return None
    links: dict[str, list[str]] = {}
    for item in items:
        if str(item.get("sk", "")).startswith(LINK_SK_PREFIX):
            links.setdefault(str(item["link"]), []).append(str(item["linked_id"]))
    for name, ids in links.items():
        if len(ids) == 1:
            record.setdefault(name, ids[0])
    if links:
        record["links"] = {name: sorted(ids) for name, ids in links.items()}
    return record
