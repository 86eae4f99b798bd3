"""Every handler on the three shape generations of every event type it handles.

Stripe renders an event in its endpoint's API version, and endpoints registered at different times
stay on different versions; ``infra/fixtures/versions.py`` renders each stored payload as before
basil, as basil and as the pinned version.
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from infra.fixtures.payloads import available_events, encode, load_event
from infra.fixtures.versions import BASIL, GENERATIONS, PRE_BASIL, generations, shaped
from infra.template import load_template
from stripe_webhook.composition import registry
from stripe_webhook.core.events import parse_event
from stripe_webhook.core.records import Record
from stripe_webhook.settings import API_VERSION

HANDLED = sorted(event_type for event_type in available_events() if registry().resolve(event_type))
PRE_BASIL_ONLY = {
    "invoice": {"payment_intent", "charge"},
    "payment_intent": {"invoice"},
    "charge": {"invoice"},
}
"""Record fields the object itself carries only before basil (since then: invoice_payment.paid)."""
STRIPE_CLASSES = {
    "invoice": stripe.Invoice,
    "invoice_payment": stripe.InvoicePayment,
    "subscription": stripe.Subscription,
    "payment_intent": stripe.PaymentIntent,
    "charge": stripe.Charge,
    "refund": stripe.Refund,
    "checkout.session": stripe.checkout.Session,
    "customer": stripe.Customer,
    "payment_method": stripe.PaymentMethod,
    "dispute": stripe.Dispute,
    "payout": stripe.Payout,
    "transfer": stripe.Transfer,
    "balance": stripe.Balance,
    "product": stripe.Product,
    "price": stripe.Price,
}


def _records(event: dict[str, Any]) -> list[Record]:
    parsed = parse_event(encode(event))
    route = registry().resolve(parsed.type)
    assert route is not None
    return route.handler(parsed)


def _fields(cls: type) -> set[str]:
    names: set[str] = set()
    for base in cls.__mro__:
        names |= set(getattr(base, "__annotations__", {}))
    return names


def test_one_api_version_is_pinned_the_stripe_library_s_and_the_template_default() -> None:
    assert stripe.api_version == API_VERSION
    parameter = load_template()["Parameters"]["StripeApiVersion"]
    assert parameter["Default"] == API_VERSION
    assert GENERATIONS == (PRE_BASIL, BASIL, API_VERSION)


@pytest.mark.parametrize("event_type", HANDLED)
def test_the_pinned_generation_has_only_fields_the_stripe_library_defines_for_that_version(
    event_type: str,
) -> None:
    obj = shaped(load_event(event_type), API_VERSION)["data"]["object"]
    cls = STRIPE_CLASSES.get(obj["object"])
    if cls is None:
        pytest.skip(f"STRIPE_CLASSES maps no stripe library class to {obj['object']!r}: add it there")
    assert set(obj) - _fields(cls) - {"object"} == set()


@pytest.mark.parametrize("event_type", HANDLED)
def test_a_handler_keeps_the_same_record_on_every_generation(event_type: str) -> None:
    stored = load_event(event_type)
    records = {version: _records(shaped(stored, version)) for version in generations(event_type)}

    first, *later = records.values()
    assert first, f"the {event_type} handler wrote no record: every handled type writes its object's"
    own = first[0]
    kind = str(own.attributes.get("object_type"))
    for version, written in zip(generations(event_type)[1:], later, strict=True):
        assert shaped(stored, version)["api_version"] == version
        assert [(r.pk, r.sk, r.watermark) for r in written] == [(r.pk, r.sk, r.watermark) for r in first]
        expected = dict(own.attributes)
        if version != PRE_BASIL and generations(event_type)[0] == PRE_BASIL:
            for name in PRE_BASIL_ONLY.get(kind, ()):
                expected.pop(name, None)
        assert dict(written[0].attributes) == expected, version


def test_basil_moved_fields_are_read_where_they_moved() -> None:
    for version in GENERATIONS:
        (subscription,) = _records(shaped(load_event("customer.subscription.updated"), version))
        (invoice,) = _records(shaped(load_event("invoice.paid"), version))
        assert subscription.attributes["entitled_until"] == 1734006999, version
        assert invoice.attributes["subscription"] == "sub_1QJ8c1F2eZvKYlo2mT7xQ4Vb", version
        assert ("payment_intent" in invoice.attributes) is (version == PRE_BASIL)


@pytest.mark.parametrize("version", [BASIL, API_VERSION])
def test_invoice_payment_paid_links_the_invoice_and_the_payment_both_ways(version: str) -> None:
    payment, *links = _records(shaped(load_event("invoice_payment.paid"), version))

    assert payment.pk == "OBJECT#inpay_1QJ8c3F2eZvKYlo2Hx5Tq7Wd"
    assert payment.attributes["invoice"] == "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"
    assert payment.attributes["payment_intent"] == "pi_3QJ8c2F2eZvKYlo20Zb1Yc3D"
    assert payment.attributes["status"] == "paid" and payment.attributes["paid_at"] == 1731415001
    assert {(link.pk, link.sk) for link in links} == {
        ("OBJECT#in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu", "LINK#payment_intent#pi_3QJ8c2F2eZvKYlo20Zb1Yc3D"),
        ("OBJECT#pi_3QJ8c2F2eZvKYlo20Zb1Yc3D", "LINK#invoice#in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"),
    }


def test_an_event_type_introduced_later_has_no_earlier_shape() -> None:
    assert generations("invoice_payment.paid") == (BASIL, API_VERSION)
    with pytest.raises(ValueError, match="does not exist"):
        shaped(load_event("invoice_payment.paid"), PRE_BASIL)
