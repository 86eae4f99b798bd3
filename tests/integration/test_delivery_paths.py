"""The other ways events arrive: Stripe's EventBridge destination, and v2 thin event notifications."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event, thin_notification
from infra.fixtures.signing import signature_header
from infra.lambda_context import LambdaContext
from infra.local.apigw import proxy_event
from infra.template import load_module
from stripe_webhook import composition
from stripe_webhook.app import lambda_handler
from stripe_webhook.composition import registry as deployed_registry
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.errors import InvalidPayload, PublishError
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.loopback_stripe import LoopbackStripe
from tests.support import all_items, deliver, drain, eventbridge, get_item, invoke

THIN_SECRET = "whsec_" + "7f" * 16


def post_thin(body: bytes, secret: str) -> Any:
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature_header(body, secret)}
    return invoke(proxy_event("POST", "/webhook/thin", headers, body, resource="/webhook/thin"))


@pytest.fixture
def thin_enabled(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_THIN_WEBHOOK_SECRET", THIN_SECRET)
    composition.reset()


# --- EventBridge -----------------------------------------------------------------------------------


def test_an_eventbridge_event_goes_through_the_same_pipeline_without_a_signature(aws: Aws) -> None:
    event = fresh_event("invoice.paid")

    result = lambda_handler(eventbridge(event), LambdaContext())

    assert result["status"] == "processed" and result["handler"] == "billing"
    logged = aws.queries.get_event(event["id"])
    assert logged is not None and logged["status"] == "PUBLISHED"
    invoice = aws.queries.get_record("in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu")
    assert invoice is not None and invoice["status"] == "paid"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["event_type"] == "invoice.paid"
    assert message.json == event


def test_moving_between_webhook_and_eventbridge_delivery_never_processes_twice(aws: Aws, secret: str) -> None:
    event = fresh_event("payment_intent.succeeded")

    assert deliver(event, secret).body["status"] == "processed"
    assert lambda_handler(eventbridge(event), LambdaContext())["status"] == "duplicate"
    later = fresh_event("payment_intent.succeeded")
    assert lambda_handler(eventbridge(later), LambdaContext())["status"] == "processed"
    assert deliver(later, secret).body["status"] == "duplicate"
    assert len(drain(aws.sqs, aws.queue_url)) == 2


def test_a_retryable_eventbridge_failure_raises_so_aws_retries(aws: Aws) -> None:
    injector = FaultInjector()
    from contract import aws as aws_clients

    injector.install(aws_clients.session())
    injector.fail("sns.Publish", Fault("KMSDisabled", 400, times=1))
    event = fresh_event("customer.created")

    with pytest.raises(PublishError):
        lambda_handler(eventbridge(event), LambdaContext())
    assert lambda_handler(eventbridge(event), LambdaContext())["status"] == "processed"  # Lambda's retry
    assert len(drain(aws.sqs, aws.queue_url)) == 1


@pytest.mark.parametrize(
    "detail",
    [{"object": "v2.core.event", "id": "evt_1"}, {"object": "charge", "id": "ch_1"}, {"id": "evt_1"}],
    ids=["broken-thin-event", "not-an-event", "no-type"],
)
def test_an_eventbridge_detail_that_is_no_stripe_event_raises_so_it_is_dead_lettered(
    aws: Aws, detail: dict[str, Any], capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

    with pytest.raises(InvalidPayload):
        lambda_handler(eventbridge(detail), LambdaContext())

    assert all_items(aws.dynamodb, aws.table) == []
    # Counted for the alarm that watches rejected EventBridge events
    alarm = load_module("monitoring")["Resources"]["EventBridgeRejectedEventsAlarm"]["Properties"]
    assert f'"{alarm["MetricName"]}":[1.0]' in capfd.readouterr().out


def test_a_thin_event_from_eventbridge_takes_the_thin_event_path(aws: Aws) -> None:
    notification = thin_notification()

    result = lambda_handler(eventbridge(notification), LambdaContext())

    assert result["status"] == "processed" and result["event_type"] == notification["type"]
    logged = aws.queries.get_event(notification["id"])
    assert logged is not None and logged["status"] == "PUBLISHED" and logged["object_type"] == "billing.meter"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.json == notification


# --- Thin events -----------------------------------------------------------------------------------


def test_a_thin_notification_is_verified_with_its_own_secret_stored_and_published(
    aws: Aws, thin_enabled: None
) -> None:
    notification = thin_notification(created="2026-11-27T05:20:52.246Z")

    response = post_thin(json.dumps(notification).encode(), THIN_SECRET)

    assert response.status == 200 and response.body["status"] == "processed"
    logged = get_item(aws.dynamodb, aws.table, f"EVENT#{notification['id']}", "EVENT")
    assert logged is not None
    assert logged["created"] == 1795756852  # 2026-11-27T05:20:52Z
    assert logged["object_type"] == "billing.meter"
    assert logged["object_id"] == "mtr_test_61R9IjkpP3bDjHYOT41A6mEbMhGq1RoS"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["object_type"] == "billing.meter"
    assert message.json == notification


def test_thin_notifications_need_the_thin_secret(aws: Aws, secret: str, thin_enabled: None) -> None:
    body = json.dumps(thin_notification()).encode()

    assert post_thin(body, secret).status == 400  # signed with the snapshot endpoint's secret
    snapshot = encode(fresh_event("invoice.paid"))
    rejected = post_thin(snapshot, THIN_SECRET)
    assert rejected.status == 400 and rejected.body["error"] == "not_a_thin_event"
    assert all_items(aws.dynamodb, aws.table) == []


def test_thin_path_without_a_thin_secret_is_a_404(aws: Aws, secret: str) -> None:
    response = post_thin(json.dumps(thin_notification()).encode(), secret)

    assert response.status == 404 and response.body["error"] == "thin_events_disabled"
    assert all_items(aws.dynamodb, aws.table) == []


def test_a_handler_that_needs_the_full_thin_event_gets_it_from_the_stripe_api(
    aws: Aws, thin_enabled: None, stripe_api: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    notification = thin_notification("v1.billing.meter.no_meter_found")
    stripe_api.objects[f"/v2/core/events/{notification['id']}"] = {
        **notification,
        "data": {"developer_message_summary": "No meter found", "reason": {"error_count": 3}},
    }
    seen: list[dict[str, Any]] = []

    def meter_errors(event: StripeEvent) -> list[Record]:
        seen.append(dict(event.data_object))
        return [
            Record(
                f"OBJECT#{event.object_id}",
                "STATE",
                {"error_count": event.data_object["reason"]["error_count"]},
            )
        ]

    monkeypatch.setattr(deployed_registry(), "_exact", dict(deployed_registry()._exact))
    deployed_registry().add("v1.billing.meter.no_meter_found", "meters", meter_errors, needs_full_event=True)

    response = post_thin(json.dumps(notification).encode(), THIN_SECRET)

    assert response.status == 200 and response.body["handler"] == "meters"
    assert seen[0]["developer_message_summary"] == "No meter found"
    assert seen[0]["id"] == "mtr_test_61R9IjkpP3bDjHYOT41A6mEbMhGq1RoS"
    assert stripe_api.requests[-1].headers["Authorization"] == "Bearer rk_test_" + "a" * 24
    record = get_item(aws.dynamodb, aws.table, "OBJECT#mtr_test_61R9IjkpP3bDjHYOT41A6mEbMhGq1RoS", "STATE")
    assert record is not None and record["error_count"] == 3


def test_reset_forgets_the_cached_api_key_as_a_cold_start_would(
    aws: Aws, thin_enabled: None, stripe_api: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the Stripe key lives in Secrets Manager and a warm container has read it
    old_key, new_key = "rk_test_" + "b" * 24, "rk_test_" + "c" * 24
    arn = aws.secretsmanager.create_secret(Name="stripe-api-key", SecretString=old_key)["ARN"]
    monkeypatch.delenv("STRIPE_API_KEY")
    monkeypatch.setenv("STRIPE_API_KEY_SECRET_ARN", arn)
    composition.reset()
    monkeypatch.setattr(deployed_registry(), "_exact", dict(deployed_registry()._exact))
    deployed_registry().add(
        "v1.billing.meter.no_meter_found", "meters", lambda event: [], needs_full_event=True
    )

    def deliver_thin() -> int:
        notification = thin_notification("v1.billing.meter.no_meter_found")
        stripe_api.objects[f"/v2/core/events/{notification['id']}"] = {**notification, "data": {}}
        return int(post_thin(json.dumps(notification).encode(), THIN_SECRET).status)

    assert deliver_thin() == 200
    aws.secretsmanager.put_secret_value(SecretId=arn, SecretString=new_key)

    # When the key is rolled, a warm container keeps its cached key; a reset is a cold start
    assert deliver_thin() == 200
    warm_key = stripe_api.requests[-1].headers["Authorization"]
    composition.reset()
    assert deliver_thin() == 200

    # Then
    assert warm_key == f"Bearer {old_key}"
    assert stripe_api.requests[-1].headers["Authorization"] == f"Bearer {new_key}"


def test_stripe_api_down_when_a_full_event_is_needed_is_a_5xx_with_nothing_stored(
    aws: Aws, thin_enabled: None, stripe_api: LoopbackStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens on the discard port
    composition.reset()
    monkeypatch.setattr(deployed_registry(), "_exact", dict(deployed_registry()._exact))
    deployed_registry().add(
        "v1.billing.meter.no_meter_found", "meters", lambda event: [], needs_full_event=True
    )

    response = post_thin(
        json.dumps(thin_notification("v1.billing.meter.no_meter_found")).encode(), THIN_SECRET
    )

    assert response.status == 503 and response.body["error"] == "stripe_api_unreachable"
    assert all_items(aws.dynamodb, aws.table) == []
