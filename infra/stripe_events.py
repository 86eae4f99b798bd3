"""Realistic Stripe event payloads, fresh ids, and signing.

One source of payloads for the tests, the local stack and the trigger tooling.
Each resource has one stored payload in ``tests/events/<type>.json``, exactly
as Stripe sends it; the other event types of that resource are the stored
payload with the fields that event changes (``VARIANTS``).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import secrets
import time
from functools import cache
from typing import Any

from infra import REPO_ROOT
from stripe_webhook.signature import sign_header

EVENTS_DIR = REPO_ROOT / "tests" / "events"


Patch = dict[str, Any]

_FAILED_PAYMENT = {
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    "message": "Your card has insufficient funds.",
    "type": "card_error",
}

_TRANSITIONS = ("finalized_at", "marked_uncollectible_at", "paid_at", "voided_at")


def _unpaid_invoice(status: str, **changes: Any) -> Patch:
    """The stored paid invoice, not (yet) paid: ``status``, amounts, and its status transitions."""
    transitions: dict[str, Any] = dict.fromkeys(_TRANSITIONS)
    transitions["finalized_at"] = 1731414999
    transitions.update({name: changes.pop(name) for name in _TRANSITIONS if name in changes})
    return {
        "status": status,
        "amount_paid": 0,
        "amount_remaining": 1500,
        "paid": False,
        "status_transitions": transitions,
        **changes,
    }


VARIANTS: dict[str, tuple[str, Patch, Patch | None]] = {
    # event type: (stored payload it derives from, changes to data.object, previous_attributes)
    "payment_intent.created": (
        "payment_intent.succeeded",
        {
            "status": "requires_payment_method",
            "amount_received": 0,
            "latest_charge": None,
            "payment_method": None,
        },
        None,
    ),
    "payment_intent.requires_action": (
        "payment_intent.succeeded",
        {
            "status": "requires_action",
            "amount_received": 0,
            "latest_charge": None,
            "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
        },
        None,
    ),
    "payment_intent.processing": (
        "payment_intent.succeeded",
        {"status": "processing", "amount_received": 0, "latest_charge": None},
        None,
    ),
    "payment_intent.payment_failed": (
        "payment_intent.succeeded",
        {"status": "requires_payment_method", "amount_received": 0, "last_payment_error": _FAILED_PAYMENT},
        None,
    ),
    "payment_intent.canceled": (
        "payment_intent.succeeded",
        {
            "status": "canceled",
            "amount_received": 0,
            "cancellation_reason": "requested_by_customer",
            "canceled_at": 1731412400,
        },
        None,
    ),
    "payment_intent.amount_capturable_updated": (
        "payment_intent.succeeded",
        {
            "status": "requires_capture",
            "capture_method": "manual",
            "amount_capturable": 4999,
            "amount_received": 0,
        },
        None,
    ),
    "charge.failed": (
        "charge.succeeded",
        {
            "status": "failed",
            "paid": False,
            "captured": False,
            "amount_captured": 0,
            "failure_code": "card_declined",
            "failure_message": "Your card was declined.",
        },
        None,
    ),
    "charge.captured": ("charge.succeeded", {}, None),
    "charge.refunded": (
        "charge.succeeded",
        {"amount_refunded": 4999, "refunded": True},
        {"amount_refunded": 0, "refunded": False},
    ),
    "charge.updated": (
        "charge.succeeded",
        {"description": "Order #10423 (gift)"},
        {"description": "Order #10423"},
    ),
    "refund.updated": (
        "refund.created",
        {"status": "succeeded", "balance_transaction": "txn_3QJCrfF2eZvKYlo20Re5Fd7G"},
        {"status": "pending"},
    ),
    "refund.failed": (
        "refund.created",
        {"status": "failed", "failure_reason": "expired_or_canceled_card"},
        {"status": "pending"},
    ),
    "charge.refund.updated": ("refund.created", {"status": "succeeded"}, {"status": "pending"}),
    "checkout.session.async_payment_succeeded": (
        "checkout.session.completed",
        {"payment_status": "paid"},
        None,
    ),
    "checkout.session.async_payment_failed": (
        "checkout.session.completed",
        {"payment_status": "unpaid"},
        None,
    ),
    "checkout.session.expired": (
        "checkout.session.completed",
        {"status": "expired", "payment_status": "unpaid", "payment_intent": None, "customer": None},
        None,
    ),
    "customer.subscription.updated": (
        "customer.subscription.created",
        {"cancel_at_period_end": True, "cancel_at": 1734006999, "canceled_at": 1731500000},
        {"cancel_at_period_end": False, "cancel_at": None, "canceled_at": None},
    ),
    "customer.subscription.deleted": (
        "customer.subscription.created",
        {"status": "canceled", "canceled_at": 1734006999, "ended_at": 1734006999},
        None,
    ),
    "customer.subscription.paused": (
        "customer.subscription.created",
        {"status": "paused", "trial_end": 1731414999},
        {"status": "trialing"},
    ),
    "customer.subscription.resumed": (
        "customer.subscription.created",
        {"status": "active"},
        {"status": "paused"},
    ),
    "customer.subscription.trial_will_end": (
        "customer.subscription.created",
        {"status": "trialing", "trial_start": 1731414999, "trial_end": 1731674199},
        None,
    ),
    "invoice.created": (
        "invoice.paid",
        _unpaid_invoice("draft", finalized_at=None, attempt_count=0, attempted=False, charge=None),
        None,
    ),
    "invoice.finalized": ("invoice.paid", _unpaid_invoice("open", attempt_count=0), None),
    "invoice.payment_succeeded": ("invoice.paid", {}, None),
    "invoice.payment_failed": (
        "invoice.paid",
        _unpaid_invoice("open", next_payment_attempt=1731674201),
        None,
    ),
    "invoice.payment_action_required": ("invoice.paid", _unpaid_invoice("open"), None),
    "invoice.voided": (
        "invoice.paid",
        _unpaid_invoice("void", amount_remaining=0, voided_at=1731500000),
        None,
    ),
    "invoice.marked_uncollectible": (
        "invoice.paid",
        _unpaid_invoice("uncollectible", marked_uncollectible_at=1731500000),
        None,
    ),
    "customer.updated": (
        "customer.created",
        {
            "name": "Jenny Rosen-Park",
            "invoice_settings": {"default_payment_method": "pm_1QJ7kKF2eZvKYlo2c8yQ3m9s"},
        },
        {"name": "Jenny Rosen"},
    ),
    "customer.deleted": ("customer.created", {}, None),
    "payment_method.updated": ("payment_method.attached", {"card": {"exp_month": 9, "exp_year": 2030}}, None),
    "payment_method.detached": (
        "payment_method.attached",
        {"customer": None},
        {"customer": "cus_R9p2JgW7tYvN4c"},
    ),
    "charge.dispute.updated": (
        "charge.dispute.created",
        {"status": "under_review", "evidence_details": {"has_evidence": True, "submission_count": 1}},
        {"status": "needs_response"},
    ),
    "charge.dispute.closed": ("charge.dispute.created", {"status": "won"}, {"status": "under_review"}),
    "charge.dispute.funds_withdrawn": ("charge.dispute.created", {}, None),
    "charge.dispute.funds_reinstated": ("charge.dispute.created", {"status": "won"}, None),
    "payout.created": ("payout.paid", {"status": "pending"}, None),
    "payout.updated": ("payout.paid", {"status": "in_transit"}, {"status": "pending"}),
    "payout.failed": (
        "payout.paid",
        {
            "status": "failed",
            "failure_code": "account_closed",
            "failure_message": "The bank account has been closed.",
        },
        None,
    ),
    "payout.canceled": ("payout.paid", {"status": "canceled"}, None),
    "payout.reconciliation_completed": ("payout.paid", {"reconciliation_status": "completed"}, None),
    "transfer.updated": (
        "transfer.created",
        {"description": "Seller payout for order #10423 (adjusted)"},
        None,
    ),
    "transfer.reversed": ("transfer.created", {"amount_reversed": 4000, "reversed": True}, None),
}


def available_events() -> list[str]:
    """Every event type there is a payload for: stored files plus their variants."""
    return sorted({path.stem for path in EVENTS_DIR.glob("*.json")} | set(VARIANTS))


def _merge(target: dict[str, Any], changes: Patch) -> None:
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(name), dict):
            _merge(target[name], value)
        else:
            target[name] = copy.deepcopy(value)


@cache
def _load(event_type: str) -> dict[str, Any]:
    path = EVENTS_DIR / f"{event_type}.json"
    if not path.is_file():
        close = difflib.get_close_matches(event_type, available_events(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise LookupError(f"no payload for {event_type!r}{hint}")
    event: dict[str, Any] = json.loads(path.read_text())
    return event


def load_event(event_type: str) -> dict[str, Any]:
    """The payload for ``event_type``: the stored one, or a variant of one."""
    if event_type not in VARIANTS:
        return copy.deepcopy(_load(event_type))
    base, changes, previous = VARIANTS[event_type]
    event = copy.deepcopy(_load(base))
    event["id"] = "evt_" + hashlib.sha256(event_type.encode()).hexdigest()[:24]
    event["type"] = event_type
    _merge(event["data"]["object"], changes)
    if previous is not None:
        event["data"]["previous_attributes"] = copy.deepcopy(previous)
    return event


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def fresh_event(event_type: str, *, created: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The stored payload with a new event id and ``created``; top-level fields may be overridden."""
    event = load_event(event_type)
    event["id"] = new_event_id()
    event["created"] = int(time.time()) if created is None else created
    event.update(overrides)
    return event


def encode(event: dict[str, Any]) -> bytes:
    """Serialise like Stripe does (pretty-printed, 2-space indent)."""
    return json.dumps(event, indent=2).encode("utf-8")


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    return sign_header(body, secret, int(time.time()) if timestamp is None else timestamp)


def generate_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


FlowStep = tuple[str, Patch]

FLOWS: dict[str, tuple[str, list[FlowStep]]] = {
    "checkout": (
        "a one-time card payment through Checkout",
        [
            ("customer.created", {}),
            ("payment_intent.created", {}),
            ("payment_method.attached", {}),
            ("charge.succeeded", {}),
            ("payment_intent.succeeded", {}),
            ("checkout.session.completed", {}),
        ],
    ),
    "async-checkout": (
        "Checkout paid by bank debit: completed unpaid, then the payment clears",
        [
            (
                "checkout.session.completed",
                {"payment_status": "unpaid", "payment_method_types": ["us_bank_account"]},
            ),
            ("payment_intent.processing", {}),
            ("payment_intent.succeeded", {}),
            ("checkout.session.async_payment_succeeded", {}),
        ],
    ),
    "subscription": (
        "a subscription started through Checkout, its first invoice paid",
        [
            ("customer.created", {}),
            (
                "checkout.session.completed",
                {
                    "mode": "subscription",
                    "payment_intent": None,
                    "subscription": "sub_1QJ8c1F2eZvKYlo2mT7xQ4Vb",
                },
            ),
            ("customer.subscription.created", {}),
            ("invoice.created", {}),
            ("invoice.finalized", {}),
            ("invoice.paid", {}),
            ("invoice.payment_succeeded", {}),
        ],
    ),
    "cancellation": (
        "a subscription set to cancel at period end, then ended",
        [
            ("customer.subscription.created", {}),
            ("customer.subscription.updated", {}),
            ("customer.subscription.deleted", {}),
        ],
    ),
    "failed-payment": (
        "a renewal invoice whose payment fails, then succeeds on retry",
        [
            ("invoice.finalized", {"billing_reason": "subscription_cycle"}),
            ("invoice.payment_failed", {"billing_reason": "subscription_cycle", "attempt_count": 1}),
            ("invoice.paid", {"billing_reason": "subscription_cycle", "attempt_count": 2}),
        ],
    ),
    "refund": (
        "a partial refund of a card payment",
        [
            ("refund.created", {}),
            ("charge.refunded", {"amount_refunded": 1500, "refunded": False}),
            ("refund.updated", {}),
        ],
    ),
    "dispute": (
        "a chargeback: opened, evidence submitted, won",
        [
            ("charge.dispute.created", {}),
            ("charge.dispute.funds_withdrawn", {}),
            ("charge.dispute.updated", {}),
            ("charge.dispute.closed", {}),
            ("charge.dispute.funds_reinstated", {}),
        ],
    ),
    "payout": (
        "funds become available and are paid out",
        [
            ("balance.available", {}),
            ("payout.created", {}),
            ("payout.updated", {}),
            ("payout.paid", {}),
        ],
    ),
}


def flow_events(name: str, *, now: int | None = None) -> list[dict[str, Any]]:
    """A flow's events with fresh ids and ``created`` one second apart, ending now."""
    if name not in FLOWS:
        raise LookupError(f"no flow {name!r}; known: {', '.join(FLOWS)}")
    steps = FLOWS[name][1]
    end = int(time.time()) if now is None else now
    events = []
    for index, (event_type, changes) in enumerate(steps):
        event = fresh_event(event_type, created=end - len(steps) + 1 + index)
        _merge(event["data"]["object"], changes)
        events.append(event)
    return events
