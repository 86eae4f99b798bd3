"""Triggered runs never interfere: fresh object ids, consistent within a flow; flows that make sense."""

from __future__ import annotations

import json
import time

from infra.fixtures.flows import flow_events
from infra.fixtures.payloads import available_events, load_event, with_fresh_ids


def test_fresh_ids_are_new_and_consistent_across_a_flow() -> None:
    original = flow_events("subscription")
    fresh = with_fresh_ids(original)
    again = with_fresh_ids(original)

    by_type = {event["type"]: event["data"]["object"] for event in fresh}
    customer = by_type["customer.created"]["id"]
    subscription = by_type["customer.subscription.created"]["id"]
    invoice = by_type["invoice.paid"]
    assert customer.startswith("cus_") and customer != "cus_R9p2JgW7tYvN4c"
    assert by_type["checkout.session.completed"]["customer"] == customer
    assert by_type["checkout.session.completed"]["subscription"] == subscription
    assert invoice["customer"] == customer and invoice["subscription"] == subscription
    assert invoice["id"] == by_type["invoice.created"]["id"] != "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"
    assert invoice["number"] == by_type["invoice.created"]["number"] != "C0FFEE-0001"
    assert invoice["id"] not in json.dumps(again)  # another run, other ids
    price = invoice["lines"]["data"][0]["price"]
    assert price["id"].startswith("price_") and price["id"] != "price_1QJ5yzF2eZvKYlo2G8hJ3kLm"
    assert price["product"].startswith("prod_") and price["product"] != "prod_R9nXk3Lw2pQaZb"
    subscription_item = by_type["customer.subscription.created"]["items"]["data"][0]["price"]
    assert subscription_item["id"] == price["id"]  # the same catalog object across the flow
    assert _keys(fresh) == _keys(original)  # field names are never taken for ids


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for inner in value.values() for key in _keys(inner)}
    if isinstance(value, list):
        return {key for inner in value for key in _keys(inner)}
    return set()


def test_a_triggered_run_reads_as_today_and_fixed_ids_keep_the_payloads() -> None:
    from infra.local.trigger import parse_args
    from infra.local.trigger_events import build_events

    now = int(time.time())
    events = build_events(parse_args(["--flow", "subscription"]))
    kept = build_events(parse_args(["--flow", "subscription", "--fixed-ids"]))

    objects = {event["type"]: event["data"]["object"] for event in events}
    period_end = objects["customer.subscription.created"]["items"]["data"][0]["current_period_end"]
    assert now < period_end < now + 40 * 86_400  # a month from today, not from 2024
    assert abs(objects["invoice.paid"]["status_transitions"]["paid_at"] - now) < 2 * 86_400
    fixed = {event["type"]: event["data"]["object"] for event in kept}["customer.subscription.created"]
    stored = load_event("customer.subscription.created")["data"]["object"]
    assert fixed["items"]["data"][0]["current_period_end"] == stored["current_period_end"]  # as stored
    assert fixed["id"] == stored["id"]


def test_a_won_dispute_keeps_its_evidence_and_only_updates_carry_previous_attributes() -> None:
    closed = load_event("charge.dispute.closed")["data"]["object"]
    assert closed["status"] == "won" and closed["evidence_details"]["has_evidence"] is True
    for event_type in available_events():
        event = load_event(event_type)
        assert "previous_attributes" not in event["data"] or event_type.endswith(".updated"), event_type


def test_the_trigger_says_where_a_5xx_s_traceback_is() -> None:
    from infra.fixtures.delivery import Answer
    from infra.local.trigger import Delivery, describe

    event = load_event("invoice.paid")
    failed = Answer(500, '{"error": "handler_failed", "message": "the billing handler raised"}', 0.1)
    rejected = Answer(400, '{"error": "signature_mismatch", "message": "no match"}', 0.1)

    assert "the stack's console shows the traceback" in describe(Delivery(event, b"{}", "t=1"), failed)
    assert "traceback" not in describe(Delivery(event, b"{}", "t=1"), rejected)
