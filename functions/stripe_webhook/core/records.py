"""What a handler asks to be written: one ``Record`` per Stripe object it keeps.

Every object record lives at ``contract.records.object_key(<stripe id>)`` and is a
snapshot of the object as of the newest event seen for it. Records that belong
to a customer also carry the keys of the ``by-customer`` index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contract.records import CUSTOMER_KEY, CUSTOMER_SORT, customer_sort, link_sk, object_key
from stripe_webhook.core.events import OBJECT_ID, StripeEvent, is_id
from stripe_webhook.errors import InvalidPayload

MAX_RECORDS = 99
"""DynamoDB's TransactWriteItems holds 100 items; one is the event's claim."""
MAX_RECORD_BYTES = 350_000
"""Under DynamoDB's 400 KB item limit, with room for the keys and bookkeeping the store adds."""
MAX_RECORDS_BYTES = 3_500_000
"""Under the transaction's 4 MB, with room for the event item (at most ~300 KB of payload)."""

MAX_TEXT_CHARS = 5000
"""The longest text a record copies from an event (Stripe's own limits are far lower: an email
holds 512); a longer one is no Stripe event's."""
MAX_INTEGER = 2**63 - 1
"""Stripe's integers are 64-bit; DynamoDB's numbers hold 38 digits."""

RANK_SLOTS = 1000
"""Ranks order events of the same second: watermark = created * RANK_SLOTS + rank."""
DELETED_RANK = RANK_SLOTS - 1


@dataclass(frozen=True)
class Record:
    """One item of state derived from an event.

    ``watermark`` orders writes to the same item: the store only overwrites an
    item whose stored watermark is lower (ties broken by event id), so an older
    event arriving late never replaces newer state. A ``deleted`` record is
    never overwritten again.
    """

    pk: str
    sk: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    watermark: int = 0
    deleted: bool = False
    ranked: bool = True
    """The rank orders this object's events within one second (its lifecycle only moves forward).
    False for a status that can go back (a subscription paused and resumed): then any two events
    of one second are ordered by asking Stripe (``ordering``)."""


def watermark(created: int, rank: int) -> int:
    """Order by the event's second, then by how far along the object's lifecycle the event is."""
    return created * RANK_SLOTS + max(0, min(rank, DELETED_RANK))


def object_record(
    event: StripeEvent,
    attributes: Mapping[str, Any],
    *,
    rank: int,
    customer: str | None = None,
    deleted: bool = False,
    ranked: bool = True,
) -> list[Record]:
    """The record for ``event.data_object`` (none if the object has no id)."""
    object_id = event.object_id
    if object_id is None:
        return []
    values: dict[str, Any] = {
        "object_id": object_id,
        "object_type": event.object_type,
        "livemode": event.livemode,
        **attributes,
    }
    if event.account:
        values["account"] = event.account
    if customer:
        created = integer(event.data_object.get("created"))
        created = event.created if created is None else created
        values["customer"] = customer
        values[CUSTOMER_KEY] = customer
        values[CUSTOMER_SORT] = customer_sort(event.object_type, created, object_id)
    if deleted:
        values["deleted"] = True
    pk, sk = object_key(object_id)
    mark = watermark(event.ordered_at, DELETED_RANK if deleted else rank)
    return [Record(pk, sk, values, mark, deleted, ranked=ranked or deleted)]


def link_record(event: StripeEvent, object_id: str, name: str, linked_id: str) -> Record:
    """The fact "``object_id``'s ``name`` is ``linked_id``" (an invoice's ``payment_intent``), kept
    beside the object's record in its partition; ``queries.get_record`` merges it into the record.
    A fact never changes, so whichever event writes it first leaves the same item."""
    pk, _ = object_key(object_id)
    values = {"object_id": object_id, "link": name, "linked_id": linked_id, "livemode": event.livemode}
    return Record(pk, link_sk(name, linked_id), values, watermark(event.ordered_at, 0))


def expandable_id(value: object) -> str | None:
    """Stripe fields such as ``customer`` are an id, an expanded object, or null. An id becomes a
    key or an index key: one that no Stripe id looks like is ``InvalidPayload`` (a 400)."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        return None
    if not is_id(OBJECT_ID, value):
        raise InvalidPayload("invalid_field", "a field that names a Stripe object is not an id")
    return value


def scalar(value: object) -> str | int | bool | None:
    """A text, integer or boolean field as a record may keep it; None for another type (a list
    where a status is expected). Out of bounds (a 6,000-character status, a 40-digit amount) is
    ``InvalidPayload``: no Stripe event carries it, and DynamoDB would refuse it on every retry."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            raise InvalidPayload("invalid_field", "an integer field is out of range")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise InvalidPayload("invalid_field", "a text field is too long")
        return value
    return None


def integer(value: object) -> int | None:
    """An integer field (a timestamp, an amount) within ``scalar``'s bounds; None for another type."""
    bounded = scalar(value)
    return bounded if isinstance(bounded, int) and not isinstance(bounded, bool) else None


def text(value: object) -> str | None:
    """A field compared with known values (a status): the string, or None for any other type."""
    return value if isinstance(value, str) else None


def pick(source: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """Copy the named fields that hold a string, an integer or a boolean (``scalar``).

    The rule: a field that is absent, null, or holds anything else is left out of the record, not
    an error. That is a hash (``metadata``), a list, a decimal number, or an expanded object. For
    an expandable field (``customer``) use ``pick_ids``, which keeps its id either way. Take a hash's
    entries by name (``pick(obj["metadata"], "order_id")``) or build a structured value in the
    handler. A scalar out of bounds is ``InvalidPayload``."""
    return {name: value for name in names if (value := scalar(source.get(name))) is not None}


def pick_ids(source: Mapping[str, Any], *names: str) -> dict[str, str]:
    """Copy the named expandable fields as ids, skipping nulls."""
    return {name: value for name in names if (value := expandable_id(source.get(name))) is not None}


def rank_for(event: StripeEvent, by_type: Mapping[str, int], by_status: Mapping[str, int]) -> int:
    """The event type's rank if it has one, else the object status's rank."""
    if event.type in by_type:
        return by_type[event.type]
    status = text(event.data_object.get("status"))
    return by_status.get(status, 0) if status is not None else 0


def records_problem(records: Sequence[Record]) -> str | None:
    """Why one DynamoDB transaction cannot write ``records``, or None: a handler's bug, caught before
    any write (it would otherwise fail the claim on every retry)."""
    if len(records) > MAX_RECORDS:
        return f"{len(records)} records; one transaction holds {MAX_RECORDS} besides the event"
    if len({(record.pk, record.sk) for record in records}) < len(records):
        return "two records with one key; a transaction may touch an item once"
    total = 0
    for record in records:
        size = len(json.dumps(record.attributes, default=str)) + len(record.pk) + len(record.sk)
        if size > MAX_RECORD_BYTES:
            return f"a record of about {size} bytes; DynamoDB items hold 400 KB"
        total += size
    if total > MAX_RECORDS_BYTES:
        return f"records of about {total} bytes; a transaction holds 4 MB"
    return None
