"""Disputes: each dispute's state, with the evidence due date surfaced."""

from __future__ import annotations

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record, expandable_id, integer, object_record, pick, pick_ids
from stripe_webhook.core.routing import Family

family = Family("disputes", owns=("dispute",))

DISPUTE_EVENTS = {
    "charge.dispute.created": 10,
    "charge.dispute.funds_withdrawn": 15,
    "charge.dispute.updated": 20,
    "charge.dispute.closed": 90,
    "charge.dispute.funds_reinstated": 95,
}


@family.handles(*DISPUTE_EVENTS)
def dispute_changed(event: StripeEvent) -> list[Record]:
    dispute = event.data_object
    attributes = pick(dispute, "status", "reason", "amount", "currency", "is_charge_refundable")
    attributes.update(pick_ids(dispute, "charge", "payment_intent"))
    evidence = dispute.get("evidence_details")
    if isinstance(evidence, dict):
        attributes.update(pick(evidence, "past_due", "has_evidence", "submission_count"))
        due_by = integer(evidence.get("due_by"))
        if due_by is not None:
            attributes["evidence_due_by"] = due_by
    charge = dispute.get("charge")
    customer = expandable_id(charge.get("customer")) if isinstance(charge, dict) else None
    return object_record(event, attributes, rank=DISPUTE_EVENTS[event.type], customer=customer)
