"""How the tools show what the local stack stored: a record on one line, an event's records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stripe_webhook import schema

if TYPE_CHECKING:
    from stripe_webhook.queries import TableQueries

_RECORD_META = {
    "pk",
    "sk",
    "object_id",
    "object_type",
    "livemode",
    schema.CUSTOMER_KEY,
    schema.CUSTOMER_SORT,
    "last_event_id",
    "last_event_type",
    "last_event_watermark",
    "updated_at",
}


def summarize(record: dict[str, Any]) -> str:
    """The interesting fields of a record on one line."""
    fields = [f"{name}={value}" for name, value in record.items() if name not in _RECORD_META]
    return " ".join(fields)


def record_line(object_id: str, record: dict[str, Any]) -> str:
    """``OBJECT#<id>: status=… amount=…``: a record as the tools print it."""
    return f"{schema.object_key(object_id)[0]}: {summarize(record)}"


def event_records(
    table: TableQueries, payload: str, event_id: str
) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """Every item the event's handler writes, whatever its key (``OBJECT#…``, ``BALANCE#…``, links),
    as stored now: (pk, sk, the item or None, whether this event wrote it last)."""
    from stripe_webhook.composition import registry
    from stripe_webhook.events import parse_stored_event

    event = parse_stored_event(payload.encode("utf-8"))
    route = registry().resolve(event.type)
    found = []
    for record in route.handler(event) if route else []:
        stored = table.get_item(record.pk, record.sk)
        found.append(
            (record.pk, record.sk, stored, stored is not None and stored.get("last_event_id") == event_id)
        )
    return found
