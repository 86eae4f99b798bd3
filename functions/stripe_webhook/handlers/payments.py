"""Payments: PaymentIntents, Charges and Refunds, each as its own record."""

from __future__ import annotations

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import (
    Record,
    expandable_id,
    integer,
    object_record,
    pick,
    pick_ids,
    rank_for,
    text,
)
from stripe_webhook.core.routing import Family

family = Family("payments", owns=("payment_intent", "charge", "refund"))

PAYMENT_INTENT_EVENTS = {
    "payment_intent.created": 10,
    "payment_intent.requires_action": 30,
    "payment_intent.processing": 40,
    "payment_intent.amount_capturable_updated": 50,
    "payment_intent.payment_failed": 60,
    "payment_intent.canceled": 90,
    "payment_intent.succeeded": 90,
}
CHARGE_EVENTS = (
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
    "charge.refunded",
    "charge.updated",
)
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
REFUND_STATUS_RANK = {"pending": 10, "requires_action": 20, "succeeded": 90, "failed": 90, "canceled": 90}


@family.handles(*PAYMENT_INTENT_EVENTS)
def payment_intent_changed(event: StripeEvent) -> list[Record]:
    intent = event.data_object
    attributes = pick(
        intent, "status", "amount", "amount_received", "amount_capturable", "currency", "capture_method"
    )
    attributes.update(pick_ids(intent, "latest_charge", "payment_method", "invoice"))
    error = intent.get("last_payment_error")
    if isinstance(error, dict):
        attributes.update(
            {f"last_payment_error_{k}": v for k, v in pick(error, "code", "decline_code").items()}
        )
    return object_record(
        event,
        attributes,
        rank=PAYMENT_INTENT_EVENTS[event.type],
        customer=expandable_id(intent.get("customer")),
    )


def _charge_rank(charge: dict[str, object]) -> int:
    """Charges move pending → succeeded/failed → captured → (partly) refunded."""
    rank = {"pending": 10, "failed": 20, "succeeded": 20}.get(text(charge.get("status")) or "", 0)
    if charge.get("captured") is True:
        rank += 5
    amount_refunded = integer(charge.get("amount_refunded"))
    if isinstance(amount_refunded, int) and amount_refunded > 0:
        rank += 10 if charge.get("refunded") is True else 5
    return rank


@family.handles(*CHARGE_EVENTS)
def charge_changed(event: StripeEvent) -> list[Record]:
    charge = event.data_object
    attributes = pick(
        charge,
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "paid",
        "captured",
        "refunded",
        "disputed",
        "failure_code",
    )
    attributes.update(pick_ids(charge, "payment_intent", "payment_method", "balance_transaction"))
    return object_record(
        event, attributes, rank=_charge_rank(charge), customer=expandable_id(charge.get("customer"))
    )


@family.handles(*REFUND_EVENTS)
def refund_changed(event: StripeEvent) -> list[Record]:
    refund = event.data_object
    attributes = pick(refund, "status", "amount", "currency", "reason", "failure_reason")
    attributes.update(pick_ids(refund, "charge", "payment_intent"))
    return object_record(event, attributes, rank=rank_for(event, {}, REFUND_STATUS_RANK))
