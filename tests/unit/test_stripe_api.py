"""The function's Stripe API reads: every id that enters a URL is checked and quoted, and an answer
about another event than the one notified is refused (503, so Stripe delivers again)."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest

from infra.fixtures.payloads import thin_notification
from stripe_webhook.errors import InvalidPayload, StripeApiError
from stripe_webhook.events import StripeEvent, parse_thin_event
from stripe_webhook.stripe_api import StripeApi


class FakeStripe:
    """``urlopen`` for ``StripeApi``: records each URL, answers ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.urls: list[str] = []

    def __call__(self, request: Any, timeout: float) -> io.BytesIO:
        self.urls.append(request.full_url)
        return io.BytesIO(json.dumps(self.answer).encode())


def notified(**changes: Any) -> StripeEvent:
    notification = thin_notification("v1.billing.meter.no_meter_found")
    return dataclasses.replace(parse_thin_event(json.dumps(notification).encode()), **changes)


def api(fake: FakeStripe) -> StripeApi:
    return StripeApi(lambda: "sk_test_x", base_url="https://api.stripe.test", urlopen=fake)


def test_the_full_event_is_fetched_by_its_own_id_and_merged() -> None:
    event = notified()
    fake = FakeStripe({"id": event.id, "type": event.type, "data": {"developer_message_summary": "x"}})

    full = api(fake).full_event(event)

    assert fake.urls == [f"https://api.stripe.test/v2/core/events/{event.id}"]
    assert full.data_object["developer_message_summary"] == "x"


@pytest.mark.parametrize(
    "answer",
    [{"id": "evt_other", "type": "v1.billing.meter.no_meter_found"}, {"type": "v1.other"}, [], "text"],
    ids=["another id", "another type", "a list", "a string"],
)
def test_an_answer_about_another_event_is_refused_for_a_retry(answer: Any) -> None:
    event = notified()
    if isinstance(answer, dict) and "id" not in answer:
        answer = {**answer, "id": event.id}
    with pytest.raises(StripeApiError) as raised:
        api(FakeStripe(answer)).full_event(event)
    assert raised.value.code in ("stripe_api_mismatch", "stripe_api_failed")


@pytest.mark.parametrize("event_id", ["../v1/customers", "evt_1/../../v1/balance", "evt_1?expand=x", "évt"])
def test_an_id_that_would_change_the_path_is_never_sent(event_id: str) -> None:
    fake = FakeStripe({})
    with pytest.raises(InvalidPayload):
        api(fake).full_event(notified(id=event_id))
    assert fake.urls == []


@pytest.mark.parametrize("event_id", ["../x", "evt_1/../../v1/balance", "evt 1"])
def test_a_notification_with_such_an_id_is_a_400_before_any_fetch(event_id: str) -> None:
    notification = {**thin_notification(), "id": event_id}
    with pytest.raises(InvalidPayload):
        parse_thin_event(json.dumps(notification).encode())


def test_an_object_id_is_quoted_into_the_state_fetch() -> None:
    event = dataclasses.replace(notified(), data_object={"id": "coupon:SUMMER+25", "object": "customer"})
    fake = FakeStripe({"id": "coupon:SUMMER+25"})

    api(fake).current_object(event)

    assert fake.urls == ["https://api.stripe.test/v1/customers/coupon%3ASUMMER%2B25"]


class HeaderRecorder(FakeStripe):
    """Also records each request's headers."""

    def __init__(self, answer: Any) -> None:
        super().__init__(answer)
        self.headers: list[dict[str, str]] = []

    def __call__(self, request: Any, timeout: float) -> io.BytesIO:
        self.headers.append({name.lower(): value for name, value in request.header_items()})
        return super().__call__(request, timeout)


def invoice_notice(**related: str) -> StripeEvent:
    notification = thin_notification("v1.invoice.paid")
    notification["related_object"] = {
        "id": "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu",
        "type": "invoice",
        "url": "/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu",
        **related,
    }
    notification["context"] = "acct_1Nv0FGQ9RKHgCVdK"
    return parse_thin_event(json.dumps(notification).encode())


def test_the_related_object_is_fetched_at_its_own_path_with_the_version_and_the_context() -> None:
    fake = HeaderRecorder({"id": "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu", "object": "invoice", "status": "paid"})

    fetched = api(fake).related_object(invoice_notice())

    assert fetched["status"] == "paid"
    assert fake.urls == ["https://api.stripe.test/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"]
    (headers,) = fake.headers
    assert headers["stripe-context"] == "acct_1Nv0FGQ9RKHgCVdK" and headers["stripe-version"]
    assert headers["authorization"] == "Bearer sk_test_x"


def test_the_full_event_is_fetched_with_the_context_too() -> None:
    event = invoice_notice()
    fake = HeaderRecorder({"id": event.id, "type": event.type, "data": {}})

    api(fake).full_event(event)

    assert fake.headers[0]["stripe-context"] == "acct_1Nv0FGQ9RKHgCVdK"


@pytest.mark.parametrize(
    "url",
    [
        "/v1/customers/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu",
        "/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu/lines",
        "https://evil.test/x",
    ],
    ids=["another resource", "a sub-path", "another host"],
)
def test_a_url_that_is_not_the_object_s_own_is_never_fetched(url: str) -> None:
    fake = FakeStripe({})
    with pytest.raises(InvalidPayload):
        api(fake).related_object(invoice_notice(url=url))
    assert fake.urls == []


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "in_other", "object": "invoice"},
        {"id": "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu", "object": "customer"},
        [],
    ],
    ids=["another id", "another type", "a list"],
)
def test_an_answer_about_another_object_is_refused_for_a_retry(answer: Any) -> None:
    with pytest.raises(StripeApiError) as raised:
        api(FakeStripe(answer)).related_object(invoice_notice())
    assert raised.value.code == "stripe_api_mismatch"
