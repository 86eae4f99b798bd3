"""Money movement: the latest known balance of the platform or a connected account."""

from __future__ import annotations

from typing import Any

from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record
from stripe_webhook.routing import registry


def _amounts(entries: object) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        return []
    return [
        {"amount": entry["amount"], "currency": entry["currency"]}
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("amount"), int)
        and isinstance(entry.get("currency"), str)
    ]


@registry.register("balance.available", family="balance")
def balance_available(event: StripeEvent) -> list[Record]:
    balance = event.data_object
    owner = event.account or "platform"
    mode = "live" if event.livemode else "test"
    attributes: dict[str, Any] = {
        "owner": owner,
        "livemode": event.livemode,
        "available": _amounts(balance.get("available")),
        "pending": _amounts(balance.get("pending")),
    }
    return [Record(f"BALANCE#{owner}", f"BALANCE#{mode}", attributes, event.created)]
