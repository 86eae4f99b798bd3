"""The paths around delivery (the reconciler, ``ops backfill``) held to delivery's promise: they
never corrupt what a delivery stored, never stall on what Stripe returns, and keep their state
bounded. Each test is one way it went wrong on a real run (issue 44), through the code the
deployed reconciler function runs, under moto and a Stripe Events API stand-in on loopback."""

from __future__ import annotations

import dataclasses
import json
import time
import tracemalloc
from collections import Counter
from typing import Any

import pytest

from contract import aws as function_aws
from infra.fixtures.payloads import encode, fresh_event, v1_thin_notification, with_fresh_ids
from stripe_webhook import composition
from stripe_webhook.adapters.payloads import payload_key
from stripe_webhook.errors import StorageError
from stripe_webhook.handlers import build_registry
from stripe_webhook.recovery.reconciler_state import MAX_RETRIES, MAX_STATE_BYTES, State
from stripe_webhook.recovery.reconciliation import Endpoint
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.integration.recovery import ENDPOINT_ID, complete_sweep_due, published, run, undelivered
from tests.integration.test_delivery_paths import THIN_SECRET
from tests.loopback_stripe import LoopbackStripe
from tests.support import deliver, drain, extended_sqs_client, large_invoice, receive_all


def stored_body(aws: Aws, event_id: str) -> bytes:
    body: bytes = aws.s3.get_object(Bucket=aws.bucket, Key=payload_key(event_id))["Body"].read()
    return body


def listed_again(event: dict[str, object]) -> dict[str, object]:
    """The event as Stripe's Events API returns it: the same fields, serialised anew (compact,
    other whitespace), so its bytes are not the ones Stripe signed."""
    return json.loads(json.dumps(event))  # type: ignore[no-any-return]


# -- must not corrupt ----------------------------------------------------------------------------


def test_a_large_event_listed_again_after_its_delivery_keeps_its_stored_bytes_and_writes_nothing(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    """Given a signed ~400 KiB invoice.paid delivered and stored byte for byte, when Stripe lists
    it as undelivered (a retry still pending at another endpoint) and the reconciler runs, then the
    object is untouched, nothing is published again, and the one message still matches it."""
    event = large_invoice(400 * 1024, "invoice.paid")
    event["created"] = int(time.time()) - 3_600
    signed = encode(event)
    assert deliver(signed, secret).body["status"] == "processed"
    (message,) = drain(aws.sqs, aws.queue_url)
    stripe.add_event(listed_again(event))

    report = run()

    assert report.known == 1 and report.recovered == [] and not report.failed
    assert stored_body(aws, event["id"]) == signed  # not the 383 KB re-serialised copy
    assert message.attributes["ExtendedPayloadSize"] == str(len(signed))
    assert published(aws) == Counter()


def test_a_copy_that_claims_after_an_earlier_store_points_at_the_stored_object_with_its_size(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    """Given a delivery whose body reached S3 but whose claim failed (DynamoDB down), when the
    reconciler's re-serialised copy is the one that claims the event, then the stored bytes stay
    Stripe's, and the pointer's size is the stored object's: the consumer reads the event whole."""
    event = large_invoice(400 * 1024, "invoice.paid")
    event["created"] = int(time.time()) - 3_600
    signed = encode(event)
    faults = FaultInjector()
    faults.install(function_aws.session())
    faults.fail("dynamodb.TransactWriteItems", Fault("InternalServerError", 500))
    assert deliver(signed, secret).status == 503
    faults.heal("dynamodb.TransactWriteItems")
    assert stored_body(aws, event["id"]) == signed and drain(aws.sqs, aws.queue_url) == []
    stripe.add_event(listed_again(event))

    report = run()

    assert report.recovered == [event["id"]]
    assert stored_body(aws, event["id"]) == signed
    (received,) = receive_all(extended_sqs_client(), aws.queue_url)
    assert received["Body"].encode() == signed


# -- must not stall ------------------------------------------------------------------------------


@pytest.fixture
def thin_stack(stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch) -> LoopbackStripe:
    """The stack takes thin events too (a thin destination is recorded), so runs list them."""
    monkeypatch.setenv("STRIPE_THIN_WEBHOOK_SECRET", THIN_SECRET)
    composition.reset()
    patterns = (*build_registry().patterns(), "v1.invoice.paid")
    created = int(time.time()) - 2 * 86_400
    composition.components().ledger.record_endpoints(
        [
            Endpoint(ENDPOINT_ID, "webhook_endpoint", "https://x/webhook", patterns, created),
            Endpoint("ed_61R", "event_destination", "https://x/webhook/thin", ("v1.invoice.paid",), created),
        ]
    )
    stripe.objects["/v2/core/event_destinations/ed_61R"] = {"id": "ed_61R", "status": "enabled"}
    return stripe


def thin_undelivered(stripe: LoopbackStripe, count: int) -> list[str]:
    """``count`` thin notifications of paid invoices, 15 minutes old, each object fetchable."""
    ids = []
    for _ in range(count):
        snapshot = with_fresh_ids([fresh_event("invoice.paid")])[0]
        notification = v1_thin_notification(snapshot)
        notification["created"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 900))
        stripe.objects[notification["related_object"]["url"]] = snapshot["data"]["object"]
        stripe.thin_events.append(notification)
        ids.append(notification["id"])
    return ids


def with_limits(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    reconciler = composition.components().reconciler
    monkeypatch.setattr(reconciler, "_limits", dataclasses.replace(reconciler.limits, **changes))


def test_a_thin_page_stripe_refuses_restarts_the_thin_list_and_never_holds_back_ordinary_events(
    aws: Aws, thin_stack: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a run that saved a thin page (``next_page_url``) and Stripe refusing that page (400)
    at the next run, when an ordinary event also went undelivered, then the next run recovers the
    ordinary event, lists the thin window again from its start, and ends with no error."""
    thin_ids = thin_undelivered(thin_stack, 3)
    thin_stack.thin_page_size = 1
    with_limits(monkeypatch, max_pages=1)
    first = run()
    state = composition.components().ledger.state()
    assert state is not None and len(first.recovered) == 1
    saved = state.sweeps["thin"].cursor
    assert saved is not None and saved.startswith("/v2/core/events?page=")
    thin_stack.refused[saved] = 400
    (ordinary,) = undelivered(thin_stack, 1, age=400)
    with_limits(monkeypatch, max_pages=10)

    second = run()

    assert second.error is None and second.sweep_errors == {}
    assert ordinary["id"] in second.recovered
    assert set(first.recovered + second.recovered) == {ordinary["id"], *thin_ids}
    assert published(aws) == Counter({event_id: 1 for event_id in [ordinary["id"], *thin_ids]})


def test_a_key_without_v2_access_fails_the_thin_sweep_alone_run_after_run(
    aws: Aws, thin_stack: LoopbackStripe
) -> None:
    """Given a key Stripe refuses the v2 list to (403), then every run still recovers ordinary
    undelivered events and moves its watermark; the thin sweep's failure is named each run, and
    counted in a row (its metric raises ``ThinEventListFailingAlarm`` after three)."""
    thin_stack.refused["/v2/core/events"] = 403
    recovered = []
    for _ in range(3):
        (event,) = undelivered(thin_stack, 1, age=400)
        report = run()
        assert report.sweep_errors == {"thin": "stripe_api_failed"} and report.error is None
        assert report.window_done and event["id"] in report.recovered
        recovered.append(event["id"])
    state = composition.components().ledger.state()
    assert state is not None and state.sweeps["thin"].failing_runs == 3
    assert published(aws) == Counter(dict.fromkeys(recovered, 1))


@pytest.mark.slow
def test_the_state_stays_bounded_while_sns_fails_and_nothing_is_lost_once_it_heals(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    """Given 300 undelivered events (three times what the state retries at once) and SNS refusing
    every publish, then the state item stays within its bound (the sweeps wait while
    ``MAX_RETRIES`` events are retried), and once SNS heals, every event is recovered and
    published once."""
    events = undelivered(stripe, 3 * MAX_RETRIES, age=400, apart=0)
    faults = FaultInjector()
    faults.install(function_aws.session())
    faults.fail("sns.Publish", Fault("AuthorizationError", 403))  # refused at once: no retry pauses
    sizes = []
    for _ in range(3):
        report = run()
        assert report.backlogged and report.error is None
        sizes.append(len(state_item(aws)))
    assert max(sizes) <= MAX_STATE_BYTES
    faults.heal("sns.Publish")

    for _ in range(30):
        if not run().recovered and composition.components().ledger.state().retries == {}:  # type: ignore[union-attr]
            break
    named = composition.components().ledger.state().named  # type: ignore[union-attr]
    assert named == {}  # none tried five times: the sweeps waited instead of giving up on them
    assert published(aws) == Counter({event["id"]: 1 for event in events})


def state_item(aws: Aws) -> str:
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"pk": {"S": "RECONCILER"}, "sk": {"S": "STATE"}})
    return str(item["Item"]["state"]["S"])


def test_150_events_with_4_kb_ids_are_named_once_each_and_the_state_stays_bounded(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    now = int(time.time())
    hostile = []
    for number in range(150):
        event = fresh_event("customer.created", created=now - 400 - number)
        event["id"] = f"evt_{number:04d}" + "x" * 4_096
        hostile.append(event)
    good = undelivered(stripe, 2, age=300)
    stripe.pages["/v1/events"] = json.dumps(
        {"object": "list", "data": [*good, *hostile], "has_more": False}
    ).encode()

    report = run()
    again = run()

    assert sorted(report.recovered) == sorted(event["id"] for event in good) and report.error is None
    assert len(report.skipped) == 150 and set(report.skipped.values()) == {
        "not processed: its id is not a Stripe event id"
    }
    assert all(len(name) < 40 for name in report.skipped)
    assert again.skipped == {} and again.error is None  # named once: the overlap lists them again
    assert len(state_item(aws)) <= MAX_STATE_BYTES


def test_a_run_that_cannot_save_its_state_gives_its_lease_back_and_says_why(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    (event,) = undelivered(stripe, 1)
    ledger = composition.components().ledger
    original = ledger.save

    def refused(state: State, token: str, *, finished: bool = False) -> None:
        raise StorageError("storage_failed", "DynamoDB refused the reconciler's state")

    monkeypatch.setattr(ledger, "save", refused)
    report = run()
    monkeypatch.setattr(ledger, "save", original)

    assert report.error == "state_not_saved"
    following = run()
    assert not following.busy  # the lease was given back, not held for its 5 minutes
    assert published(aws) == Counter({event["id"]: 1})


def test_malformed_listed_events_are_named_and_skipped_and_the_run_goes_on(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    """Given a page with events whose fields no Stripe event has between good ones, then each bad
    one is named with what is wrong, the good ones are recovered, and later runs do not stop there."""
    good = undelivered(stripe, 3, age=400)
    now = int(time.time()) - 500
    bad = {
        "evt_badversion5": {**fresh_event("customer.created", created=now), "api_version": 5},
        "evt_badversionlist": {**fresh_event("customer.created", created=now), "api_version": ["2026"]},
        "evt_badcreated": {**fresh_event("customer.created"), "created": "yesterday"},
        "evt_badlivemode": {**fresh_event("customer.created", created=now), "livemode": "yes"},
        "evt_badtype": {**fresh_event("customer.created", created=now), "type": {"x": 1}},
    }
    items: list[Any] = [good[0], *({**event, "id": name} for name, event in bad.items()), good[1]]
    items += ["not an event", None, good[2]]
    stripe.pages["/v1/events"] = json.dumps({"object": "list", "data": items, "has_more": False}).encode()

    report = run()
    again = run()

    assert sorted(report.recovered) == sorted(event["id"] for event in good)
    assert report.error is None and again.error is None and again.skipped == {}
    assert set(bad) <= set(report.skipped) and len(report.skipped) == len(bad) + 2
    assert report.skipped["evt_badcreated"] == "not processed: its created is not a time"
    assert report.skipped["evt_badversion5"] == "not processed: its api_version is not a Stripe API version"
    assert published(aws) == Counter({event["id"]: 1 for event in good})


def test_a_list_that_says_it_has_more_but_never_moves_is_named_and_stops_only_its_sweep(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    stripe.pages["/v1/events"] = json.dumps({"object": "list", "data": [], "has_more": True}).encode()

    report = run()

    assert report.error == "events_list_stuck" and report.sweep_errors == {"undelivered": "events_list_stuck"}
    assert report.pages == 1  # detected on the first page, not after max_pages
    state = composition.components().ledger.state()
    assert state is not None and state.watermark is None  # the window is not closed on a broken list


def test_a_16_mib_page_of_empty_items_is_refused_unparsed(aws: Aws, stripe: LoopbackStripe) -> None:
    """A page of ``{}`` items 16 MiB long parses into millions of objects (it peaked at 494 MiB in a
    512 MB function): it is refused from its byte counts before any parse, at every page size."""
    items = b",".join([b"{}"] * ((16 * 1024 * 1024 - 64) // 3))
    stripe.pages["/v1/events"] = b'{"object":"list","has_more":false,"data":[' + items + b"]}"
    tracemalloc.start()

    report = run()

    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.error == "stripe_answer_too_large"
    assert peak < 64 * 1024 * 1024  # the page's bytes, never its millions of objects


# -- must not let the wrong thing in -------------------------------------------------------------


def test_a_key_of_the_other_mode_than_the_stacks_runs_nothing(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live stack (``StripeMode=live``) holding a test-mode key by mistake: no event is listed,
    none reaches production's topic, and the run says why."""
    monkeypatch.setenv("STRIPE_MODE", "live")  # the stripe_api fixture's key is rk_test_…
    composition.reset()
    undelivered(stripe, 2)

    report = run()

    assert report.error == "api_key_mode_mismatch" and report.recovered == [] and stripe.list_calls() == 0
    assert published(aws) == Counter()


def test_events_of_the_other_mode_are_named_and_never_published(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_MODE", "test")
    composition.reset()
    test_mode = undelivered(stripe, 2, age=400)
    live = with_fresh_ids([fresh_event("payment_intent.succeeded", created=int(time.time()) - 500)])[0]
    live["livemode"] = True
    stripe.add_event(live)

    report = run()

    assert sorted(report.recovered) == sorted(event["id"] for event in test_mode)
    assert report.skipped == {live["id"]: "a live-mode event; this stack is test mode (StripeMode)"}
    assert published(aws) == Counter({event["id"]: 1 for event in test_mode})


# -- prove it: the complete sweep --------------------------------------------------------------------


def test_the_daily_complete_sweep_finds_an_event_stripe_counts_as_delivered_that_the_log_lacks(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    """Stripe lists an event as delivered (so ``delivery_success=false`` never shows it) that the
    event log does not hold; the daily complete sweep checks every listed event against the log in
    batches, processes the missing one, and names it; the one a delivery stored is not touched."""
    now = int(time.time())
    arrived, lost = (with_fresh_ids([fresh_event("invoice.paid", created=now - 3_600)])[0] for _ in range(2))
    assert deliver(arrived, secret).body["status"] == "processed"
    drain(aws.sqs, aws.queue_url)
    stripe.add_event(arrived, delivered=True)
    stripe.add_event(lost, delivered=True)
    complete_sweep_due()

    report = run()
    later = run()

    assert report.missing == [lost["id"]] and report.recovered == [lost["id"]]
    assert published(aws) == Counter({lost["id"]: 1})
    assert (
        later.missing == [] and later.stripe_calls == 2
    )  # the endpoint, the undelivered list: not due again


def test_while_an_endpoint_is_disabled_and_over_its_gap_every_event_is_checked_against_the_log(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    """Stripe never attempts an event created while an endpoint is disabled, and documents nothing
    of whether ``delivery_success=false`` lists it: while the endpoint is disabled, and once more
    over the gap after it is back, the complete sweep lists every event and recovers the ones the
    log lacks."""
    stripe.objects[f"/v1/webhook_endpoints/{ENDPOINT_ID}"] = {"id": ENDPOINT_ID, "status": "disabled"}
    created = int(time.time()) - 400  # around when Stripe disabled it (older than the grace)
    during = with_fresh_ids([fresh_event("customer.created", created=created) for _ in range(3)])
    for event in during:
        stripe.add_event(event, delivered=True)  # never attempted, never listed as undelivered

    disabled = run()
    stripe.objects[f"/v1/webhook_endpoints/{ENDPOINT_ID}"] = {"id": ENDPOINT_ID, "status": "enabled"}
    back = run()

    assert disabled.disabled_endpoints == [ENDPOINT_ID]
    assert sorted(disabled.missing) == sorted(event["id"] for event in during)
    assert back.missing == [] and back.checked == 3  # found published by one batched read: no write
    assert published(aws) == Counter({event["id"]: 1 for event in during})
    state = composition.components().ledger.state()
    assert state is not None and state.gap is not None and state.gap[1] is not None  # closed, listed on


def test_the_recovery_limits_benchmark_prints_its_three_figures() -> None:
    from infra.bench import recovery_limits

    text = recovery_limits.report(failing=150, checked=300)

    assert "state item after 150 failing events" in text and "stripe_answer_too_large" in text
    assert (
        "ops verify, 300 events, default rate: 3 Stripe list requests, 3 DynamoDB BatchGetItem calls" in text
    )
