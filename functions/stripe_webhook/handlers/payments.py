"""Payments: the current state of each PaymentIntent."""

from __future__ import annotations

from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record, expandable_id, pick
from stripe_webhook.routing import registry


def payment_intent_key(payment_intent_id: str) -> tuple[str, str]:
    return f"PAYMENT_INTENT#{payment_intent_id}", "PAYMENT_INTENT"


@registry.register("payment_intent.succeeded", family="payments")
def payment_intent_changed(event: StripeEvent) -> list[Record]:
    intent = event.data_object
    if event.object_id is None:
        return []
    pk, sk = payment_intent_key(event.object_id)
    attributes = pick(
        intent,
        "id",
        "status",
        "amount",
        "amount_received",
        "currency",
        "capture_method",
        "livemode",
    )
    attributes.update(
        {
            name: value
            for name in ("customer", "latest_charge", "payment_method", "invoice")
            if (value := expandable_id(intent.get(name))) is not None
        }
    )
    if event.account:
        attributes["account"] = event.account
    return [Record(pk, sk, attributes, watermark=event.created)]
