"""Each handler turns a realistic payload into the record it owns."""

from __future__ import annotations

import json

from infra.stripe_events import encode, load_event
from stripe_webhook.events import parse_event
from stripe_webhook.handlers import balance, customers, disputes, payments


def _event(name: str, **changes: object) -> bytes:
    event = load_event(name)
    event["data"]["object"].update(changes)
    return encode(event)


def test_payment_intent_record_keeps_ids_not_expanded_objects() -> None:
    expanded_customer = {"id": "cus_R9p2JgW7tYvN4c", "object": "customer", "email": "jenny.rosen@example.com"}
    (record,) = payments.payment_intent_changed(
        parse_event(_event("payment_intent.succeeded", customer=expanded_customer))
    )

    assert (record.pk, record.sk) == ("PAYMENT_INTENT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "PAYMENT_INTENT")
    assert record.attributes["customer"] == "cus_R9p2JgW7tYvN4c"
    assert record.attributes["status"] == "succeeded"
    assert "invoice" not in record.attributes  # null in the payload
    assert "jenny.rosen@example.com" not in json.dumps(dict(record.attributes))
    assert record.watermark == 1731412345


def test_payment_method_attached_is_filed_under_its_customer() -> None:
    (record,) = customers.payment_method_attached(parse_event(_event("payment_method.attached")))

    assert (record.pk, record.sk) == (
        "CUSTOMER#cus_R9p2JgW7tYvN4c",
        "PAYMENT_METHOD#pm_1QJ7kKF2eZvKYlo2c8yQ3m9s",
    )
    assert record.attributes["card_last4"] == "4242"
    assert record.attributes["card_exp_year"] == 2027


def test_payment_method_without_a_customer_writes_nothing() -> None:
    assert (
        customers.payment_method_attached(parse_event(_event("payment_method.attached", customer=None))) == []
    )


def test_dispute_surfaces_the_evidence_due_date() -> None:
    (record,) = disputes.dispute_changed(parse_event(_event("charge.dispute.created")))

    assert record.pk == "DISPUTE#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq"
    assert record.attributes["evidence_due_by"] == 1732319999
    assert record.attributes["payment_intent"] == "pi_3QJ7kLF2eZvKYlo21bVQh0rT"


def test_balance_is_kept_per_account_and_mode() -> None:
    event = load_event("balance.available")
    event["account"] = "acct_1Nv0FGQ9RKHgCVdK"
    event["livemode"] = True
    (record,) = balance.balance_available(parse_event(encode(event)))

    assert (record.pk, record.sk) == ("BALANCE#acct_1Nv0FGQ9RKHgCVdK", "BALANCE#live")
    assert record.attributes["pending"] == [{"amount": 4999, "currency": "usd"}]
