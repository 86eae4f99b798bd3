"""The consumer's composition root: the actions, their adapters and the ``Consumer``, from settings.

``BUILDERS`` is the one list of actions a function can be told to perform (its ``ACTIONS``).
Clients are injectable (``build_consumer(settings, dynamodb=…, ses=…)``), else made on first use
by ``stripe_webhook.aws`` (botocore, explicit timeouts and retries). ``consumer()`` is the warm
container's; ``reset()`` forgets it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_actions.actions import Action, ActionRegistry
from stripe_actions.adapters import ActionsTable, AlertTopic, ReceiptMailer
from stripe_actions.consumer import Consumer, Outcome, log_outcome
from stripe_actions.effects import EffectLedger
from stripe_actions.examples import DisputeAlert, Entitlement, FulfilOrder
from stripe_actions.messages import PoisonMessage
from stripe_actions.settings import ActionsConfigurationError, ActionSettings, get_settings
from stripe_webhook import aws


@dataclass(frozen=True)
class Ports:
    """What actions are built with: the adapters, on the given clients (or made on first use)."""

    settings: ActionSettings
    dynamodb: Any | None = None
    ses: Any | None = None
    sns: Any | None = None

    def actions_table(self) -> ActionsTable:
        return ActionsTable(self.settings.actions_table or "", client=self.dynamodb)

    def mailer(self) -> ReceiptMailer | None:
        sender = self.settings.receipt_sender
        return ReceiptMailer(sender, client=self.ses) if sender else None

    def alert_topic(self) -> AlertTopic:
        return AlertTopic(self.settings.alert_topic_arn or "", client=self.sns)

    def effects(self) -> EffectLedger:
        """The ledger of effects outside our tables, kept as long as the actions' records."""
        return EffectLedger(
            self.settings.idempotency_table,
            remember_seconds=self.settings.remember_days * 86_400,
            client=self.dynamodb,
        )


BUILDERS: dict[str, Callable[[Ports], Action]] = {
    "fulfil_order": lambda ports: FulfilOrder(ports.actions_table(), ports.mailer(), ports.effects()),
    "entitlement": lambda ports: Entitlement(ports.actions_table()),
    "dispute_alert": lambda ports: DisputeAlert(ports.alert_topic(), ports.effects()),
}


def build_actions(settings: ActionSettings, ports: Ports | None = None) -> list[Action]:
    unknown = [name for name in settings.actions if name not in BUILDERS]
    if unknown:
        raise ActionsConfigurationError(
            f"ACTIONS names {', '.join(unknown)}, which composition.BUILDERS does not know"
            f" (it knows {', '.join(sorted(BUILDERS))})"
        )
    return [BUILDERS[name](ports or Ports(settings)) for name in settings.actions]


def build_consumer(
    settings: ActionSettings,
    *,
    dynamodb: Any | None = None,
    s3: Any | None = None,
    ses: Any | None = None,
    sns: Any | None = None,
    report: Callable[[Outcome], None] = log_outcome,
) -> Consumer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from stripe_webhook.payloads import S3Payloads
    from stripe_webhook.ports import PayloadLocation
    from stripe_webhook.queries import TableQueries

    dynamodb = dynamodb or aws.client("dynamodb")
    queries = TableQueries(settings.events_table, client=dynamodb) if settings.events_table else None
    payloads = S3Payloads(settings.payload_bucket, client=s3)

    def read_payload(bucket: str, key: str) -> bytes:
        if bucket != settings.payload_bucket:
            raise PoisonMessage(f"the pointer names bucket {bucket!r}, not this stack's payload bucket")
        return payloads.read(PayloadLocation(bucket, key, 0))

    return Consumer(
        ActionRegistry(build_actions(settings, Ports(settings, dynamodb, ses, sns))),
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
