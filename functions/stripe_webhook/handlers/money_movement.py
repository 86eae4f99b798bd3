"""Money movement: the latest balance, payouts and transfers."""

from __future__ import annotations

from typing import Any

from contract.records import balance_key
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import (
    Record,
    integer,
    object_record,
    pick,
    pick_ids,
    rank_for,
    scalar,
    watermark,
)
from stripe_webhook.core.routing import Family

family = Family("money_movement", owns=("balance", "payout", "transfer"))

PAYOUT_EVENTS = (
    "payout.created",
    "payout.updated",
    "payout.paid",
    "payout.failed",
    "payout.canceled",
    "payout.reconciliation_completed",
)
PAYOUT_STATUS_RANK = {"pending": 10, "in_transit": 20, "paid": 90, "failed": 90, "canceled": 90}
TRANSFER_EVENTS = {"transfer.created": 10, "transfer.updated": 20, "transfer.reversed": 30}


def _amounts(entries: object) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        return []
    return [
        {"amount": amount, "currency": currency}
        for entry in entries
        if isinstance(entry, dict)
        and (amount := integer(entry.get("amount"))) is not None
        and isinstance(currency := scalar(entry.get("currency")), str)
    ]


@family.handles("balance.available")
def balance_available(event: StripeEvent) -> list[Record]:
    """The balance has no id: one record per account (or the platform) and mode."""
    balance = event.data_object
    owner = event.account or "platform"
    attributes: dict[str, Any] = {
        "object_type": "balance",
        "owner": owner,
        "livemode": event.livemode,
        "available": _amounts(balance.get("available")),
        "pending": _amounts(balance.get("pending")),
    }
    if event.account:
        attributes["account"] = event.account
    pk, sk = balance_key(owner, event.livemode)
    return [Record(pk, sk, attributes, watermark(event.ordered_at, 0))]


@family.handles(*PAYOUT_EVENTS)
def payout_changed(event: StripeEvent) -> list[Record]:
    payout = event.data_object
    attributes = pick(
        payout, "status", "amount", "currency", "arrival_date", "method", "type", "automatic", "failure_code"
    )
    attributes.update(pick_ids(payout, "destination", "balance_transaction"))
    rank = rank_for(event, {"payout.reconciliation_completed": 95}, PAYOUT_STATUS_RANK)
    return object_record(event, attributes, rank=rank)


@family.handles(*TRANSFER_EVENTS)
def transfer_changed(event: StripeEvent) -> list[Record]:
    transfer = event.data_object
    attributes = pick(transfer, "amount", "amount_reversed", "currency", "reversed", "transfer_group")
    attributes.update(pick_ids(transfer, "destination", "source_transaction", "destination_payment"))
    return object_record(event, attributes, rank=TRANSFER_EVENTS[event.type])
