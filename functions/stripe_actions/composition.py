"""The consumer's composition root: the actions, their adapters and the ``Consumer``, from settings.

Clients are injectable (``build_consumer(settings, dynamodb=…, ses=…)``), else made lazily by
``stripe_webhook.aws`` (botocore, explicit timeouts and retries). ``consumer()`` is the warm
container's; ``reset()`` forgets it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from stripe_actions.actions import Action, ActionRegistry
from stripe_actions.consumer import Consumer, Outcome, log_outcome
from stripe_actions.messages import PoisonMessage
from stripe_actions.settings import ActionSettings, get_settings
from stripe_webhook import aws


def build_actions(
    settings: ActionSettings, *, dynamodb: Any | None = None, ses: Any | None = None, sns: Any | None = None
) -> list[Action]:
    from stripe_actions.adapters import ActionsTable, AlertTopic, ReceiptMailer
    from stripe_actions.examples import DisputeAlert, Entitlement, FulfilOrder

    table = ActionsTable(settings.actions_table or "", client=dynamodb)
    built: dict[str, Callable[[], Action]] = {
        "fulfil_order": lambda: FulfilOrder(
            table, ReceiptMailer(settings.receipt_sender, client=ses) if settings.receipt_sender else None
        ),
        "entitlement": lambda: Entitlement(table),
        "dispute_alert": lambda: DisputeAlert(AlertTopic(settings.alert_topic_arn or "", client=sns)),
    }
    return [built[name]() for name in settings.actions]


def build_consumer(
    settings: ActionSettings,
    *,
    dynamodb: Any | None = None,
    s3: Any | None = None,
    ses: Any | None = None,
    sns: Any | None = None,
    report: Callable[[Outcome], None] = log_outcome,
    actions: list[Action] | None = None,
) -> Consumer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from stripe_webhook.payloads import PayloadLocation, S3Payloads
    from stripe_webhook.queries import TableQueries

    dynamodb = dynamodb or aws.client("dynamodb")
    queries = TableQueries(settings.events_table, client=dynamodb) if settings.events_table else None
    payloads = S3Payloads(settings.payload_bucket, client=s3)

    def read_payload(bucket: str, key: str) -> bytes:
        if bucket != settings.payload_bucket:
            raise PoisonMessage(f"the pointer names bucket {bucket!r}, not this stack's payload bucket")
        return payloads.read(PayloadLocation(bucket, key, 0))

    return Consumer(
        ActionRegistry(
            actions if actions is not None else build_actions(settings, dynamodb=dynamodb, ses=ses, sns=sns)
        ),
        DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb),
        remember_seconds=settings.remember_days * 86_400,
        read_payload=read_payload,
        read_record=queries.get_record if queries is not None else None,
        report=report,
    )


@functools.cache
def consumer() -> Consumer:
    return build_consumer(get_settings())


def reset() -> None:
    get_settings.cache_clear()
    consumer.cache_clear()
    aws.reset()
