"""Each handler turns realistic payloads into the record it owns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.fixtures.payloads import encode, load_event
from stripe_webhook.composition import registry as deployed_registry
from stripe_webhook.core.events import StripeEvent, parse_event
from stripe_webhook.core.records import Record


def _event(event_type: str, changes: dict[str, Any] | None = None, **top: Any) -> StripeEvent:
    event = load_event(event_type)
    event["data"]["object"].update(changes or {})
    event.update(top)
    return parse_event(encode(event))


def _record(event_type: str, changes: dict[str, Any] | None = None, **top: Any) -> Record:
    event = _event(event_type, changes, **top)
    route = deployed_registry().resolve(event.type)
    assert route is not None, event.type
    records = route.handler(event)
    assert records, f"the {event.type} handler wrote no record: every handled type writes its object's"
    record, *links = records
    assert all(link.sk.startswith("LINK#") for link in links), "one record per event, plus links"
    return record


@pytest.mark.parametrize("event_type", sorted(deployed_registry().patterns()))
def test_every_handled_type_has_a_payload_and_writes_one_ordered_record(event_type: str) -> None:
    event = _event(event_type)
    record = _record(event_type)

    assert record.watermark >= event.created * 1000
    if event_type != "balance.available":
        assert (record.pk, record.sk) == (f"OBJECT#{event.object_id}", "STATE")
        assert record.attributes["object_type"] == event.object_type


def test_payment_intent_record_keeps_ids_not_expanded_objects_or_personal_data() -> None:
    expanded = {"id": "cus_R9p2JgW7tYvN4c", "object": "customer", "email": "jenny.rosen@example.com"}
    record = _record("payment_intent.succeeded", {"customer": expanded})

    assert record.attributes["customer"] == "cus_R9p2JgW7tYvN4c"
    assert record.attributes["customer_key"] == "cus_R9p2JgW7tYvN4c"
    assert record.attributes["customer_sort"] == "payment_intent#001731412340#pi_3QJ7kLF2eZvKYlo21bVQh0rT"
    assert record.attributes["status"] == "succeeded"
    assert "invoice" not in record.attributes  # null in the payload
    assert "jenny.rosen@example.com" not in json.dumps(dict(record.attributes))


def test_failed_payment_surfaces_the_decline() -> None:
    record = _record("payment_intent.payment_failed")
    assert record.attributes["last_payment_error_decline_code"] == "insufficient_funds"


def test_same_second_payment_intent_events_rank_by_lifecycle() -> None:
    ranks = [
        _record(name).watermark % 1000
        for name in ("payment_intent.created", "payment_intent.processing", "payment_intent.payment_failed")
    ]
    assert ranks == sorted(ranks) and len(set(ranks)) == 3
    assert _record("payment_intent.succeeded").watermark % 1000 > ranks[-1]


def test_refunded_charge_outranks_captured_charge() -> None:
    assert _record("charge.refunded").watermark > _record("charge.captured").watermark


@pytest.mark.parametrize(
    ("event_type", "mode", "payment_status", "expected"),
    [
        ("checkout.session.completed", "payment", "paid", "paid"),
        ("checkout.session.completed", "payment", "unpaid", "unpaid"),
        ("checkout.session.async_payment_succeeded", "payment", "paid", "paid"),
        ("checkout.session.async_payment_failed", "payment", "unpaid", "failed"),
        ("checkout.session.completed", "subscription", "paid", "paid"),
        ("checkout.session.completed", "subscription", "no_payment_required", "paid"),
        ("checkout.session.completed", "setup", "no_payment_required", "paid"),
        ("checkout.session.expired", "payment", "unpaid", "expired"),
    ],
)
def test_checkout_fulfilment_status_for_every_mode(
    event_type: str, mode: str, payment_status: str, expected: str
) -> None:
    record = _record(event_type, {"mode": mode, "payment_status": payment_status})

    assert record.attributes["fulfilment_status"] == expected
    assert record.attributes["may_fulfil"] is (expected == "paid")


def test_subscription_entitlement_view() -> None:
    active = _record("customer.subscription.created")
    assert active.attributes["entitled"] is True
    assert active.attributes["entitled_until"] == 1734006999
    assert active.attributes["prices"] == ["price_1QJ5yzF2eZvKYlo2G8hJ3kLm"]

    for status in ("canceled", "unpaid", "incomplete_expired", "paused"):
        record = _record("customer.subscription.updated", {"status": status})
        assert record.attributes["entitled"] is False
        assert "entitled_until" not in record.attributes


def test_subscription_period_end_from_items_on_newer_api_versions() -> None:
    event = load_event("customer.subscription.created")
    subscription = event["data"]["object"]
    del subscription["current_period_end"], subscription["current_period_start"]
    subscription["items"]["data"][0]["current_period_end"] = 1734009999
    event["api_version"] = "2025-03-31.basil"
    (record,) = deployed_registry().resolve(event["type"]).handler(parse_event(encode(event)))  # type: ignore[union-attr]

    assert record.attributes["entitled_until"] == 1734009999


def test_deleted_subscription_and_customer_are_tombstones() -> None:
    for event_type in ("customer.subscription.deleted", "customer.deleted"):
        record = _record(event_type)
        assert record.deleted is True
        assert record.attributes["deleted"] is True
        assert record.watermark % 1000 == 999


def test_invoice_subscription_from_the_parent_on_newer_api_versions() -> None:
    record = _record(
        "invoice.paid",
        {
            "subscription": None,
            "parent": {"subscription_details": {"subscription": "sub_1QJ8c1F2eZvKYlo2mT7xQ4Vb"}},
        },
    )
    assert record.attributes["subscription"] == "sub_1QJ8c1F2eZvKYlo2mT7xQ4Vb"
    assert record.attributes["paid_at"] == 1731415001


def test_detached_payment_method_leaves_the_customer_listing() -> None:
    attached = _record("payment_method.attached")
    detached = _record("payment_method.detached")

    assert attached.attributes["customer_key"] == "cus_R9p2JgW7tYvN4c"
    assert attached.attributes["card_last4"] == "4242"
    assert "customer_key" not in detached.attributes
    assert detached.attributes["attached"] is False
    assert detached.watermark > attached.watermark


def test_dispute_surfaces_the_evidence_due_date() -> None:
    record = _record("charge.dispute.created")

    assert record.attributes["evidence_due_by"] == 1732319999
    assert record.attributes["payment_intent"] == "pi_3QJ7kLF2eZvKYlo21bVQh0rT"


def test_balance_is_kept_per_account_and_mode() -> None:
    record = _record("balance.available", account="acct_1Nv0FGQ9RKHgCVdK", livemode=True)

    assert (record.pk, record.sk) == ("BALANCE#acct_1Nv0FGQ9RKHgCVdK", "BALANCE#live")
    assert record.attributes["pending"] == [{"amount": 4999, "currency": "usd"}]
    assert record.attributes["account"] == "acct_1Nv0FGQ9RKHgCVdK"


@pytest.mark.parametrize("event_type", sorted(deployed_registry().patterns()))
def test_connect_account_is_on_every_record(event_type: str) -> None:
    assert (
        _record(event_type, account="acct_1Nv0FGQ9RKHgCVdK").attributes["account"] == "acct_1Nv0FGQ9RKHgCVdK"
    )


def test_payout_and_transfer_states() -> None:
    assert _record("payout.failed").attributes["failure_code"] == "account_closed"
    assert _record("transfer.reversed").attributes["amount_reversed"] == 4000
    assert _record("payout.paid").watermark % 1000 > _record("payout.updated").watermark % 1000
