"""Checkout: the fulfilment signal for each Checkout Session.

``fulfilment_status`` says whether the order may be fulfilled:

- ``paid``: completed and paid, or completed with nothing to pay (setup mode, a
  free trial, a 100% discount: Stripe's ``no_payment_required``);
- ``unpaid``: completed, but an asynchronous payment (bank debit, transfer) is
  still pending: wait for ``checkout.session.async_payment_succeeded``;
- ``failed``: the asynchronous payment failed;
- ``expired``: the session expired without being completed.
"""

from __future__ import annotations

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record, expandable_id, object_record, pick, pick_ids
from stripe_webhook.core.routing import Family

family = Family("checkout", owns=("checkout.session",))

PAID_STATUSES = frozenset({"paid", "no_payment_required"})


def fulfilment_status(event_type: str, payment_status: object) -> tuple[str, int]:
    """The fulfilment status and its rank among same-second events."""
    if event_type == "checkout.session.async_payment_failed":
        return "failed", 30
    if event_type == "checkout.session.expired":
        return "expired", 40
    if isinstance(payment_status, str) and payment_status in PAID_STATUSES:
        return "paid", 30 if event_type == "checkout.session.async_payment_succeeded" else 20
    return "unpaid", 10


@family.handles(
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
def checkout_session_changed(event: StripeEvent) -> list[Record]:
    session = event.data_object
    status, rank = fulfilment_status(event.type, session.get("payment_status"))
    attributes = pick(
        session, "mode", "status", "payment_status", "amount_total", "currency", "client_reference_id"
    )
    attributes.update(pick_ids(session, "payment_intent", "subscription", "setup_intent", "invoice"))
    attributes["fulfilment_status"] = status
    attributes["may_fulfil"] = status == "paid"
    return object_record(event, attributes, rank=rank, customer=expandable_id(session.get("customer")))
