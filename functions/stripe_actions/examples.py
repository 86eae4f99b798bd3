"""Three example actions, one per kind of business fact a Stripe user acts on.

- ``fulfil_order``: a paid order is fulfilled once and its buyer gets a receipt. An order is a
  Checkout Session in ``payment`` mode (fulfilled when its record's ``may_fulfil`` says so: paid,
  or its bank debit cleared) or an invoice (fulfilled when its record's status is ``paid``). A
  ``subscription``-mode session waits for its invoices, so a subscription's first period is
  fulfilled once, from its invoice. Both ``invoice.paid`` and ``invoice.payment_succeeded`` come
  for one invoice: the key is the invoice id, so the second finds it done.
- ``entitlement``: the customer's current access from the subscription's record (``entitled``,
  ``entitled_until``), keyed on the subscription and the record's version, so each state is
  written once, and a late message never overwrites a newer state (``as_of``). Its whole effect
  is that one write: a write action (``write``), made by the kit in one call.
- ``dispute_alert``: people are told once per dispute, with the evidence due date.

The receipt and the alert go through ``EffectLedger.once``: attempted at most once, and surfaced
as uncertain instead of repeated when SES's or SNS's answer is lost (``effects``).

Each reads the webhook's record, not the event, where order matters: the record is as new as
the message or newer, whatever order messages arrive in.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from stripe_actions.actions import Ports, Run, Wait, Write, register_action
from stripe_actions.adapters import ActionsTable, AlertTopic, ReceiptMailer, entitlement_key, fulfilment_key
from stripe_actions.effects import EffectLedger
from stripe_actions.messages import ActionEvent


class RecordMissing(Exception):
    """The webhook writes an object's record before it publishes, so a missing one is a fault
    (a table restored from an older backup, a message from another stack): retried, then DLQ."""


def _current_record(event: ActionEvent, object_id: str | None = None) -> dict[str, Any]:
    record = event.record(object_id)
    if record is None:
        raise RecordMissing(f"no record of {object_id or event.object_id} in the events table")
    return record


def _money(amount: object, currency: object) -> str:
    if not isinstance(amount, int) or not isinstance(currency, str):
        return "an amount"
    return f"{amount / 100:.2f} {currency.upper()}"


def _day(timestamp: object) -> str:
    if not isinstance(timestamp, int):
        return "unknown"
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@register_action
class FulfilOrder:
    name = "fulfil_order"
    types = (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    )

    reads_records = True

    def __init__(self, ports: Ports) -> None:
        self.table: ActionsTable = ports.actions_table()
        self.mailer: ReceiptMailer | None = ports.mailer()
        self.effects: EffectLedger = ports.effects()

    def decide(self, event: ActionEvent) -> Run | Wait:
        order_id = event.object_id
        if order_id is None:
            return Wait("the event's object has no id")
        record = _current_record(event)
        if event.type.startswith("invoice."):
            status = record.get("status")
            return Run(order_id) if status == "paid" else Wait(f"invoice status {status}")
        if record.get("mode") == "subscription":
            return Wait("a subscription is fulfilled from its paid invoices")
        if not record.get("may_fulfil"):
            return Wait(f"fulfilment_status {record.get('fulfilment_status')}")
        return Run(order_id)

    def perform(self, event: ActionEvent, key: str) -> str:
        order = event.object
        email = _email(order)
        pk, sk = fulfilment_key(key)
        stored = self.table.put_new(
            pk,
            sk,
            {
                "order_id": key,
                "kind": "checkout_session" if key.startswith("cs_") else "invoice",
                "customer": _id(order.get("customer")),
                "amount": order.get("amount_total", order.get("amount_paid")),
                "currency": order.get("currency"),
                "email": email,
                "fulfilled_at": event.event.get("created"),
                "event_id": event.id,
                "livemode": event.livemode,
            },
        )
        mailer, to = self.mailer, stored.get("email")  # the first delivery's, whichever this is
        if mailer is None or not mailer.sender:
            return "fulfilled; no receipt: no sender configured"
        if not isinstance(to, str) or not to:
            return "fulfilled; no receipt: the order has no email address"
        subject = f"Your receipt for order {key}"
        text = (
            f"Thank you. We received {_money(stored.get('amount'), stored.get('currency'))} for order {key}."
        )
        self.effects.once(
            f"receipt:{key}",
            lambda: mailer.send(to, subject, text),
            details={"to": to, "subject": subject},
            permanent=mailer.permanent_refusal,
        )
        return f"email to {to}"


def _email(order: Any) -> str | None:
    details = order.get("customer_details")
    for value in (details.get("email") if isinstance(details, dict) else None, order.get("customer_email")):
        if isinstance(value, str) and "@" in value:
            return value
    return None


def _id(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


@register_action
class Entitlement:
    name = "entitlement"
    types = ("customer.subscription.*",)
    reads_records = True

    def __init__(self, ports: Ports) -> None:
        self.table: ActionsTable = ports.actions_table()

    def decide(self, event: ActionEvent) -> Run | Wait:
        record = _current_record(event)
        if not isinstance(record.get("customer"), str):
            return Wait("no customer on the subscription; nothing to entitle")
        return Run(f"{record['object_id']}@{record.get('last_event_id', event.id)}")

    def write(self, event: ActionEvent, key: str) -> Write:
        record = _current_record(event)
        customer = str(record["customer"])
        active = bool(record.get("entitled")) and not record.get("deleted")
        until = record.get("entitled_until") if active else None
        pk, sk = entitlement_key(customer, str(record["object_id"]))
        state = f"active until {_day(until)}" if active else "not active"
        return self.table.write_if_newer(
            pk,
            sk,
            {
                "customer": customer,
                "subscription": record["object_id"],
                "active": active,
                "until": until,
                "status": record.get("status"),
                "prices": record.get("prices", []),
                "source_event": record.get("last_event_id"),
                "livemode": event.livemode,
            },
            as_of=int(record.get("last_event_watermark", 0)),
            done=f"{customer} {state}",
            refused=f"{customer}: an entitlement as new or newer is already stored",
        )


@register_action
class DisputeAlert:
    name = "dispute_alert"
    types = ("charge.dispute.created",)

    def __init__(self, ports: Ports) -> None:
        self.topic: AlertTopic = ports.alert_topic()
        self.effects: EffectLedger = ports.effects()

    def decide(self, event: ActionEvent) -> Run | Wait:
        return Run(event.object_id) if event.object_id else Wait("the dispute has no id")

    def perform(self, event: ActionEvent, key: str) -> str:
        dispute = event.object
        evidence = dispute.get("evidence_details")
        due = evidence.get("due_by") if isinstance(evidence, dict) else None
        amount = _money(dispute.get("amount"), dispute.get("currency"))
        subject = f"Stripe dispute opened: {key}, evidence due {_day(due)}"
        message = json.dumps(
            {
                "dispute": key,
                "charge": _id(dispute.get("charge")),
                "amount": amount,
                "reason": dispute.get("reason"),
                "evidence_due_by": due,
                "livemode": event.livemode,
                "dashboard": f"https://dashboard.stripe.com/{'' if event.livemode else 'test/'}"
                f"disputes/{key}",
            }
        )
        self.effects.once(
            f"alert:{key}", lambda: self.topic.notify(subject, message), details={"subject": subject}
        )
        return f"alert sent, evidence due {_day(due)}"
