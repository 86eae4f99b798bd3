"""The real handler under moto: table and topic built from template.yaml, a consumer queue on the topic."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.action_runners import ActionRunner, build_runners
from infra.local.moto_server import install_item_level_transaction_rollback
from infra.local.resources import (
    ActionResources,
    LocalResources,
    create_action_resources,
    create_resources,
    subscribe_queue,
)
from stripe_actions.adapters import ActionsTable
from stripe_actions.effects import EffectLedger
from stripe_actions.outcomes import ActionOutcome
from stripe_webhook import composition
from stripe_webhook.adapters.payloads import S3Payloads
from stripe_webhook.adapters.queries import TableQueries
from tests.loopback_stripe import LoopbackStripe


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Everything the function's Powertools logger writes, at DEBUG, as JSON lines."""
    from stripe_webhook.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield buffer
    logger.setLevel(level)
    handler.setStream(previous)


@dataclass
class Aws:
    dynamodb: Any
    sns: Any
    sqs: Any
    secretsmanager: Any
    s3: Any
    table: str
    topic_arn: str
    queue_url: str
    bucket: str

    @property
    def queries(self) -> TableQueries:
        """The function's own read side, on this table (large payloads read from the bucket)."""
        return TableQueries(
            self.table, client=self.dynamodb, payloads=S3Payloads(self.bucket, client=self.s3)
        )


def item_level_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's moto adjustment (``install_item_level_transaction_rollback``) for one test,
    undone after it: it swaps both moto's transaction method and the ``copy`` its models use, and
    restoring one without the other leaves moto with no transaction rollback at all.

    Every test on moto has it (``mocked_aws``): moto deep-copies every table before each
    transaction, O(table) a claim, which made a test of a few hundred events take seconds. Rolling
    back the touched items instead is what DynamoDB's all-or-nothing promises, and
    ``test_local_moto.py`` shows both leave the same table."""
    from moto.dynamodb import models

    monkeypatch.setattr(models, "copy", models.copy)  # type: ignore[attr-defined]
    backend = models.DynamoDBBackend
    monkeypatch.setattr(backend, "transact_write_items", backend.transact_write_items)
    install_item_level_transaction_rollback()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, secret: str) -> Iterator[Aws]:
    """moto with the template's table, a standard topic and a raw-delivery consumer queue."""
    yield from mocked_aws(monkeypatch, secret, fifo=False)


@pytest.fixture
def fifo_aws(monkeypatch: pytest.MonkeyPatch, secret: str) -> Iterator[Aws]:
    """The same with ``TopicType=fifo``: a FIFO topic and a FIFO consumer queue."""
    yield from mocked_aws(monkeypatch, secret, fifo=True)


MOCK_CONFIG: Any = {"core": {"reset_boto3_session": False}}
"""Keep boto3's default session (and the service models it loaded) from one test to the next:
rebuilding it each time cost a fifth of a second a test. Clients are still made afresh."""


def mocked_aws(monkeypatch: pytest.MonkeyPatch, secret: str, *, fifo: bool) -> Iterator[Aws]:
    item_level_rollback(monkeypatch)
    with mock_aws(config=MOCK_CONFIG):
        clients = {name: boto3.client(name) for name in ("dynamodb", "sns", "sqs", "secretsmanager", "s3")}
        resources = create_resources(
            clients["dynamodb"], clients["sns"], clients["sqs"], fifo=fifo, s3=clients["s3"]
        )
        assert resources.queue_url is not None and resources.bucket is not None
        monkeypatch.setenv("TABLE_NAME", resources.table_name)
        monkeypatch.setenv("TOPIC_ARN", resources.topic_arn)
        monkeypatch.setenv("PAYLOAD_BUCKET", resources.bucket)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", secret)
        composition.reset()
        yield Aws(
            **clients,
            table=resources.table_name,
            topic_arn=resources.topic_arn,
            queue_url=resources.queue_url,
            bucket=resources.bucket,
        )
    composition.reset()


@pytest.fixture
def stripe_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackStripe]:
    """The Stripe API on loopback, with a restricted key configured for the function."""
    stripe = LoopbackStripe()
    monkeypatch.setenv("STRIPE_API_BASE", stripe.start())
    monkeypatch.setenv("STRIPE_API_KEY", "rk_test_" + "a" * 24)
    composition.reset()
    yield stripe
    stripe.stop()


@pytest.fixture
def stripe(aws: Aws, stripe_api: LoopbackStripe) -> Iterator[LoopbackStripe]:
    """The Events API stand-in, with the stack's endpoint recorded (created two days ago) and
    enabled, as ``ops register`` leaves it, and the daily complete sweep just done (the tests of
    that sweep start it: ``recovery.complete_sweep_due``)."""
    from stripe_webhook.handlers import build_registry
    from stripe_webhook.recovery.reconciler_state import State
    from stripe_webhook.recovery.reconciliation import Endpoint
    from tests.integration.recovery import ENDPOINT_ID

    patterns = tuple(build_registry().patterns())
    endpoint = Endpoint(
        ENDPOINT_ID, "webhook_endpoint", "https://x/webhook", patterns, int(time.time()) - 2 * 86_400
    )
    ledger = composition.components().ledger
    ledger.record_endpoints([endpoint])
    begun = ledger.begin(time.time(), 60)
    assert begun is not None
    ledger.save(State(last_complete=int(time.time())), begun[1], finished=True)
    stripe_api.objects[f"/v1/webhook_endpoints/{ENDPOINT_ID}"] = {"id": ENDPOINT_ID, "status": "enabled"}
    yield stripe_api


@dataclass
class Actions:
    """The example actions on moto: their tables, queues and one ``ActionRunner`` per action."""

    aws: Aws
    ses: Any
    resources: ActionResources
    runners: dict[str, ActionRunner]
    outcomes: list[ActionOutcome]
    alerts_queue_url: str

    def run(self, *names: str, rounds: int = 20) -> list[ActionOutcome]:
        """Poll the named actions' queues (all by default) until they are empty; the new outcomes."""
        start = len(self.outcomes)
        for _ in range(rounds):
            received = sum(self.runners[name].poll_once() for name in names or self.runners)
            if not received:
                break
        return self.outcomes[start:]

    def lines(self, outcomes: list[ActionOutcome] | None = None) -> list[str]:
        return [outcome.line() for outcome in (self.outcomes if outcomes is None else outcomes)]

    def emails(self) -> list[Any]:
        """What SES accepted (moto's record of it, not ours)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        return ActionsTable(self.resources.actions_table, client=self.aws.dynamodb).get(pk, sk)

    def idempotency_records(self) -> list[dict[str, Any]]:
        """Powertools' records (not the effect ledger's entries, which share the table)."""
        from stripe_webhook.adapters.dynamo_items import from_item

        items = self.aws.dynamodb.scan(TableName=self.resources.idempotency_table)["Items"]
        return [from_item(item) for item in items if not item["id"]["S"].startswith("effect#")]

    @property
    def ledger(self) -> EffectLedger:
        """The ledger as the person settling an effect sees it: minutes after the attempt."""
        return EffectLedger(
            self.resources.idempotency_table,
            remember_seconds=86_400,
            client=self.aws.dynamodb,
            clock=lambda: time.time() + 300,
        )

    def effects(self) -> dict[str, dict[str, Any]]:
        """The effect ledger's entries by effect name (``receipt:in_…``, ``alert:du_…``)."""
        return {entry["effect"]: entry for entry in self.ledger.entries()}


def actions_on(aws: Aws, *, visibility_timeout: int = 0) -> Actions:
    ses = boto3.client("ses")
    resources = create_action_resources(
        aws.dynamodb, aws.sns, aws.sqs, ses, aws.topic_arn, visibility_timeout=visibility_timeout
    )
    alerts = subscribe_queue(aws.sns, aws.sqs, resources.alert_topic_arn, "alerts-inbox", raw=False)
    outcomes: list[ActionOutcome] = []
    local = LocalResources(aws.table, aws.topic_arn, aws.queue_url, aws.bucket)
    runners = build_runners(aws.sqs, local, resources, outcomes.append)
    return Actions(
        aws,
        ses,
        resources,
        {name: runner for runner in runners for name in runner.queue.actions},
        outcomes,
        alerts,
    )


@pytest.fixture
def actions(aws: Aws) -> Actions:
    """``DeployExampleActions=true`` on moto; failed messages come back at once (visibility 0)."""
    return actions_on(aws)


@pytest.fixture
def fifo_actions(fifo_aws: Aws) -> Actions:
    return actions_on(fifo_aws)
