"""Two events about one object in the same second (issue 12, item 1).

Stripe's ``created`` is whole seconds and event ids carry no order, so when two events about one
object share a second and their snapshots differ, nothing in them says which is newer. Stripe's
advice is to fetch the object; the function does, and writes the state Stripe returns. The fake
Stripe API (``tests/loopback_stripe.py``) serves the truth: the object as of the later event.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from infra.fixtures.payloads import fresh_event
from stripe_webhook import composition
from stripe_webhook.settings import API_VERSION
from tests.integration.conftest import Aws
from tests.loopback_stripe import LoopbackStripe
from tests.support import deliver

SECOND = int(time.time()) - 60


def pair(event_type: str, changes: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """Events of one type about one (fresh) object in one second, each with its changes applied."""
    events = []
    for change in changes:
        event = fresh_event(event_type, created=SECOND)
        stripe_object = event["data"]["object"]
        stripe_object["id"] = f"{stripe_object['id']}{suffix}"
        stripe_object.update(change)
        events.append(event)
    return events


def record_of(aws: Aws, event: dict[str, Any]) -> dict[str, Any]:
    record = aws.queries.get_record(event["data"]["object"]["id"])
    assert record is not None
    return record


def object_path(event: dict[str, Any], resource: str) -> str:
    return f"/v1/{resource}/{event['data']['object']['id']}"


@pytest.mark.parametrize("order", list(itertools.permutations([0, 1])), ids=["older-first", "newer-first"])
def test_two_customer_updates_in_one_second_end_in_stripes_current_state(
    aws: Aws, secret: str, stripe_api: LoopbackStripe, order: tuple[int, int]
) -> None:
    older, newer = pair(
        "customer.updated", [{"email": "old@example.com"}, {"email": "new@example.com"}], "s1"
    )
    stripe_api.objects[object_path(newer, "customers")] = newer["data"]["object"]

    for index in order:
        assert deliver((older, newer)[index], secret).status == 200

    record = record_of(aws, newer)
    assert record["email"] == "new@example.com"
    assert "order_uncertain" not in record
    (fetch,) = stripe_api.requests  # only the second arrival was ambiguous
    assert fetch.path == object_path(newer, "customers")
    assert fetch.headers["Stripe-Version"] == API_VERSION
    assert fetch.headers["Authorization"] == "Bearer rk_test_" + "a" * 24


@pytest.mark.parametrize("order", list(itertools.permutations([0, 1])), ids=["paused-first", "resumed-first"])
def test_a_subscription_paused_and_resumed_in_one_second_is_active(
    aws: Aws, secret: str, stripe_api: LoopbackStripe, order: tuple[int, int]
) -> None:
    # The status rank table cannot order a cycle: paused ranks above active
    paused = pair("customer.subscription.paused", [{"status": "paused"}], "s2")[0]
    resumed = pair("customer.subscription.resumed", [{"status": "active"}], "s2")[0]
    stripe_api.objects[object_path(resumed, "subscriptions")] = resumed["data"]["object"]

    for index in order:
        assert deliver((paused, resumed)[index], secret).status == 200

    record = record_of(aws, resumed)
    assert record["status"] == "active" and record["entitled"] is True
    assert len(stripe_api.requests) == 1


def test_a_connect_events_state_is_fetched_on_the_connected_accounts_behalf(
    aws: Aws, secret: str, stripe_api: LoopbackStripe
) -> None:
    older, newer = pair("customer.updated", [{"name": "Ada"}, {"name": "Ada Lovelace"}], "s3")
    for event in (older, newer):
        event["account"] = "acct_1QJ9ConnectedAcct"
    stripe_api.objects[object_path(newer, "customers")] = newer["data"]["object"]

    deliver(newer, secret)
    deliver(older, secret)

    assert record_of(aws, newer)["name"] == "Ada Lovelace"
    assert stripe_api.requests[0].headers["Stripe-Account"] == "acct_1QJ9ConnectedAcct"


def test_the_common_path_never_calls_stripe(aws: Aws, secret: str, stripe_api: LoopbackStripe) -> None:
    created = fresh_event("customer.created", created=SECOND)
    updates = [fresh_event("customer.updated", created=SECOND + n) for n in (1, 2)]
    updates[0]["data"]["object"]["email"] = "first@example.com"
    updates[1]["data"]["object"]["email"] = "second@example.com"
    # Same second, same content: a tie any order settles the same way, without asking Stripe
    paid, succeeded = fresh_event("invoice.paid"), fresh_event("invoice.payment_succeeded")
    succeeded["created"] = paid["created"]

    for event in (updates[1], created, updates[0], succeeded, paid, paid):
        assert deliver(event, secret).status == 200

    assert stripe_api.requests == []
    assert record_of(aws, created)["email"] == "second@example.com"
    invoice = record_of(aws, paid)
    assert invoice["last_event_id"] == max(paid["id"], succeeded["id"])


@pytest.mark.parametrize("order", list(itertools.permutations([0, 1])), ids=["a-first", "b-first"])
def test_without_a_stripe_key_the_tie_break_winner_is_kept_and_marked_uncertain(
    aws: Aws,
    secret: str,
    order: tuple[int, int],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    composition.reset()
    first, second = pair("customer.updated", [{"email": "a@example.com"}, {"email": "b@example.com"}], "s4")
    winner = max((first, second), key=lambda event: event["id"])

    for index in order:
        assert deliver((first, second)[index], secret).status == 200

    record = record_of(aws, first)
    assert record["email"] == winner["data"]["object"]["email"]
    assert record["order_uncertain"] is True
    assert '"OrderUncertain":[1.0]' in capfd.readouterr().out
    # A later, unambiguous event clears the mark
    later = fresh_event("customer.updated", created=SECOND + 1)
    later["data"]["object"].update(id=first["data"]["object"]["id"], email="c@example.com")
    assert deliver(later, secret).status == 200
    record = record_of(aws, first)
    assert record["email"] == "c@example.com" and "order_uncertain" not in record


def test_stripe_unreachable_with_a_key_is_a_503_and_the_retry_writes_the_truth(
    aws: Aws, secret: str, stripe_api: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    older, newer = pair(
        "customer.updated", [{"email": "old@example.com"}, {"email": "new@example.com"}], "s5"
    )
    assert deliver(newer, secret).status == 200
    base = str(composition.components().settings.stripe_api_base)
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens on the discard port
    composition.reset()

    failed = deliver(older, secret)

    # Rather than write a state it knows may be wrong, the function asks Stripe to retry
    assert failed.status == 503 and failed.body["error"] == "stripe_api_unreachable"
    assert aws.queries.get_event(older["id"]) is None
    assert record_of(aws, newer)["email"] == "new@example.com"
    monkeypatch.setenv("STRIPE_API_BASE", base)
    composition.reset()
    stripe_api.objects[object_path(newer, "customers")] = newer["data"]["object"]
    assert deliver(older, secret, timestamp=int(time.time()) + 1).status == 200
    assert record_of(aws, newer)["email"] == "new@example.com"
