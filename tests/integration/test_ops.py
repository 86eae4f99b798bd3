"""Operator commands against moto (AWS) and an in-memory Stripe behind the stripe library's HTTP client."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import stripe

from contract import aws as aws_clients
from infra import cli as runner
from infra.cli import Problem
from infra.console.event_log import EventLog, Filters
from infra.fixtures.payloads import fresh_event
from infra.ops import backfill, cli, rebuild, verify, verify_records
from infra.ops.deployed import Context, handled_event_types, load_stack
from infra.ops.status import DASHBOARD_METRICS, metric_sums
from infra.template import load_module
from stripe_webhook import composition
from stripe_webhook.adapters import bodies, schema
from stripe_webhook.adapters.lease import index_entry
from stripe_webhook.settings import API_VERSION
from tests.fake_stripe import FakeStripe
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import deliver, drain, get_item, large_invoice

STACK = "stripe-webhooks-test"
RETENTION_DAYS = 45
"""The stack's EventRetentionDays: not the function's default (90), so drift would show."""
WEBHOOK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1/webhook"
LOG_GROUP = "/aws/lambda/stripe-webhooks-test-WebhookFunction"
DASHBOARD_URL = (
    "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/x"
)
STACK_API_VERSION = "2025-09-30.clover"
"""The stack's StripeApiVersion: not the pinned default, so a command ignoring the stack would show."""


@pytest.fixture
def stack(aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[dict[str, str]]:
    """A deployed stack as `ops` sees it: CloudFormation outputs, the table, topic and secret."""
    secret_arn = aws.secretsmanager.create_secret(
        Name=f"{STACK}/signing", SecretString="placeholder0123456789"
    )["ARN"]
    thin_secret_arn = aws.secretsmanager.create_secret(
        Name=f"{STACK}/thin-signing", SecretString="placeholder0123456789"
    )["ARN"]
    outputs = {
        "WebhookUrl": WEBHOOK_URL,
        "ThinWebhookUrl": WEBHOOK_URL + "/thin",
        "ThinSecretArn": thin_secret_arn,
        "TableName": aws.table,
        "TopicArn": aws.topic_arn,
        "SecretArn": secret_arn,
        "PayloadBucketName": aws.bucket,
        "DashboardUrl": DASHBOARD_URL,
    }
    template = {
        "Parameters": {
            "EventRetentionDays": {"Type": "Number", "Default": "90"},
            "StripeApiVersion": {"Type": "String", "Default": API_VERSION},
        },
        "Resources": {
            "Marker": {"Type": "AWS::SQS::Queue"},
            "WebhookFunctionLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": LOG_GROUP},
            },
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto_client("cloudformation").create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "EventRetentionDays", "ParameterValue": str(RETENTION_DAYS)},
            {"ParameterKey": "StripeApiVersion", "ParameterValue": STACK_API_VERSION},
        ],
    )
    monkeypatch.setattr(backfill, "STATE_DIR", tmp_path / ".backfill")
    monkeypatch.setattr(verify, "STATE_DIR", tmp_path / ".verify")
    monkeypatch.setattr(rebuild, "STATE_DIR", tmp_path / ".rebuild")
    monkeypatch.setattr(verify_records, "STATE_DIR", tmp_path / ".verify-records")
    # The function reads the secret the commands write, as when deployed.
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_ARN", secret_arn)
    composition.reset()
    yield outputs


@pytest.fixture
def direct(stack: dict[str, str], secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function verifies with the test's ``secret`` itself, not the stack's stored one, so a
    test can deliver events beside what the commands do."""
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", secret)
    composition.reset()


@pytest.fixture
def fake_stripe() -> FakeStripe:
    return FakeStripe()


def boto_client(service: str) -> Any:
    make_client: Any = boto3.client
    return make_client(service)


def run(
    command: list[str], fake_stripe: FakeStripe, aws: Callable[[str], Any] = boto_client
) -> tuple[int, str]:
    out = io.StringIO()
    client = stripe.StripeClient("sk_test_fake", http_client=fake_stripe)
    code = cli.run(cli.parse_args([*command, "--stack", STACK]), aws, client, out)
    return code, out.getvalue()


def stored_secrets(aws: Aws, stack: dict[str, str]) -> list[str]:
    value: str = aws.secretsmanager.get_secret_value(SecretId=stack["SecretArn"])["SecretString"]
    return value.split(",")


def test_register_creates_the_endpoint_from_the_registry_and_stores_its_secret(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    code, out = run(["register"], fake_stripe)

    assert code == 0
    (endpoint,) = fake_stripe.endpoints.values()
    assert endpoint["url"] == WEBHOOK_URL
    assert endpoint["enabled_events"] == handled_event_types()
    assert endpoint["api_version"] == STACK_API_VERSION
    assert f"API version {STACK_API_VERSION}" in out
    assert endpoint["metadata"] == {"stack": STACK, "managed_by": "stripe-webhooks-aws"}
    (secret,) = stored_secrets(aws, stack)
    assert secret.startswith("whsec_") and secret not in out
    # The deployed function now accepts what Stripe signs with that secret
    assert deliver(fresh_event("invoice.paid"), secret).status == 200


def test_register_again_updates_in_place_and_dry_run_changes_nothing(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    run(["register"], fake_stripe)
    (endpoint,) = fake_stripe.endpoints.values()
    endpoint["enabled_events"] = ["charge.succeeded"]
    secret = stored_secrets(aws, stack)

    assert run(["register", "--dry-run"], fake_stripe)[0] == 0
    assert endpoint["enabled_events"] == ["charge.succeeded"]
    code, out = run(["register"], fake_stripe)

    assert code == 0 and "unchanged" in out
    assert list(fake_stripe.endpoints.values()) == [endpoint]
    assert endpoint["enabled_events"] == handled_event_types()
    assert stored_secrets(aws, stack) == secret


def test_rotation_accepts_both_secrets_during_the_overlap_then_only_the_new_one(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    run(["register"], fake_stripe)
    (old_secret,) = stored_secrets(aws, stack)

    code, out = run(["rotate-secret"], fake_stripe)

    assert code == 0 and "--finish" in out
    assert len(fake_stripe.endpoints) == 2
    old, new_secret = stored_secrets(aws, stack)
    assert old == old_secret
    # Both endpoints deliver the same event: it is processed once
    event = fresh_event("payment_intent.succeeded")
    composition.reset()
    assert deliver(event, old_secret).body["status"] == "processed"
    assert deliver(event, new_secret).body["status"] == "duplicate"
    assert len(drain(aws.sqs, aws.queue_url)) == 1

    assert run(["rotate-secret", "--finish", "--dry-run"], fake_stripe)[0] == 0
    assert len(fake_stripe.endpoints) == 2
    assert run(["rotate-secret", "--finish"], fake_stripe)[0] == 0

    (remaining,) = fake_stripe.endpoints.values()
    assert remaining["metadata"]["rotated_from"]
    assert stored_secrets(aws, stack) == [new_secret]
    composition.reset()
    assert deliver(fresh_event("invoice.paid"), new_secret).status == 200
    assert deliver(fresh_event("invoice.paid"), old_secret).status == 400


def test_rotation_without_an_endpoint_is_a_clear_error(
    stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    with pytest.raises(Problem, match="run register first"):
        run(["rotate-secret"], fake_stripe)


def test_backfill_processes_what_was_missed_and_skips_what_arrived(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    run(["register"], fake_stripe)
    (secret,) = stored_secrets(aws, stack)
    now = int(time.time())
    arrived = fresh_event("invoice.paid", created=now - 300)
    missed = [
        fresh_event(name, created=now - 200 + i)
        for i, name in enumerate(("customer.created", "payment_intent.succeeded"))
    ]
    delivered_elsewhere = fresh_event("charge.succeeded", created=now - 100)
    composition.reset()
    assert deliver(arrived, secret).status == 200
    for event in (arrived, *missed):
        fake_stripe.add_event(event, delivered=False)
    fake_stripe.add_event(delivered_elsewhere, delivered=True)
    drain(aws.sqs, aws.queue_url)

    dry_code, dry_out = run(["backfill", "--since", "1h", "--dry-run"], fake_stripe)
    assert dry_code == 0 and "missing 2" in dry_out and "stored 1" in dry_out
    assert drain(aws.sqs, aws.queue_url) == []

    code, out = run(["backfill", "--since", "1h"], fake_stripe)

    assert code == 0
    assert "new 2" in out and "duplicate 1" in out
    assert sorted(m.attributes["event_id"] for m in drain(aws.sqs, aws.queue_url)) == sorted(
        e["id"] for e in missed
    )
    assert get_item(aws.dynamodb, aws.table, "OBJECT#cus_R9p2JgW7tYvN4c", "STATE") is not None
    assert get_item(aws.dynamodb, aws.table, f"EVENT#{delivered_elsewhere['id']}", "EVENT") is None

    code, out = run(["backfill", "--since", "1h", "--all"], fake_stripe)
    assert "new 1" in out and "duplicate 3" in out


def test_backfill_keeps_events_as_long_as_the_stacks_event_retention_days(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    missed = fresh_event("customer.created", created=int(time.time()) - 60)
    fake_stripe.add_event(missed, delivered=False)

    code, _ = run(["backfill", "--since", "1h"], fake_stripe)

    assert code == 0
    logged = aws.queries.get_event(missed["id"])
    assert logged is not None
    kept_days = (logged["expires_at"] - logged["received_at"]) / 86_400
    assert kept_days == RETENTION_DAYS


def test_an_interrupted_backfill_resumes_where_it_stopped(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time())
    events = [fresh_event("customer.created", created=now - 100 + i) for i in range(6)]
    for event in events:
        fake_stripe.add_event(event)
    listed = backfill.stripe_events

    def interrupted(ctx: Context, state: backfill.BackfillState) -> Iterator[Any]:
        for index, event in enumerate(listed(ctx, state)):
            if index == 3:
                raise KeyboardInterrupt
            yield event

    monkeypatch.setattr(backfill, "stripe_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(["backfill", "--since", "1h"], fake_stripe)
    monkeypatch.setattr(backfill, "stripe_events", listed)
    assert backfill.BackfillState.load(STACK).counts == {"new": 3}

    code, _ = run(["backfill", "--resume"], fake_stripe)

    assert code == 0
    assert backfill.BackfillState.load(STACK).counts == {"new": 6}
    consumed = [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)]
    assert sorted(consumed) == sorted(event["id"] for event in events)  # each once


@pytest.mark.parametrize(
    ("operation", "fault", "error"),
    [
        ("sns.Publish", Fault("KMSDisabled", 400, times=1), "publish_failed"),
        # a claim that took 2.2 s of a (scaled-down) 3 s invocation leaves too little to publish
        ("dynamodb.TransactWriteItems", Fault(delay_seconds=2.2, times=1), "deadline_near"),
    ],
    ids=["sns-refused", "out-of-time"],
)
def test_a_failed_event_is_reported_and_retried_by_resume(
    aws: Aws,
    stack: dict[str, str],
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    fault: Fault,
    error: str,
) -> None:
    # backfill gives each event a Lambda invocation's time, checked as the function checks it
    monkeypatch.setattr("stripe_webhook.core.budget.FUNCTION_TIMEOUT_SECONDS", 3.0)
    monkeypatch.setattr("stripe_webhook.core.budget.PUBLISH_BUDGET_SECONDS", 1.0)  # 2 s of slack for a claim
    now = int(time.time())
    events = [fresh_event("invoice.paid", created=now - 100 + i) for i in range(3)]
    for event in events:
        fake_stripe.add_event(event)
    injector = FaultInjector()
    injector.fail(operation, fault)

    def aws_with_faults(service: str) -> Any:
        client = boto_client(service)
        client.meta.events.register_first("before-send", injector._before_send)
        return client

    code, out = run(["backfill", "--since", "1h"], fake_stripe, aws_with_faults)

    assert code == 1
    newest = events[-1]["id"]  # listed first, so it met the fault
    assert f"failed {newest} (invoice.paid): {error}" in out
    assert backfill.BackfillState.load(STACK).failed == [newest]

    code, out = run(["backfill", "--resume"], fake_stripe)

    assert code == 0 and "retrying 1" in out
    assert backfill.BackfillState.load(STACK).counts == {"new": 3, "failed": 0}
    consumed = [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)]
    assert sorted(consumed) == sorted(event["id"] for event in events)


@pytest.mark.usefixtures("direct")
def test_redrive_republishes_stored_history_to_one_queue_or_the_topic(
    aws: Aws, stack: dict[str, str], secret: str, fake_stripe: FakeStripe
) -> None:
    now = int(time.time())
    invoices = [fresh_event("invoice.paid", created=now - 3600 * hours) for hours in (1, 2)]
    for event in (*invoices, fresh_event("product.created", created=now - 60)):
        assert deliver(event, secret).status == 200
    drain(aws.sqs, aws.queue_url)
    new_consumer = aws.sqs.create_queue(QueueName="new-consumer")["QueueUrl"]

    assert run(["redrive", "--type", "invoice.paid", "--since", "1d", "--dry-run"], fake_stripe)[0] == 0
    assert drain(aws.sqs, new_consumer) == [] and drain(aws.sqs, aws.queue_url) == []
    code, out = run(
        ["redrive", "--type", "invoice.paid", "--since", "1d", "--queue-url", new_consumer], fake_stripe
    )

    assert code == 0 and "sent 2" in out
    received = drain(aws.sqs, new_consumer)
    assert sorted(message.attributes["event_id"] for message in received) == sorted(e["id"] for e in invoices)
    assert all(message.attributes["redrive"] == "true" for message in received)
    assert {message.json["id"] for message in received} == {e["id"] for e in invoices}
    assert drain(aws.sqs, aws.queue_url) == []  # other consumers untouched

    run(["redrive", "--type", "invoice.paid", "--since", "1d"], fake_stripe)
    assert len(drain(aws.sqs, aws.queue_url)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda stored: stored[:1] + bytes(b ^ 0x5A for b in stored[1:]), id="does not inflate"),
        pytest.param(lambda stored: bodies.pack(b"\0" * (11 * 1024 * 1024)), id="inflates past the bound"),
    ],
)
@pytest.mark.usefixtures("direct")
def test_redrive_skips_and_names_an_event_whose_stored_body_cannot_be_read(
    aws: Aws,
    stack: dict[str, str],
    secret: str,
    fake_stripe: FakeStripe,
    damage: Callable[[bytes], bytes],
) -> None:
    """One damaged item (a bad deflate stream, or one that would inflate to 11 MiB) is skipped and
    named; the others still go."""
    now = int(time.time())
    invoices = [fresh_event("invoice.paid", created=now - 60 * minutes) for minutes in (1, 2, 3)]
    for event in invoices:
        assert deliver(event, secret).status == 200
    drain(aws.sqs, aws.queue_url)
    broken = invoices[1]["id"]
    key = {"pk": {"S": f"EVENT#{broken}"}, "sk": {"S": "EVENT"}}
    stored = aws.dynamodb.get_item(TableName=aws.table, Key=key)["Item"]
    assert bodies.ATTRIBUTE in stored, "the event's body is kept in its item"
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key=key,
        UpdateExpression="SET #z = :z",
        ExpressionAttributeNames={"#z": bodies.ATTRIBUTE},
        ExpressionAttributeValues={":z": {"B": damage(stored[bodies.ATTRIBUTE]["B"])}},
    )

    code, out = run(
        ["redrive", "--type", "invoice.paid", "--since", "1d", "--queue-url", aws.queue_url], fake_stripe
    )

    assert code == 0
    assert "sent 2" in out and "unreadable (skipped) 1" in out
    assert f"not sent, their stored body cannot be read: {broken}" in out
    sent = {message.json["id"] for message in drain(aws.sqs, aws.queue_url)}
    assert sent == {invoices[0]["id"], invoices[2]["id"]}


@pytest.mark.usefixtures("direct")
def test_status_shows_counts_last_event_and_failures(
    aws: Aws, stack: dict[str, str], secret: str, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    injector = FaultInjector()
    injector.install(aws_clients.session())
    for name in ("invoice.paid", "invoice.paid", "customer.created"):
        assert deliver(fresh_event(name), secret).status == 200
    # One more whose mark failed for its whole invocation: published, left IN_PROGRESS
    stuck = fresh_event("invoice.paid")
    injector.fail("dynamodb.UpdateItem", Fault("InternalServerError", 500))
    monkeypatch.setattr("stripe_webhook.adapters.lease.MARK_ROUNDS", 0)
    assert deliver(stuck, secret).status == 200
    injector.heal("dynamodb.UpdateItem")
    # And one whose publish failed: released for Stripe's retry, indexed as IN_PROGRESS
    released = fresh_event("customer.created")
    injector.fail("sns.Publish", Fault("InternalError", 500))
    assert deliver(released, secret).status == 503
    injector.heal("sns.Publish")

    cloudwatch = boto_client("cloudwatch")
    for _ in range(2):
        cloudwatch.put_metric_data(
            Namespace="StripeWebhooks",
            MetricData=[
                {
                    "MetricName": "EventsProcessed",
                    "Value": 1,
                    "Dimensions": [{"Name": "service", "Value": STACK}],
                }
            ],
        )

    # The function's own log lines (as report_failure writes them), read for the by-code tables
    logs = boto_client("logs")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="2026/11/28/[$LATEST]abc")
    lines = [
        {
            "level": "WARNING",
            "message": "no v1 signature matches",
            "error": "signature_mismatch",
            "status": 400,
        },
        {
            "level": "WARNING",
            "message": "no v1 signature matches",
            "error": "signature_mismatch",
            "status": 400,
        },
        {
            "level": "WARNING",
            "message": "header is missing",
            "error": "missing_signature_header",
            "status": 400,
        },
        {
            "level": "WARNING",
            "message": "another delivery holds the lease",
            "error": "event_in_progress",
            "status": 409,
        },
        {
            "level": "ERROR",
            "message": "DynamoDB could not be reached",
            "error": "storage_unreachable",
            "status": 503,
        },
        {"level": "INFO", "message": "event processed", "status": "processed"},
        {  # as the function logs the stuck one's failed mark (observability.report_outcome)
            "level": "ERROR",
            "message": "event published but not marked published; a redelivery may publish it again",
            "error": "published_not_marked",
            "event_id": stuck["id"],
        },
    ]
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName="2026/11/28/[$LATEST]abc",
        logEvents=[{"timestamp": now_ms, "message": json.dumps(line)} for line in lines]
        + [{"timestamp": now_ms, "message": "START RequestId: 1"}],
    )

    code, out = run(["status"], fake_stripe)

    assert code == 0
    rejected = "signature_mismatch 2, missing_signature_header 1, event_in_progress 1"
    assert f"rejected (4xx) by error code, last 24 h: {rejected}" in out
    assert "failures (5xx) by cause, last 24 h: storage_unreachable 1, published_not_marked 1" in out
    # the by-type index holds the events that were marked (or released): the stuck one is not there
    assert "events in the last 24 h (handled types): 4" in out
    assert "2  invoice.paid" in out and "2  customer.created" in out
    assert f"released, waiting for Stripe's retry (IN_PROGRESS): 1: {released['id']}" in out
    assert "last event: 20" in out
    assert f"published but not marked (the function's log): 1: {stuck['id']}" in out
    # moto keeps no metrics from the function: the ones put here stand in for its EMF lines
    assert "       2  processed (EventsProcessed)" in out
    assert "       0  published, not marked (PublishedNotMarked)" in out
    assert f"dashboard (latency, throttles, failures by cause, dead letters): {DASHBOARD_URL}" in out


def test_status_counts_a_metric_point_from_the_current_second(aws: Aws, stack: dict[str, str]) -> None:
    # EndTime is exclusive and compared at whole seconds: a point from the last fraction of this
    # second (an EMF line just flushed) is still counted
    now = dt.datetime.now(dt.UTC)
    boto_client("cloudwatch").put_metric_data(
        Namespace="StripeWebhooks",
        MetricData=[
            {
                "MetricName": "EventsProcessed",
                "Value": 3,
                "Timestamp": now.replace(microsecond=999_999),
                "Dimensions": [{"Name": "service", "Value": STACK}],
            }
        ],
    )

    ctx = Context(load_stack(boto_client("cloudformation"), STACK), boto_client)

    assert metric_sums(ctx, ["EventsProcessed"], hours=24) == {"EventsProcessed": 3}


def test_status_prints_the_same_metrics_as_the_dashboard() -> None:
    body = load_module("monitoring")["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    first_part = body["Fn::Join"][1][0]["Fn::Sub"][0]  # the widgets that plot the function's metrics
    plotted = re.findall(
        r'\["StripeWebhooks", "(\w+)", "service", "\$\{StackName\}", \{"label": "([^"]+)"\}\]',
        first_part,
    )
    assert plotted == list(DASHBOARD_METRICS.items())


def test_missing_stripe_key_and_unknown_stack_are_clear_errors(
    aws: Aws, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setattr(cli, "aws_factory", lambda region: boto_client)

    assert runner.run(cli.main, ["register", "--stack", STACK]) == 1
    assert "STRIPE_API_KEY" in capsys.readouterr().err
    assert runner.run(cli.main, ["status", "--stack", "no-such-stack"]) == 1
    assert "no-such-stack" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    ["register", "rotate-secret", "enable-endpoint", "backfill", "redrive", "verify", "status", "effects"],
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.parse_args([command, "--help"])
    assert raised.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_backfill_stores_a_large_event_in_the_stacks_payload_bucket_and_uses_its_api_version(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    missed = large_invoice(400 * 1024)
    fake_stripe.add_event(missed, delivered=False)

    code, _ = run(["backfill", "--since", "1h"], fake_stripe)

    assert code == 0
    logged = aws.queries.get_event(missed["id"])
    assert logged is not None and logged["payload_s3"]["bucket"] == aws.bucket
    assert json.loads(logged["payload"]) == missed
    settings = load_stack(boto_client("cloudformation"), STACK).settings()
    assert (settings.payload_bucket, settings.stripe_api_version) == (aws.bucket, STACK_API_VERSION)


def test_backfill_takes_only_the_stacks_mode_and_refuses_a_key_of_the_other(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live stack (``StripeMode=live``) and a test-mode key in ``STRIPE_API_KEY``: refused before
    anything is listed. A test stack: a live-mode event Stripe lists is named and skipped, and a
    malformed one (``created: "yesterday"``) too; the others are processed."""
    import dataclasses

    listed = load_stack(boto_client("cloudformation"), STACK)
    now = int(time.time())
    ordinary = fresh_event("customer.created", created=now - 300)
    live = {**fresh_event("customer.created", created=now - 200), "livemode": True}
    broken = {**fresh_event("customer.created", created=now - 100), "created": "yesterday"}
    for event in (ordinary, live):
        fake_stripe.add_event(event, delivered=False)
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_" + "a" * 24)
    client = stripe.StripeClient("sk_test_fake", http_client=fake_stripe)

    def backfill_on(mode: str, out: io.StringIO) -> int:
        stack_of_mode = dataclasses.replace(listed, parameters={**listed.parameters, "StripeMode": mode})
        ctx = Context(stack_of_mode, boto_client, client, out)
        return backfill.backfill(ctx, backfill.BackfillState(now - 3_600, now, undelivered_only=True))

    with pytest.raises(Problem, match=rf"STRIPE_API_KEY is a test-mode key; stack {STACK} is live mode"):
        backfill_on("live", io.StringIO())
    assert fake_stripe.requests == []

    fake_stripe.events.append({"event": broken, "delivered": False})
    out = io.StringIO()
    assert backfill_on("test", out) == 0
    text = out.getvalue()
    assert f"skipped {live['id']} (customer.created): a live-mode event; this stack is test mode" in text
    assert f"skipped {broken['id']} (customer.created): not processed: its created is not a time" in text
    assert get_item(aws.dynamodb, aws.table, f"EVENT#{ordinary['id']}", "EVENT") is not None
    assert get_item(aws.dynamodb, aws.table, f"EVENT#{live['id']}", "EVENT") is None


def test_backfill_processes_every_version_the_handlers_read_and_says_which_it_skipped(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    """Stripe's Events list renders each event in the API version it was created with."""
    from infra.fixtures.versions import BASIL, PRE_BASIL, shaped

    now = int(time.time())
    readable = [
        shaped(fresh_event("invoice.paid", created=now - 300), PRE_BASIL),
        shaped(fresh_event("customer.created", created=now - 200), BASIL),
    ]
    too_old = {**fresh_event("payment_intent.succeeded", created=now - 150), "api_version": "2023-10-16"}
    too_new = {**fresh_event("charge.succeeded", created=now - 100), "api_version": "2027-03-31.future"}
    for event in (*readable, too_old, too_new):
        fake_stripe.add_event(event, delivered=False)

    code, out = run(["backfill", "--since", "1h"], fake_stripe)

    assert code == 0 and "new 2" in out and "skipped 2" in out
    assert f"skipped {too_old['id']} (payment_intent.succeeded): rendered in API version 2023-10-16" in out
    assert "older than the oldest the handlers read (2024-06-20)" in out
    assert f"skipped {too_new['id']} (charge.succeeded): rendered in API version 2027-03-31.future" in out
    assert f"newer than the stack's pinned {STACK_API_VERSION}" in out
    for event in readable:
        assert get_item(aws.dynamodb, aws.table, f"EVENT#{event['id']}", "EVENT") is not None
    for event in (too_old, too_new):
        assert get_item(aws.dynamodb, aws.table, f"EVENT#{event['id']}", "EVENT") is None
    state = json.loads(backfill.BackfillState.path(STACK).read_text())
    assert set(state["skipped"]) == {too_old["id"], too_new["id"]}


def test_register_creates_a_snapshot_event_destination_once_and_keeps_it_up_to_date(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    from infra.ops.deployed import handled_event_types

    code, out = run(["register", "--style", "snapshot"], fake_stripe)

    assert code == 0, out
    (destination,) = fake_stripe.destinations.values()
    assert destination["type"] == "webhook_endpoint" and destination["event_payload"] == "snapshot"
    assert destination["webhook_endpoint"]["url"] == WEBHOOK_URL
    assert destination["enabled_events"] == handled_event_types()
    assert destination["snapshot_api_version"] == STACK_API_VERSION
    assert stored_secrets(aws, stack) == [destination["webhook_endpoint"]["signing_secret"]]

    again_code, again = run(["register", "--style", "snapshot"], fake_stripe)
    assert again_code == 0 and "up to date" in again and len(fake_stripe.destinations) == 1

    destination["enabled_events"] = destination["enabled_events"][1:]  # a type added since
    _, updated = run(["register", "--style", "snapshot"], fake_stripe)
    assert "1 to add" in updated and destination["enabled_events"] == handled_event_types()
    assert stored_secrets(aws, stack) == [destination["webhook_endpoint"]["signing_secret"]]


def test_register_creates_a_thin_destination_with_v1_types_and_its_own_secret(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    from infra.ops.deployed import handled_event_types

    code, out = run(["register", "--style", "thin"], fake_stripe)

    assert code == 0, out
    (destination,) = fake_stripe.destinations.values()
    assert destination["event_payload"] == "thin" and destination["snapshot_api_version"] is None
    assert destination["enabled_events"] == [
        *(f"v1.{event_type}" for event_type in handled_event_types()),
        "v2.core.health.event_generation_failure.resolved",  # Stripe's notice of an event it never made
    ]
    assert destination["webhook_endpoint"]["url"] == stack["ThinWebhookUrl"]
    thin = aws.secretsmanager.get_secret_value(SecretId=stack["ThinSecretArn"])["SecretString"]
    assert thin == destination["webhook_endpoint"]["signing_secret"]
    assert stored_secrets(aws, stack) == ["placeholder0123456789"]  # the snapshot secret is untouched


def test_register_an_eventbridge_destination_names_this_account_and_region(
    stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    code, out = run(["register", "--style", "snapshot", "--eventbridge"], fake_stripe)

    assert code == 0, out
    (destination,) = fake_stripe.destinations.values()
    assert destination["type"] == "amazon_eventbridge" and destination["webhook_endpoint"] is None
    assert destination["amazon_eventbridge"] == {"aws_account_id": "123456789012", "aws_region": "us-east-1"}
    assert "StripeEventBusName" in out


def test_register_a_destination_in_a_dry_run_creates_nothing(
    stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    code, out = run(["register", "--style", "thin", "--dry-run"], fake_stripe)

    assert code == 0 and "dry run: nothing created" in out and fake_stripe.destinations == {}
    with pytest.raises(SystemExit):
        cli.parse_args(["register", "--eventbridge"])


# --- endpoint health: register records, the reconciler checks, status shows, enable-endpoint --------


def recorded(aws: Aws) -> list[Any]:
    from stripe_webhook.recovery.ledger import DynamoLedger

    return DynamoLedger(aws.table, client=aws.dynamodb).endpoints()


def test_register_and_rotation_record_the_stack_s_endpoints_for_the_reconciler(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    assert run(["register", "--dry-run"], fake_stripe)[0] == 0
    assert recorded(aws) == []

    run(["register"], fake_stripe)
    (endpoint,) = recorded(aws)
    assert endpoint.id in fake_stripe.endpoints and endpoint.kind == "webhook_endpoint"
    assert endpoint.url == WEBHOOK_URL and list(endpoint.enabled_events) == handled_event_types()
    assert abs(endpoint.created - time.time()) < 60

    run(["rotate-secret"], fake_stripe)
    assert len(recorded(aws)) == 2
    run(["rotate-secret", "--finish"], fake_stripe)
    (kept,) = recorded(aws)
    assert kept.id != endpoint.id and list(fake_stripe.endpoints) == [kept.id]

    run(["register", "--style", "thin"], fake_stripe)
    destination = next(e for e in recorded(aws) if e.kind == "event_destination")
    assert "v2.core.health.event_generation_failure.resolved" in destination.enabled_events


def test_a_disabled_endpoint_shows_in_status_and_enable_endpoint_asks_then_turns_it_on(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.ops import endpoints
    from tests.loopback_stripe import LoopbackStripe

    run(["register"], fake_stripe)
    (endpoint,) = fake_stripe.endpoints.values()
    endpoint["status"] = "disabled"  # Stripe gave up on it
    # The deployed reconciler's run: it reads the same endpoint from Stripe's API (here on loopback)
    api = LoopbackStripe()
    monkeypatch.setenv("STRIPE_API_BASE", api.start())
    monkeypatch.setenv("STRIPE_API_KEY", "rk_test_" + "a" * 24)
    api.objects[f"/v1/webhook_endpoints/{endpoint['id']}"] = endpoint
    composition.reset()
    try:
        report = composition.components().reconciler.run(time.time() + 120)
    finally:
        api.stop()
    assert report.disabled_endpoints == [endpoint["id"]]

    code, out = run(["status"], fake_stripe)
    assert code == 0
    assert f"endpoint {endpoint['id']} ({WEBHOOK_URL}): disabled" in out
    assert "ops enable-endpoint" in out and "reconciler: last run" in out

    questions: list[str] = []

    def say_no(question: str) -> bool:
        questions.append(question)
        return False

    monkeypatch.setattr(endpoints, "ask_on_terminal", say_no)
    assert run(["enable-endpoint", "--dry-run"], fake_stripe)[0] == 0
    assert run(["enable-endpoint"], fake_stripe)[0] == 0
    assert len(questions) == 1 and endpoint["status"] == "disabled"  # asked, told no

    monkeypatch.setattr(endpoints, "ask_on_terminal", lambda question: True)
    code, out = run(["enable-endpoint"], fake_stripe)
    assert code == 0 and endpoint["status"] == "enabled"
    assert "turned on" in out and "reconciler's next run" in out


def test_enable_endpoint_without_a_terminal_needs_yes(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["register"], fake_stripe)
    (endpoint,) = fake_stripe.endpoints.values()
    endpoint["status"] = "disabled"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    with pytest.raises(Problem, match="--yes"):
        run(["enable-endpoint"], fake_stripe)
    code, _ = run(["enable-endpoint", "--yes"], fake_stripe)

    assert code == 0 and endpoint["status"] == "enabled"


def test_status_prints_the_same_recovery_metrics_as_the_dashboard() -> None:
    from infra.ops.status import RECOVERY_METRICS

    body = json.dumps(
        load_module("monitoring")["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    )
    plotted = re.findall(
        r'\[\\"StripeWebhooks\\", \\"(\w+)\\", \\"service\\"[^\]]*\\"label\\": \\"([^\\]+)\\"', body
    )
    widget = [(name, label) for name, label in plotted if name in RECOVERY_METRICS]
    assert widget == list(RECOVERY_METRICS.items())


def test_status_reads_the_alarms_of_the_stack_and_of_its_modules() -> None:
    """Alarms live in nested stacks (Monitoring, each action): status reads each one's resources."""
    from types import SimpleNamespace

    from infra.ops.status import stack_resources

    described = {
        "shop": [
            {"LogicalResourceId": "WebhookFunctionLogGroup", "ResourceType": "AWS::Logs::LogGroup"},
            {
                "LogicalResourceId": "Monitoring",
                "ResourceType": "AWS::CloudFormation::Stack",
                "PhysicalResourceId": "arn:m",
            },
            {
                "LogicalResourceId": "FulfilOrder",
                "ResourceType": "AWS::CloudFormation::Stack",
                "PhysicalResourceId": "arn:f",
            },
        ],
        "arn:m": [{"LogicalResourceId": "ProcessingFailuresAlarm", "ResourceType": "AWS::CloudWatch::Alarm"}],
        "arn:f": [
            {
                "LogicalResourceId": "Queue",
                "ResourceType": "AWS::CloudFormation::Stack",
                "PhysicalResourceId": "arn:q",
            },
            {"LogicalResourceId": "DeadLettersAlarm", "ResourceType": "AWS::CloudWatch::Alarm"},
        ],
        "arn:q": [{"LogicalResourceId": "DeadLetterQueue", "ResourceType": "AWS::SQS::Queue"}],
    }
    cloudformation = SimpleNamespace(
        describe_stack_resources=lambda StackName: {"StackResources": described[StackName]}  # noqa: N803
    )
    ctx = SimpleNamespace(stack=SimpleNamespace(local=False, name="shop"), aws=lambda name: cloudformation)

    found = [resource["LogicalResourceId"] for resource in stack_resources(ctx)]  # type: ignore[arg-type]

    assert found == [
        "WebhookFunctionLogGroup",
        "Monitoring",
        "FulfilOrder",
        "Monitoring.ProcessingFailuresAlarm",
        "FulfilOrder.Queue",
        "FulfilOrder.DeadLettersAlarm",
        "FulfilOrder.Queue.DeadLetterQueue",
    ]


# --- verify: nothing lost is a command ------------------------------------------------------------


def test_verify_names_every_event_stripe_holds_that_the_log_lacks_and_recover_closes_the_gap(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe holds five events of the stack's types (two it counts as delivered but the log never
    got, as for an endpoint that was disabled) and one of a type no endpoint takes: verify lists
    them all, checks them against the log in batches, names the two, exits 1; --recover processes
    them through the pipeline; verify again exits 0."""
    monkeypatch.setattr(verify, "DEFAULT_RATE", 1_000.0)
    now = int(time.time())
    arrived = [fresh_event("invoice.paid", created=now - 300 + i) for i in range(3)]
    lost = [fresh_event("customer.created", created=now - 200 + i) for i in range(2)]
    untaken = {**fresh_event("customer.created", created=now - 100), "type": "product.created"}
    run(["register"], fake_stripe)
    (secret,) = stored_secrets(aws, stack)
    composition.reset()
    for event in arrived:
        assert deliver(event, secret).status == 200
    for event in (*arrived, *lost):
        fake_stripe.add_event(event, delivered=True)
    fake_stripe.add_event(untaken, delivered=True)
    drain(aws.sqs, aws.queue_url)

    code, out = run(["verify", "--since", "1h", "--rate", "100"], fake_stripe)

    assert code == 1
    assert "5 events at Stripe, 3 in the log, 2 missing" in out
    assert all(f"missing {event['id']}" in out for event in lost)
    assert drain(aws.sqs, aws.queue_url) == []  # verify alone changes nothing

    code, out = run(["verify", "--since", "1h", "--rate", "100", "--recover"], fake_stripe)
    assert code == 1 and "2 recovered through the pipeline" in out
    assert sorted(m.attributes["event_id"] for m in drain(aws.sqs, aws.queue_url)) == sorted(
        event["id"] for event in lost
    )

    code, out = run(["verify", "--since", "1h", "--rate", "100"], fake_stripe)
    assert code == 0 and "5 events at Stripe, 5 in the log, 0 missing" in out
    listed = [path for method, path in fake_stripe.requests if path == "/v1/events"]
    assert len(listed) == 3  # one page of 100 a run


def test_an_interrupted_verify_resumes_from_its_last_page(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "PAGE_SIZE", 2)
    now = int(time.time())
    events = [fresh_event("customer.created", created=now - 100 + i) for i in range(5)]
    for event in events:
        fake_stripe.add_event(event, delivered=True)
    calls = 0
    original = verify._check

    def interrupted(*args: Any, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(verify, "_check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(["verify", "--since", "1h", "--rate", "100"], fake_stripe)
    monkeypatch.setattr(verify, "_check", original)
    assert verify.VerifyState.load(STACK).counts == {"missing": 2}

    code, out = run(["verify", "--resume", "--rate", "100"], fake_stripe)

    assert code == 1 and "5 events at Stripe, 0 in the log, 5 missing" in out
    assert verify.VerifyState.load(STACK).missing == [event["id"] for event in reversed(events)]


def test_verify_refuses_a_rate_above_stripes_read_limit() -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["verify", "--rate", "500"])


def test_reindex_lists_the_events_stored_before_the_by_time_index_once(
    aws: Aws, stack: dict[str, str], fake_stripe: FakeStripe
) -> None:
    created = int(time.time()) - 3_600
    old = [f"evt_before{n:04d}" for n in range(30)]
    for n, event_id in enumerate(old):  # as an earlier version's mark left them: no log_shard
        entry = index_entry("invoice.paid", created + n, event_id)
        del entry[schema.LOG_SHARD]
        item = {**schema.event_key(event_id), "event_type": {"S": "invoice.paid"}, **entry}
        aws.dynamodb.put_item(TableName=aws.table, Item={**item, "status": {"S": schema.PUBLISHED}})
    claimed = {**schema.event_key("evt_claimed"), "status": {"S": schema.IN_PROGRESS}}
    aws.dynamodb.put_item(TableName=aws.table, Item=claimed)  # a claim held now: in no index
    log = EventLog(aws.dynamodb, aws.table)
    assert log.page(Filters(), None, 100).entries == []
    updates: list[str] = []
    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", lambda **_: updates.append("u"))

    def clients(service: str) -> Any:
        return aws.dynamodb if service == "dynamodb" else boto_client(service)

    code, out = run(["reindex", "--dry-run"], fake_stripe, clients)
    assert code == 0 and "would index 30" in out and updates == []

    code, out = run(["reindex", "--rate", "1000"], fake_stripe, clients)
    assert code == 0 and "indexed 30" in out and "every stored event is in the by-time index" in out
    listed = log.page(Filters(), None, 100).entries
    assert [entry["event_id"] for entry in listed] == old[::-1]
    held = get_item(aws.dynamodb, aws.table, schema.event_pk("evt_claimed"), schema.EVENT_SK)
    assert held is not None and schema.LOG_SHARD not in held

    updates.clear()
    code, out = run(["reindex", "--rate", "1000"], fake_stripe, clients)
    assert code == 0 and updates == [] and "every stored event is in the by-time index" in out


def _customer_event(event_type: str, customer: str, created: int, email: str) -> dict[str, Any]:
    event = fresh_event(event_type, created=created)
    event["data"]["object"].update(id=customer, email=email)
    return event


@pytest.mark.usefixtures("direct")
def test_rebuild_brings_a_field_added_to_a_handler_to_every_record_in_the_window_order_safe(
    aws: Aws,
    stack: dict[str, str],
    secret: str,
    fake_stripe: FakeStripe,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from stripe_webhook.core.routing import Registry, Route

    now = int(time.time())
    older = _customer_event("customer.created", "cus_Rebuild1", now - 600, "a@example.com")
    newer = _customer_event("customer.updated", "cus_Rebuild1", now - 300, "a.new@example.com")
    other = _customer_event("customer.created", "cus_Rebuild2", now - 500, "b@example.com")
    odd = _customer_event("customer.created", "cus_Rebuild4", now - 400, "d@example.com")
    for event in (older, newer, other, odd):
        assert deliver(event, secret).status == 200
    drain(aws.sqs, aws.queue_url)
    unreadable = _customer_event("customer.created", "cus_Rebuild3", now - 450, "c@example.com")
    assert deliver(unreadable, secret).status == 200
    aws.dynamodb.update_item(  # its stored body damaged: named, never stops the others
        TableName=aws.table,
        Key=schema.event_key(unreadable["id"]),
        UpdateExpression="SET #z = :junk",
        ExpressionAttributeNames={"#z": bodies.ATTRIBUTE},
        ExpressionAttributeValues={":junk": {"B": b"not a deflate stream"}},
    )
    drain(aws.sqs, aws.queue_url)

    # Today's handler keeps one more field
    resolve = Registry.resolve

    def with_field(registry: Registry, event_type: str) -> Route | None:
        route = resolve(registry, event_type)
        if route is None or not event_type.startswith("customer."):
            return route
        handler = route.handler

        def added(event: Any) -> Any:
            if event.object_id == "cus_Rebuild4":  # a body today's handler cannot read
                raise KeyError("domain")
            return [replace(r, attributes={**r.attributes, "domain": "example.com"}) for r in handler(event)]

        return replace(route, handler=added)

    monkeypatch.setattr(Registry, "resolve", with_field)
    calls: list[str] = []
    for name in ("PutItem", "UpdateItem", "TransactWriteItems"):
        aws.dynamodb.meta.events.register(f"before-call.dynamodb.{name}", lambda **_: calls.append("write"))
    published: list[str] = []
    aws.sns.meta.events.register("before-call.sns.Publish", lambda **_: published.append("p"))

    def clients(service: str) -> Any:
        return {"dynamodb": aws.dynamodb, "sns": aws.sns}.get(service) or boto_client(service)

    def record(customer: str) -> dict[str, Any]:
        found = get_item(aws.dynamodb, aws.table, f"OBJECT#{customer}", "STATE")
        assert found is not None
        return found

    # --dry-run writes nothing and says what would change; a window past retention says so
    code, out = run(
        ["rebuild", "--since", "200d", "--object", "cus_Rebuild2", "--dry-run"], fake_stripe, clients
    )
    assert code == 0 and calls == [] and "would write 1" in out and "cus_Rebuild1" not in out
    assert f"the event log keeps {RETENTION_DAYS} days (EventRetentionDays)" in out
    code, out = run(["rebuild", "--since", str(now - 700), "--dry-run"], fake_stripe, clients)
    assert code == 0 and calls == [] and "would write" in out
    assert "added domain: 2" in out and "OBJECT#cus_Rebuild" in out
    assert f"{unreadable['id']}: its stored body cannot be read" in out
    assert f"{odd['id']}: today's handler cannot read it: KeyError" in out

    # A window holding only the older event: the newer event's state is kept
    code, out = run(["rebuild", "--since", str(now - 700), "--until", str(now - 550)], fake_stripe, clients)
    assert code == 0 and "kept newer" in out
    kept = record("cus_Rebuild1")
    assert kept["last_event_id"] == newer["id"] and kept["email"] == "a.new@example.com"
    assert "domain" not in kept

    # The whole window: every record gains the field, each still its newest event's
    code, out = run(["rebuild", "--since", str(now - 700), "--type", "customer."], fake_stripe, clients)
    assert code == 0 and "records rebuilt; nothing was published" in out
    first, second = record("cus_Rebuild1"), record("cus_Rebuild2")
    assert (first["domain"], first["last_event_id"], first["email"]) == (
        "example.com",
        newer["id"],
        "a.new@example.com",
    )
    assert (second["domain"], second["last_event_id"]) == ("example.com", other["id"])
    assert published == [] and drain(aws.sqs, aws.queue_url) == []

    # Run again (or resumed): nothing left to write
    calls.clear()
    code, out = run(["rebuild", "--resume"], fake_stripe, clients)
    assert code == 0 and calls == []
    code, out = run(["rebuild", "--since", str(now - 700)], fake_stripe, clients)
    assert code == 0 and calls == [] and "unchanged" in out


@pytest.mark.usefixtures("direct")
def test_verify_records_reports_drift_fixes_it_from_stripe_and_names_what_is_gone(
    aws: Aws,
    stack: dict[str, str],
    secret: str,
    fake_stripe: FakeStripe,
) -> None:
    now = int(time.time())
    kept, edited, deleted = (
        _customer_event("customer.created", f"cus_Verify{n}", now - 60, f"v{n}@example.com") for n in range(3)
    )
    kept["account"] = "acct_1VerifyConnected"  # a connected account's customer: fetched in its account
    for event in (kept, edited, deleted):
        assert deliver(event, secret).status == 200
    drain(aws.sqs, aws.queue_url)
    for event in (kept, edited):  # Stripe still has them as delivered; the third was deleted since
        customer = event["data"]["object"]
        fake_stripe.objects[f"/v1/customers/{customer['id']}"] = customer
    aws.dynamodb.update_item(  # someone edits a record by hand
        TableName=aws.table,
        Key={"pk": {"S": "OBJECT#cus_Verify1"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET email = :wrong",
        ExpressionAttributeValues={":wrong": {"S": "typo@example.com"}},
    )
    command = ["verify", "--records", "--type", "customer.created", "--rate", "100"]

    code, out = run(command, fake_stripe)
    assert code == 1
    assert "3 records checked, 1 match, 1 differ, 1 gone at Stripe" in out
    assert 'cus_Verify1: email: stored "typo@example.com" / Stripe "v1@example.com"' in out
    assert "cus_Verify2: gone at Stripe (404)" in out
    assert fake_stripe.contexts == {"/v1/customers/cus_Verify0": "acct_1VerifyConnected"}
    assert get_item(aws.dynamodb, aws.table, "OBJECT#cus_Verify1", "STATE")["email"] == "typo@example.com"  # type: ignore[index]

    code, out = run([*command, "--fix"], fake_stripe)
    assert code == 1 and "1 differ (1 fixed), 1 gone at Stripe" in out  # the gone one stays reported
    fixed = get_item(aws.dynamodb, aws.table, "OBJECT#cus_Verify1", "STATE")
    assert fixed is not None and fixed["email"] == "v1@example.com"
    assert str(fixed["last_event_id"]).startswith("evt_fix_")
    assert published_nothing(aws)

    code, out = run([*command, "--sample", "1"], fake_stripe)
    assert "1 records checked" in out
    for refused in (["verify", "--records", "--recover"], ["verify", "--fix"]):
        with pytest.raises(SystemExit) as usage:
            cli.parse_args(refused)
        assert usage.value.code == 2


def published_nothing(aws: Aws) -> bool:
    return drain(aws.sqs, aws.queue_url) == []
