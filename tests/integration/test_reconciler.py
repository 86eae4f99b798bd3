"""The reconciler under moto, against a Stripe Events API stand-in on loopback: what Stripe could not
deliver is recorded and published exactly once, whichever path comes first, across kills, 429s,
5xx, other API versions and disabled endpoints; Stripe's health notice of an event it never
generated becomes that event; and every Stripe read ends by its deadline.

Stripe's Events API as documented: ``GET /v1/events`` lists newest first, ``delivery_success=false``
keeps events not yet delivered to every endpoint, ``starting_after`` pages (``infra.fixtures.events_api``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections import Counter
from typing import Any

import pytest

from infra.fixtures.payloads import fresh_event, thin_notification, with_fresh_ids
from infra.lambda_context import LambdaContext
from stripe_webhook import composition
from stripe_webhook.recovery.reconciliation import Endpoint, Report
from tests.integration.conftest import Aws
from tests.integration.recovery import ENDPOINT_ID, published, run, undelivered
from tests.integration.test_delivery_paths import THIN_SECRET, post_thin
from tests.loopback_stripe import LoopbackStripe
from tests.support import deliver, drain, free_port


@pytest.mark.slow
def test_150_undelivered_events_are_recorded_and_published_once_and_a_second_run_publishes_nothing(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    events = undelivered(stripe, 150, age=330, apart=1)  # all inside the next run's overlap

    report = run()

    assert sorted(report.recovered) == sorted(event["id"] for event in events)
    assert report.window_done and report.pages == 2 and not report.failed and not report.skipped
    assert published(aws) == Counter({event["id"]: 1 for event in events})
    for event in events:
        record = aws.queries.get_record(event["data"]["object"]["id"])
        assert record is not None and record["last_event_id"] == event["id"]

    again = run()

    assert again.recovered == [] and published(aws) == Counter()
    assert again.known == 150  # the overlap lists them again: duplicates, one write each


def test_a_webhook_delivery_after_the_reconciler_is_a_duplicate(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    (event,) = undelivered(stripe, 1)
    run()

    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "duplicate"
    assert published(aws) == Counter({event["id"]: 1})


def test_an_event_whose_live_delivery_holds_the_claim_is_left_to_it_and_published_once(
    aws: Aws, stripe: LoopbackStripe, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler runs while a webhook delivery of the same event is between its claim and its
    publish (it holds the lease): the reconciler leaves it, the delivery publishes it."""
    (event,) = undelivered(stripe, 1)
    publisher = composition.components().publisher
    original = publisher.publish
    during: list[Report] = []

    def publish_while_the_reconciler_runs(*args: Any, **kwargs: Any) -> str:
        if not during:
            during.append(run())
        return original(*args, **kwargs)

    monkeypatch.setattr(publisher, "publish", publish_while_the_reconciler_runs)
    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    (report,) = during
    assert report.in_progress == 1 and report.recovered == []
    assert published(aws) == Counter({event["id"]: 1})
    assert run().recovered == [] and published(aws) == Counter()


class Killed(BaseException):
    """The invocation ends here (a timeout, an out-of-memory): nothing below it runs, no finally
    of ours is allowed to tidy up the lease."""


def test_a_run_killed_mid_way_resumes_without_loss_or_doubles(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = undelivered(stripe, 120)
    components = composition.components()
    store, ledger = components.store, components.ledger
    original_claim, original_save = store.claim, ledger.save
    claims: list[str] = []

    def claim_until_killed(event: Any, *args: Any, **kwargs: Any) -> Any:
        if len(claims) == 110:  # the second page, part-way
            raise Killed
        claims.append(event.id)
        return original_claim(event, *args, **kwargs)

    def save_unless_finishing(state: Any, token: str, *, finished: bool = False) -> None:
        if not finished:  # a killed invocation never reaches the run's last save
            original_save(state, token)

    monkeypatch.setattr(store, "claim", claim_until_killed)
    monkeypatch.setattr(ledger, "save", save_unless_finishing)
    with pytest.raises(Killed):
        run()
    monkeypatch.setattr(store, "claim", original_claim)
    monkeypatch.setattr(ledger, "save", original_save)
    first = published(aws)
    assert sum(first.values()) == 110 and set(first.values()) == {1}

    assert run().busy  # the killed run's lease still holds
    aws.dynamodb.update_item(  # ...until it expires (budget.RECONCILER_LEASE_SECONDS)
        TableName=aws.table,
        Key={"pk": {"S": "RECONCILER"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "0"}},
    )
    resumed = run()

    assert resumed.window_done and len(resumed.recovered) == 10
    assert resumed.known == 10  # the page it was on, read again from the last saved cursor
    assert first + published(aws) == Counter({event["id"]: 1 for event in events})


def test_429_and_5xx_answers_are_retried_within_the_run(aws: Aws, stripe: LoopbackStripe) -> None:
    events = undelivered(stripe, 3)
    stripe.fail_next.extend([429, 503, 500])  # the endpoint check, then the list, twice

    report = run()

    assert sorted(report.recovered) == sorted(event["id"] for event in events)
    assert report.error is None and report.stripe_calls == 2
    assert len(stripe.requests) == 5  # each refusal answered again, within the run


def test_stripe_down_for_the_whole_run_is_a_failed_run_that_changes_nothing(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "stripe_webhook.recovery.reconciler.LIST_SECONDS", 4.0
    )  # each call's retries, scaled down
    undelivered(stripe, 3)
    stripe.fail_next.extend([503] * 100)

    report = run(deadline_seconds=40)

    assert report.error == "stripe_api_failed" and report.recovered == []
    assert composition.components().ledger.state().watermark is None  # type: ignore[union-attr]
    stripe.fail_next.clear()
    assert len(run().recovered) == 3  # the next run does the whole window


def test_an_event_rendered_in_another_api_version_is_skipped_and_named(
    aws: Aws, stripe: LoopbackStripe
) -> None:
    (readable,) = undelivered(stripe, 1)
    old = fresh_event("invoice.paid", created=int(time.time()) - 4_000, api_version="2023-10-16")
    stripe.add_event(old)

    report = run()

    assert report.recovered == [readable["id"]]
    assert "older than the oldest the handlers read" in report.skipped[old["id"]]
    assert aws.queries.get_event(old["id"]) is None
    assert run().skipped == {}  # named once, not again on every run
    state = composition.components().ledger.state()
    assert state is not None and old["id"] in state.named


def test_an_event_that_keeps_failing_is_retried_then_named_and_never_blocks_the_rest(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = undelivered(stripe, 5)
    bad = events[2]["id"]
    publisher = composition.components().publisher
    original = publisher.publish

    def refuse_one(event: Any, **kwargs: Any) -> str:
        if event.id == bad:
            from stripe_webhook.errors import PublishError

            raise PublishError("publish_failed", "SNS refused it")
        return original(event, **kwargs)

    monkeypatch.setattr(publisher, "publish", refuse_one)
    first = run()
    assert len(first.recovered) == 4 and first.failed == [bad] and first.window_done
    reports = [run() for _ in range(4)]

    assert all(report.failed == [bad] for report in reports)
    assert "failed 5 runs in a row (publish_failed)" in reports[-1].skipped[bad]
    assert run().failed == []  # given up: named in the state, no longer tried


def test_a_disabled_endpoint_sets_the_alarm_metric(
    aws: Aws, stripe: LoopbackStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    from stripe_webhook.app import reconcile

    stripe.objects[f"/v1/webhook_endpoints/{ENDPOINT_ID}"] = {"id": ENDPOINT_ID, "status": "disabled"}
    capsys.readouterr()

    summary = reconcile({}, LambdaContext(timeout_seconds=180))

    assert summary["disabled_endpoints"] == [ENDPOINT_ID]
    metrics = emitted(capsys.readouterr().out)
    assert metrics["StripeEndpointsDisabled"] == 1 and metrics["EventsRecovered"] == 0
    state = composition.components().ledger.state()
    assert state is not None and state.endpoints == {ENDPOINT_ID: "disabled"}


def test_recovered_events_and_lag_are_counted(
    aws: Aws, stripe: LoopbackStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    from stripe_webhook.app import reconcile

    undelivered(stripe, 2)
    capsys.readouterr()

    reconcile({}, LambdaContext(timeout_seconds=180))

    metrics = emitted(capsys.readouterr().out)
    assert metrics["EventsRecovered"] == 2 and metrics["StripeEndpointsDisabled"] == 0
    assert 300 <= metrics["ReconcilerLagSeconds"] < 330  # the grace: younger events are Stripe's to send


def emitted(output: str) -> dict[str, float]:
    """The metrics of the EMF lines Powertools printed."""
    values: dict[str, float] = {}
    for line in io.StringIO(output):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = document[definition["Name"]]
                values[definition["Name"]] = float(sum(value) if isinstance(value, list) else value)
    return values


# --- Stripe's health notice ------------------------------------------------------------------------


@pytest.fixture
def thin(aws: Aws, stripe_api: LoopbackStripe, monkeypatch: pytest.MonkeyPatch) -> LoopbackStripe:
    monkeypatch.setenv("STRIPE_THIN_WEBHOOK_SECRET", THIN_SECRET)
    composition.reset()
    return stripe_api


def health_notice(stripe: LoopbackStripe, obj: dict[str, Any], lost_type: str) -> dict[str, Any]:
    """The notice as delivered, and its data as ``GET /v2/core/events/{id}`` serves it (Stripe's
    documented example shape)."""
    notice = thin_notification("v2.core.health.event_generation_failure.resolved")
    notice.pop("related_object")
    stripe.objects[f"/v2/core/events/{notice['id']}"] = {
        **notice,
        "data": {
            "alert_id": "halert_61RFBMa6o6H87usts16RFBM10hSQlYfddqcFoEMR6CPY",
            "grouping_key": "_grouping_s8PgTvizbkORV9z5PhaJSvc4dUcAMmfRpEHKm4EeJ1glsQ5XMf",
            "impact": {
                "event_type": lost_type,
                "related_object_id": obj["id"],
                "related_object": {
                    "id": obj["id"],
                    "type": obj["object"],
                    "url": f"https://dashboard.stripe.com/{obj['object']}s/{obj['id']}",
                },
            },
            "resolved_at": "2026-11-30T16:05:44.000Z",
            "summary": "We have failed to create a notification for your Stripe account.",
        },
    }
    return notice


def test_a_health_notice_writes_the_object_s_record_and_publishes_one_flagged_message(
    aws: Aws, thin: LoopbackStripe
) -> None:
    intent = fresh_event("payment_intent.succeeded")["data"]["object"]
    thin.objects[f"/v1/payment_intents/{intent['id']}"] = intent
    notice = health_notice(thin, intent, "payment_intent.succeeded")
    body = json.dumps(notice).encode()

    first = post_thin(body, THIN_SECRET)
    again = post_thin(body, THIN_SECRET)

    assert first.status == 200 and first.body["status"] == "processed" and first.body["handler"] == "payments"
    assert again.body["status"] == "duplicate"
    record = aws.queries.get_record(intent["id"])
    assert record is not None and record["status"] == "succeeded" and record["last_event_id"] == notice["id"]
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["reconciliation"] == "true"
    assert message.attributes["event_type"] == "payment_intent.succeeded"
    assert message.json["data"]["object"]["id"] == intent["id"]
    assert message.json["reconciliation"]["data"]["impact"]["event_type"] == "payment_intent.succeeded"
    from contract import validate

    validate({"attributes": message.attributes, "body": message.json})


def test_a_health_notice_naming_nothing_fetchable_is_published_flagged_as_it_is(
    aws: Aws, thin: LoopbackStripe
) -> None:
    meter = {"id": "mtr_test_61R9IjkpP3bDjHYOT41A6mEbMhGq1RoS", "object": "billing.meter"}
    notice = health_notice(thin, meter, "billing.meter.created")

    response = post_thin(json.dumps(notice).encode(), THIN_SECRET)

    assert response.status == 200 and response.body["handler"] is None
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["reconciliation"] == "true"
    assert message.attributes["event_type"] == "v2.core.health.event_generation_failure.resolved"
    assert message.json["data"]["object"]["impact"]["related_object_id"] == meter["id"]


# --- every Stripe read has a deadline --------------------------------------------------------------


def test_a_trickled_fetch_ends_by_its_deadline_with_the_function_s_own_503(
    aws: Aws, thin: LoopbackStripe
) -> None:
    """Stripe's answer arrives a byte every 2 s: before, the per-read timeout let it run past the
    function's own timeout (API Gateway then answers 504); now the fetch's overall deadline ends it."""
    from infra.fixtures.payloads import v1_thin_notification

    snapshot = fresh_event("invoice.paid")
    notification = v1_thin_notification(snapshot)
    thin.objects[notification["related_object"]["url"]] = snapshot["data"]["object"]
    thin.trickle.add(notification["related_object"]["url"])
    thin.trickle_seconds = 0.5

    started = time.monotonic()
    response = post_thin(json.dumps(notification).encode(), THIN_SECRET)
    took = time.monotonic() - started

    assert response.status == 503 and response.body["error"] == "stripe_api_unreachable"
    assert took < 7  # stripe_api.TIMEOUT_SECONDS, not the body's length times the trickle
    assert aws.queries.get_event(notification["id"]) is None


def test_thin_events_stripe_did_not_deliver_are_recovered_through_the_thin_path(
    aws: Aws, thin: LoopbackStripe
) -> None:
    """With a thin destination, the v2 list (it has no delivery filter) is read too: the thin
    notification becomes its business event by the thin path's own fetch, once."""
    from infra.fixtures.payloads import v1_thin_notification

    snapshot = with_fresh_ids([fresh_event("invoice.paid")])[0]
    notification = v1_thin_notification(snapshot)
    notification["created"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 900))
    thin.objects[notification["related_object"]["url"]] = snapshot["data"]["object"]
    thin.thin_events.append(notification)
    destination = Endpoint("ed_61R", "event_destination", "https://x/webhook/thin", ("v1.invoice.paid",), 1)
    composition.components().ledger.record_endpoints([destination])
    thin.objects["/v2/core/event_destinations/ed_61R"] = {"id": "ed_61R", "status": "enabled"}

    report = run()
    again = run()

    assert report.recovered == [notification["id"]] and again.recovered == []
    (message,) = drain(aws.sqs, aws.queue_url)
    assert (
        message.attributes["event_type"] == "invoice.paid" and message.attributes["payload_style"] == "thin"
    )
    record = aws.queries.get_record(snapshot["data"]["object"]["id"])
    assert record is not None and record["last_event_id"] == notification["id"]


def test_the_recovery_benchmark_measures_one_recovery_per_event_and_two_reads_at_idle() -> None:
    from infra.bench import recovery

    idle, outage, again = recovery.measure(12)

    assert (idle.stripe_calls, idle.recovered) == (2, 0)  # the endpoint, one empty page
    assert (outage.recovered, again.recovered, again.known) == (12, 0, 12)
    text = recovery.report(12, idle, outage, again)
    assert "per recovered event" in text and "longest recoverable" in text


def test_a_resumed_window_whose_cursor_stripe_no_longer_has_lists_again_from_its_second(
    aws: Aws, stripe: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two runs the cursor's event left Stripe's 30 days: ``starting_after`` is refused
    (400 ``resource_missing``); the run lists the window again up to the cursor's second instead
    of stopping for good, and loses nothing."""
    events = undelivered(stripe, 150)
    reconciler = composition.components().reconciler
    limits = reconciler._limits
    monkeypatch.setattr(reconciler, "_limits", dataclasses.replace(limits, max_pages=1))  # one page a run
    first = run()
    assert len(first.recovered) == 100 and not first.window_done
    cursor = composition.components().ledger.state().sweeps["undelivered"].cursor  # type: ignore[union-attr]
    stripe.events = [entry for entry in stripe.events if entry.event["id"] != cursor]
    monkeypatch.setattr(reconciler, "_limits", limits)

    resumed = run()

    assert resumed.window_done and resumed.error is None
    assert published(aws) == Counter({event["id"]: 1 for event in events})


def test_the_local_stand_in_lists_what_trigger_kept_and_skips_what_it_cannot_read(aws: Aws) -> None:
    from infra.local.stripe_standin import (
        BUCKET,
        EVENTS_PREFIX,
        MAX_EVENT_BYTES,
        LocalStripeApi,
        keep_undelivered,
    )

    standin = LocalStripeApi(aws.s3, 0)
    aws.s3.create_bucket(Bucket=BUCKET)
    (kept,) = keep_undelivered(aws.s3, [fresh_event("invoice.paid", created=int(time.time()) - 60)])
    aws.s3.put_object(Bucket=BUCKET, Key=f"{EVENTS_PREFIX}evt_junk", Body=b"not json")
    aws.s3.put_object(Bucket=BUCKET, Key=f"{EVENTS_PREFIX}evt_huge", Body=b" " * (MAX_EVENT_BYTES + 1))

    status, page = standin.answer("/v1/events", "delivery_success=false&limit=10")

    assert status == 200 and [event["id"] for event in page["data"]] == [kept["id"]]


def test_the_local_stand_in_says_a_list_only_when_it_finds_events(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """The local reconciler lists every 10 s: an empty page is not a line in the console."""
    import urllib.request

    from infra.local.stripe_standin import LocalStripeApi, keep_undelivered

    standin = LocalStripeApi(aws.s3, free_port()).start()
    url = f"{standin.base_url}/v1/events?delivery_success=false&limit=100"
    headers = {"Authorization": "Bearer sk_test_local_stand_in"}
    try:
        for path in ("/v1/events?delivery_success=false&limit=100", "/v2/core/events?limit=20"):
            with urllib.request.urlopen(
                urllib.request.Request(standin.base_url + path, headers=headers)
            ) as page:
                assert page.status == 200
        quiet = capsys.readouterr().out
        keep_undelivered(aws.s3, [fresh_event("invoice.paid", created=int(time.time()) - 60)])
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as page:
            assert len(json.loads(page.read())["data"]) == 1
        said = capsys.readouterr().out
    finally:
        standin.stop()

    assert quiet == "" and len(standin.fetches("/v1/events")) == 2
    assert "fetched /v1/events  200  (local Stripe API)" in said
