"""Billing: subscriptions (with an entitlement view), invoices and invoice payments.

A subscription record answers "is this customer entitled right now, and until
when": ``entitled`` is true while the subscription is ``active`` or
``trialing`` (and, by choice, ``past_due``: Stripe is still retrying the
payment), and ``entitled_until`` is the end of the current period.
"""

from __future__ import annotations

from typing import Any

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import (
    Record,
    expandable_id,
    integer,
    link_record,
    object_record,
    pick,
    pick_ids,
    rank_for,
    text,
)
from stripe_webhook.core.routing import Family

family = Family("billing", owns=("subscription", "invoice", "invoice_payment"))

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
)
SUBSCRIPTION_STATUS_RANK = {
    "incomplete": 10,
    "trialing": 20,
    "active": 30,
    "past_due": 40,
    "unpaid": 50,
    "paused": 60,
    "incomplete_expired": 90,
    "canceled": 90,
}
ENTITLED_STATUSES = frozenset({"active", "trialing", "past_due"})

INVOICE_EVENTS = {
    "invoice.created": 10,
    "invoice.finalized": 20,
    "invoice.payment_action_required": 30,
    "invoice.payment_failed": 40,
    "invoice.marked_uncollectible": 50,
    "invoice.payment_succeeded": 90,
    "invoice.paid": 90,
    "invoice.voided": 95,
}
INVOICE_PAYMENT_STATUS_RANK = {"open": 10, "paid": 90, "canceled": 90}


def _period_end(subscription: dict[str, Any]) -> int | None:
    """``current_period_end``: on the subscription before API version 2025-03-31, on its items after."""
    value = integer(subscription.get("current_period_end"))
    if value is not None:
        return value
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    ends = [
        end
        for item in (data if isinstance(data, list) else [])
        if isinstance(item, dict) and (end := integer(item.get("current_period_end"))) is not None
    ]
    return max(ends) if ends else None


def _prices(subscription: dict[str, Any]) -> list[str]:
    items = subscription.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    items_list = data if isinstance(data, list) else []
    prices = [expandable_id(item.get("price")) for item in items_list if isinstance(item, dict)]
    return [price for price in prices if price]


@family.handles(*SUBSCRIPTION_EVENTS)
def subscription_changed(event: StripeEvent) -> list[Record]:
    subscription = event.data_object
    status = text(subscription.get("status"))
    period_end = _period_end(subscription)
    entitled = status in ENTITLED_STATUSES
    attributes = pick(
        subscription, "status", "cancel_at_period_end", "cancel_at", "canceled_at", "trial_end", "currency"
    )
    attributes["prices"] = _prices(subscription)
    attributes["entitled"] = entitled
    if entitled and period_end is not None:
        attributes["entitled_until"] = period_end
    if period_end is not None:
        attributes["current_period_end"] = period_end
    if isinstance(subscription.get("pause_collection"), dict):
        attributes["paused_collection"] = True
    return object_record(
        event,
        attributes,
        rank=rank_for(event, {"customer.subscription.created": 5}, SUBSCRIPTION_STATUS_RANK),
        customer=expandable_id(subscription.get("customer")),
        deleted=event.type == "customer.subscription.deleted",
        ranked=False,  # statuses cycle (active ↔ past_due, paused ↔ active): a second is ambiguous
    )


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """``subscription`` before API version 2025-03-31, ``parent.subscription_details`` after."""
    direct = expandable_id(invoice.get("subscription"))
    if direct:
        return direct
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    return expandable_id(details.get("subscription")) if isinstance(details, dict) else None


@family.handles(*INVOICE_EVENTS)
def invoice_changed(event: StripeEvent) -> list[Record]:
    invoice = event.data_object
    attributes = pick(
        invoice,
        "status",
        "number",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "currency",
        "billing_reason",
        "attempt_count",
        "next_payment_attempt",
        "period_start",
        "period_end",
        "hosted_invoice_url",
    )
    subscription = _invoice_subscription(invoice)
    if subscription:
        attributes["subscription"] = subscription
    # Before API version 2025-03-31 only: since then the payment arrives in invoice_payment.paid
    attributes.update(pick_ids(invoice, "payment_intent", "charge"))
    transitions = invoice.get("status_transitions")
    if isinstance(transitions, dict):
        attributes.update(
            pick(transitions, "finalized_at", "paid_at", "voided_at", "marked_uncollectible_at")
        )
    return object_record(
        event, attributes, rank=INVOICE_EVENTS[event.type], customer=expandable_id(invoice.get("customer"))
    )


@family.handles("invoice_payment.paid")
def invoice_payment_paid(event: StripeEvent) -> list[Record]:
    """Since API version 2025-03-31 (basil) invoices and PaymentIntents no longer name each other;
    this event's ``invoice_payment`` does (``invoice``, ``payment.payment_intent`` or
    ``payment.charge``). Its record, plus a link on each side, so the invoice's and the payment's
    records carry each other's ids on every API version (``queries.get_record``)."""
    payment = event.data_object
    attributes = pick(payment, "status", "amount_paid", "amount_requested", "currency", "is_default")
    invoice = expandable_id(payment.get("invoice"))
    paid_with = payment.get("payment")
    paid_with = paid_with if isinstance(paid_with, dict) else {}
    linked = pick_ids(paid_with, "payment_intent", "charge")
    attributes.update(linked)
    if invoice:
        attributes["invoice"] = invoice
    transitions = payment.get("status_transitions")
    if isinstance(transitions, dict):
        attributes.update(pick(transitions, "paid_at", "canceled_at"))
    records = object_record(event, attributes, rank=rank_for(event, {}, INVOICE_PAYMENT_STATUS_RANK))
    if invoice and records:
        for name, payment_id in linked.items():
            records += [
                link_record(event, invoice, name, payment_id),
                link_record(event, payment_id, "invoice", invoice),
            ]
    return records
