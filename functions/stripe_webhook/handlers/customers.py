"""Customers and their payment methods."""

from __future__ import annotations

from typing import Any

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record, expandable_id, object_record, pick
from stripe_webhook.core.routing import Family

family = Family("customers", owns=("customer", "payment_method"))

CUSTOMER_EVENTS = {"customer.created": 10, "customer.updated": 20, "customer.deleted": 0}
PAYMENT_METHOD_EVENTS = {
    "payment_method.attached": 10,
    "payment_method.updated": 15,
    "payment_method.detached": 20,
}


@family.handles(*CUSTOMER_EVENTS)
def customer_changed(event: StripeEvent) -> list[Record]:
    customer = event.data_object
    attributes = pick(customer, "email", "name", "currency", "delinquent", "balance")
    settings = customer.get("invoice_settings")
    if isinstance(settings, dict) and (method := expandable_id(settings.get("default_payment_method"))):
        attributes["default_payment_method"] = method
    return object_record(
        event,
        attributes,
        rank=CUSTOMER_EVENTS[event.type],
        customer=event.object_id,
        deleted=event.type == "customer.deleted",
    )


@family.handles(*PAYMENT_METHOD_EVENTS)
def payment_method_changed(event: StripeEvent) -> list[Record]:
    method = event.data_object
    customer = expandable_id(method.get("customer"))
    attributes: dict[str, Any] = pick(method, "type")
    attributes["attached"] = customer is not None
    card = method.get("card")
    if isinstance(card, dict):
        attributes.update(
            {
                f"card_{name}": value
                for name, value in pick(card, "brand", "last4", "exp_month", "exp_year").items()
            }
        )
    # Detached methods leave the customer's listing (no customer key) but keep their record.
    return object_record(event, attributes, rank=PAYMENT_METHOD_EVENTS[event.type], customer=customer)
