"""The OpenAPI-shaped corpus (``infra.bench.corpus``): derived shapes, not Stripe's example data."""

from __future__ import annotations

import json
from typing import Any

from infra.bench import corpus
from infra.fixtures.payloads import encode
from infra.stripe_types import object_type, snapshot_types
from stripe_webhook.core.events import parse_event
from stripe_webhook.settings import API_VERSION

FIXTURE: dict[str, Any] = {
    "resources": {
        "charge": {
            "id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
            "object": "charge",
            "amount": 1099,
            "created": 1679090539,
            "currency": "usd",
            "status": "succeeded",
            "description": "Thanks for your order, Jenny",
            "billing_details": {"email": "jenny.rosen@example.com", "name": None},
            "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy",
            "paid": True,
        },
        "coupon": {"id": "Z4OV52SU", "object": "coupon", "percent_off": 25.5},
    }
}


def test_derived_shapes_keep_the_fields_types_and_codes_and_nothing_else() -> None:
    derived = corpus.derive(FIXTURE, "test")["resources"]
    charge, original = derived["charge"], FIXTURE["resources"]["charge"]
    assert list(charge) == list(original)  # every field, in Stripe's order
    assert charge["object"] == "charge" and charge["currency"] == "usd" and charge["status"] == "succeeded"
    assert charge["amount"] == 1099 and charge["paid"] is True
    # ids: the same prefix and length, our own characters
    for name in ("id", "balance_transaction"):
        prefix = original[name].split("_")[0] + "_"
        assert charge[name].startswith(prefix) and len(charge[name]) == len(original[name])
        assert charge[name] != original[name]
    # text and times are ours, of the same length and magnitude
    assert charge["description"] != original["description"]
    assert len(charge["description"]) == len(original["description"])
    assert charge["billing_details"]["email"] != original["billing_details"]["email"]
    assert abs(charge["created"] - corpus.CORPUS_CREATED) <= 86_400
    assert derived["coupon"]["id"].isalnum() and derived["coupon"]["id"] != "Z4OV52SU"
    assert "Jenny" not in json.dumps(derived) and "jenny" not in json.dumps(derived)


def test_event_types_map_to_the_objects_they_carry() -> None:
    assert object_type("invoice.paid") == "invoice"
    assert object_type("customer.subscription.updated") == "subscription"
    assert object_type("issuing_card.created") == "issuing.card"
    assert object_type("checkout.session.completed") == "checkout.session"
    assert object_type("charge.dispute.created") == "dispute"
    assert object_type("source.transaction.created") == "source_transaction"


def test_the_corpus_is_every_current_type_as_stripe_sends_it() -> None:
    made, missing = corpus.events(API_VERSION)
    types = snapshot_types()
    assert len(types) > 250 and "invoice.paid" in types and "*" not in types
    assert len(made) + len(missing) == len(types)
    assert len(missing) < 15  # types no fixture shapes (named by python -m infra.bench.corpus)
    for event in made:
        parsed = parse_event(encode(event))  # a valid event envelope for the function
        assert parsed.type == event["type"] and event["api_version"] == API_VERSION
    invoice = next(event for event in made if event["type"] == "invoice.paid")
    assert len(invoice["data"]["object"]["lines"]["data"]) == corpus.INVOICE_LINES
    session = next(event for event in made if event["type"] == "checkout.session.completed")
    assert len(session["data"]["object"]["line_items"]["data"]) == corpus.SESSION_LINE_ITEMS
