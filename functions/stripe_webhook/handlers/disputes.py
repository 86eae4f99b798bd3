"""Disputes: each dispute's state, with the evidence due date surfaced."""

from __future__ import annotations

from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record, expandable_id, pick
from stripe_webhook.routing import registry


@registry.register("charge.dispute.*", family="disputes")
def dispute_changed(event: StripeEvent) -> list[Record]:
    dispute = event.data_object
    if event.object_id is None:
        return []
    attributes = pick(
        dispute, "id", "status", "reason", "amount", "currency", "is_charge_refundable", "livemode"
    )
    attributes.update(
        {
            name: value
            for name in ("charge", "payment_intent")
            if (value := expandable_id(dispute.get(name))) is not None
        }
    )
    evidence = dispute.get("evidence_details")
    if isinstance(evidence, dict) and isinstance(evidence.get("due_by"), int):
        attributes["evidence_due_by"] = evidence["due_by"]
    if event.account:
        attributes["account"] = event.account
    return [Record(f"DISPUTE#{event.object_id}", "DISPUTE", attributes, event.created)]
