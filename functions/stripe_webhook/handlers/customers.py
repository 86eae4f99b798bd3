"""Customers: the payment methods attached to each customer."""

from __future__ import annotations

from typing import Any

from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record, expandable_id, pick
from stripe_webhook.routing import registry


@registry.register("payment_method.attached", family="customers")
def payment_method_attached(event: StripeEvent) -> list[Record]:
    method = event.data_object
    customer = expandable_id(method.get("customer"))
    if event.object_id is None or customer is None:
        return []
    attributes: dict[str, Any] = pick(method, "id", "type", "livemode")
    attributes["customer"] = customer
    attributes["attached"] = True
    card = method.get("card")
    if isinstance(card, dict):
        attributes.update(
            {
                f"card_{name}": value
                for name, value in pick(card, "brand", "last4", "exp_month", "exp_year").items()
            }
        )
    if event.account:
        attributes["account"] = event.account
    return [Record(f"CUSTOMER#{customer}", f"PAYMENT_METHOD#{event.object_id}", attributes, event.created)]
