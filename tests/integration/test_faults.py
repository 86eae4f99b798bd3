"""Faults on the worst day: throttling, outages, a crash mid-flight, a broken handler, no secret.

Faults are injected with botocore's event hooks on the function's own session, so the real SDK
retries (standard mode, 3 attempts) run exactly as in Lambda.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from contract import aws
from infra.fixtures.payloads import fresh_event
from infra.template import load_module
from stripe_webhook import composition
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.core.routing import Route
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import all_items, deliver, drain, get_item

API_GATEWAY_LIMIT_SECONDS = 29
PAYMENT = ("OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")


class ProcessKilled(BaseException):
    """Stands in for the Lambda sandbox dying mid-invocation: nothing in the function can catch it."""


@pytest.fixture
def faults(aws: Aws) -> FaultInjector:
    injector = FaultInjector()
    injector.install(aws_session())
    return injector


def aws_session() -> object:
    return aws.session()


def event_status(aws_: Aws, event_id: str) -> str | None:
    item = get_item(aws_.dynamodb, aws_.table, f"EVENT#{event_id}", "EVENT")
    return None if item is None else str(item["status"])


@pytest.mark.parametrize("throttles", [1, 2])
def test_dynamodb_throttled_once_or_twice_still_succeeds(
    aws: Aws, secret: str, faults: FaultInjector, throttles: int
) -> None:
    faults.fail("dynamodb.TransactWriteItems", Fault("ThrottlingException", 400, times=throttles))
    event = fresh_event("payment_intent.succeeded")

    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts["dynamodb.TransactWriteItems"] == throttles + 1
    assert event_status(aws, event["id"]) == "PUBLISHED"
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_dynamodb_down_is_a_5xx_in_time_and_the_redelivery_processes_once(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    faults.fail("dynamodb.TransactWriteItems", Fault("ServiceUnavailable", 503))
    event = fresh_event("payment_intent.succeeded")

    started = time.monotonic()
    failed = deliver(event, secret)
    elapsed = time.monotonic() - started

    assert failed.status == 503 and failed.body["error"] == "storage_failed"
    assert faults.attempts["dynamodb.TransactWriteItems"] == 3  # the whole retry budget, then give up
    assert elapsed < API_GATEWAY_LIMIT_SECONDS
    assert all_items(aws.dynamodb, aws.table) == []
    assert drain(aws.sqs, aws.queue_url) == []

    faults.heal("dynamodb.TransactWriteItems")
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert len(drain(aws.sqs, aws.queue_url)) == 1
    assert deliver(event, secret).body["status"] == "duplicate"


def test_dynamodb_unreachable_is_a_5xx(aws: Aws, secret: str, faults: FaultInjector) -> None:
    from botocore.exceptions import EndpointConnectionError

    faults.fail(
        "dynamodb.TransactWriteItems",
        Fault(
            raise_=lambda: EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        ),
    )

    response = deliver(fresh_event("payment_intent.succeeded"), secret)

    assert response.status == 503 and response.body["error"] == "storage_unreachable"
    assert faults.attempts["dynamodb.TransactWriteItems"] == 3
    assert drain(aws.sqs, aws.queue_url) == []


@pytest.mark.parametrize("code", ["Throttling", "KMSThrottling", "KMSDisabled", "InternalError"])
def test_sns_failure_after_the_write_is_a_5xx_then_the_redelivery_publishes_once(
    aws: Aws, secret: str, faults: FaultInjector, code: str
) -> None:
    faults.fail("sns.Publish", Fault(code, 500 if code == "InternalError" else 400))
    event = fresh_event("payment_intent.succeeded")

    failed = deliver(event, secret)

    assert failed.status == 503 and failed.body["error"] == "publish_failed"
    assert event_status(aws, event["id"]) == "IN_PROGRESS"
    assert drain(aws.sqs, aws.queue_url) == []

    faults.heal("sns.Publish")
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert len(drain(aws.sqs, aws.queue_url)) == 1
    records = [item for item in all_items(aws.dynamodb, aws.table) if item["sk"] == "STATE"]
    assert [item["pk"] for item in records] == [PAYMENT[0]]


def test_crash_between_write_and_publish_is_completed_after_the_lease_expires(
    aws: Aws, secret: str, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IN_PROGRESS_LEASE_SECONDS", "3")
    # a 3 s lease (stored in whole seconds: at least 2 s left) must cover a publish and a mark,
    # with room for a slow claim on a loaded machine
    monkeypatch.setattr("stripe_webhook.core.budget.MIN_LEASE_SECONDS", 3)
    monkeypatch.setattr("stripe_webhook.core.budget.PUBLISH_BUDGET_SECONDS", 0.3)
    composition.reset()
    faults.install(aws_session())
    faults.fail("sns.Publish", Fault(raise_=ProcessKilled, times=1))
    event = fresh_event("payment_intent.succeeded")

    with pytest.raises(ProcessKilled):
        deliver(event, secret)  # Lambda dies: API Gateway answers 502, Stripe will retry

    assert event_status(aws, event["id"]) == "IN_PROGRESS"
    assert deliver(event, secret).status == 409  # the lease still protects it
    time.sleep(3.5)
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert event_status(aws, event["id"]) == "PUBLISHED"
    assert [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)] == [event["id"]]
    assert get_item(aws.dynamodb, aws.table, *PAYMENT)["last_event_id"] == event["id"]  # type: ignore[index]


def test_secrets_manager_down_on_a_cold_start_is_a_5xx_and_counted_for_the_alarm(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    arn = aws.secretsmanager.create_secret(Name="stripe/webhook", SecretString=secret)["ARN"]
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_ARN", arn)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    composition.reset()
    injector = FaultInjector()
    injector.install(aws_session())
    injector.fail("secrets-manager.GetSecretValue", Fault("InternalServiceError", 500))

    response = deliver(fresh_event("payment_intent.succeeded"), secret)

    assert response.status == 500  # not 400: Stripe must retry
    assert response.body["error"] == "secret_unavailable"
    assert injector.attempts["secrets-manager.GetSecretValue"] == 3
    assert all_items(aws.dynamodb, aws.table) == []
    # The metric the ProcessingFailuresAlarm watches was emitted, in its namespace and dimension
    alarm = load_module("monitoring")["Resources"]["ProcessingFailuresAlarm"]["Properties"]
    metrics = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    emitted = [metric for metric in metrics if metric.get(alarm["MetricName"]) == [1.0]]
    assert emitted
    (directive,) = emitted[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == alarm["Namespace"]
    assert directive["Dimensions"] == [["service"]]

    injector.heal("secrets-manager.GetSecretValue")
    assert deliver(fresh_event("payment_intent.succeeded"), secret).status == 200


def test_a_handler_bug_fails_only_its_event_type_visibly(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch, function_logs: io.StringIO
) -> None:
    registry = composition.registry()
    route = registry.resolve("charge.dispute.created")
    assert route is not None

    def broken(event: StripeEvent) -> list[Record]:
        raise KeyError("evidence_details")

    monkeypatch.setitem(registry._exact, "charge.dispute.created", Route(route.pattern, route.family, broken))
    bad = fresh_event("charge.dispute.created")

    failed = deliver(bad, secret)
    fine = [deliver(fresh_event(name), secret) for name in ("payment_intent.succeeded", "invoice.paid")]

    assert failed.status == 500 and failed.body["error"] == "handler_failed"
    assert [response.status for response in fine] == [200, 200]
    assert event_status(aws, bad["id"]) is None  # nothing claimed: the fixed code will process the retry
    errors = [json.loads(line) for line in function_logs.getvalue().splitlines() if '"ERROR"' in line]
    assert any(line["correlation_id"] == bad["id"] and "KeyError" in line["exception"] for line in errors)
    assert sorted(message.attributes["event_type"] for message in drain(aws.sqs, aws.queue_url)) == [
        "invoice.paid",
        "payment_intent.succeeded",
    ]
