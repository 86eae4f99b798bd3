"""The function's Stripe API reads: every id that enters a URL is checked and quoted, and an answer
about another event than the one notified is refused (503, so Stripe delivers again)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pytest

from infra.fixtures.payloads import thin_notification
from stripe_webhook.adapters.stripe_api import Answer, StripeApi
from stripe_webhook.core.events import StripeEvent, parse_thin_event
from stripe_webhook.errors import InvalidPayload, StripeApiError


class FakeStripe:
    """The transport for ``StripeApi``: records each URL, answers ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.urls: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str], deadline: float, max_bytes: int) -> Answer:
        self.urls.append(url)
        return Answer(200, json.dumps(self.answer).encode())


def notified(**changes: Any) -> StripeEvent:
    notification = thin_notification("v1.billing.meter.no_meter_found")
    return dataclasses.replace(parse_thin_event(json.dumps(notification).encode()), **changes)


def api(fake: FakeStripe) -> StripeApi:
    return StripeApi(lambda: "sk_test_x", base_url="https://api.stripe.test", transport=fake)


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

    def __call__(self, url: str, headers: Mapping[str, str], deadline: float, max_bytes: int) -> Answer:
        self.headers.append({name.lower(): value for name, value in headers.items()})
        return super().__call__(url, headers, deadline, max_bytes)


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


class Scripted:
    """A transport answering a script of statuses (``None``: no answer at all), then ``final``."""

    def __init__(self, statuses: list[int | None], final: Any) -> None:
        self.statuses = statuses
        self.final = final
        self.calls = 0

    def __call__(self, url: str, headers: Mapping[str, str], deadline: float, max_bytes: int) -> Answer:
        self.calls += 1
        if self.statuses:
            status = self.statuses.pop(0)
            if status is None:
                raise TimeoutError("no answer")
            return Answer(status, b'{"error": {}}', retry_after=1.0 if status == 429 else None)
        return Answer(200, json.dumps(self.final).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def scripted_api(transport: Scripted, clock: Clock) -> StripeApi:
    return StripeApi(
        lambda: "rk_test_x",
        base_url="https://api.stripe.test",
        transport=transport,
        clock=lambda: clock.now,
        sleep=clock.sleep,
    )


def test_a_429_and_5xx_answers_are_retried_within_the_deadline_honouring_retry_after() -> None:
    clock = Clock()
    transport = Scripted([429, 503, None, 500], {"object": "list", "data": []})

    answer = scripted_api(transport, clock).get("/v1/events", deadline=clock.now + 60)

    assert answer == {"object": "list", "data": []} and transport.calls == 5
    assert clock.pauses[0] >= 1.0  # Retry-After
    assert clock.now < 1_000 + 60


def test_retries_stop_at_the_deadline_with_the_last_answer() -> None:
    clock = Clock()
    transport = Scripted([503] * 50, {})

    with pytest.raises(StripeApiError) as raised:
        scripted_api(transport, clock).get("/v1/events", deadline=clock.now + 10)

    assert raised.value.status == 503 and clock.now < 1_000 + 10
    assert 1 < transport.calls < 10


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refusal_is_not_retried(status: int) -> None:
    clock = Clock()
    transport = Scripted([status], {})
    with pytest.raises(StripeApiError) as raised:
        scripted_api(transport, clock).get("/v1/webhook_endpoints/we_1", deadline=clock.now + 60)
    assert raised.value.status == status and transport.calls == 1
