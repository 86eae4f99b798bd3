"""The composition root: the one place that builds an actions function's objects from ``Settings``.

The same shape as the webhook's (``stripe_webhook.composition``): ``Components(settings, dynamodb=…,
ses=…)`` builds each piece once, on first use, on the given clients or on ones made lazily by
``contract.aws`` (botocore, explicit timeouts and retries); ``components()`` is the warm
container's set, on the environment's settings; ``reset()`` forgets every per-container cache.

The actions a function can be told to perform (its ``ACTIONS``) are those registered
(``actions.register_action``) in ``ACTION_MODULES``, each built with these components as its ``Ports``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contract import aws
from contract.composition import Root
from stripe_actions.actions import REGISTERED, ActionRegistry, AnyAction, Ports, reads_records, writes_only
from stripe_actions.adapters import ActionsTable, AlertTopic, ReceiptMailer
from stripe_actions.consumer import Consumer, idempotency_prefix
from stripe_actions.effects import EffectLedger
from stripe_actions.errors import ConfigurationError
from stripe_actions.handled import HandledNotes
from stripe_actions.observability import report_outcome
from stripe_actions.outcomes import ActionOutcome
from stripe_actions.settings import Settings, get_settings

if TYPE_CHECKING:
    from stripe_actions.webhook_data import PayloadReader, RecordReader

ACTION_MODULES = ("stripe_actions.examples",)
"""The modules whose ``@register_action``-ed classes are the actions a function may perform: add yours
here (an action written into ``examples.py`` needs nothing more)."""


def registered() -> dict[str, Callable[[Ports], AnyAction]]:
    """Every registered action by name, its modules imported."""
    for module in ACTION_MODULES:
        importlib.import_module(module)
    return dict(REGISTERED)


class Components(Root[Settings]):
    """Everything one configuration of an actions function needs, each built once, on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        dynamodb: Any | None = None,
        s3: Any | None = None,
        ses: Any | None = None,
        sns: Any | None = None,
        report: Callable[[ActionOutcome], None] = report_outcome,
    ) -> None:
        super().__init__(settings, get_settings, {"dynamodb": dynamodb, "s3": s3, "ses": ses, "sns": sns})
        self._report = report
        self._building = ""
        """The action ``actions()`` is building: whose keys ``effects()`` writes."""

    @functools.cached_property
    def dynamodb(self) -> Any:
        return self.given("dynamodb") or aws.client("dynamodb")

    @functools.cached_property
    def consumer(self) -> Consumer:
        settings = self.settings
        actions = self.actions()
        persistence = None
        if any(writes_only(action) is None for action in actions):  # only they use Powertools' records
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            persistence = DynamoDBPersistenceLayer(
                table_name=settings.idempotency_table, boto3_client=self.dynamodb
            )
        return Consumer(
            ActionRegistry(actions),
            persistence,
            remember_seconds=settings.remember_days * 86_400,
            handled=HandledNotes(
                settings.idempotency_table,
                settings.events_table,
                key_prefix=idempotency_prefix,
                remember_seconds=settings.remember_days * 86_400,
                client=self.dynamodb,
            ),
            read_payload=self.payloads.read,
            read_record=self.records.get_record if self.records is not None else None,
            report=self._report,
        )

    def actions(self) -> list[AnyAction]:
        """The actions ``ACTIONS`` names, each built on these components (its ``Ports``)."""
        known = registered()
        unknown = [name for name in self.settings.actions if name not in known]
        if unknown:
            raise ConfigurationError(
                "malformed_configuration",
                f"ACTIONS names {', '.join(unknown)}, which no registered action is"
                f" (registered: {', '.join(sorted(known))}; composition.ACTION_MODULES)",
            )
        built = []
        for name in self.settings.actions:
            if reads_records(known[name]) and not self.settings.events_table:
                raise ConfigurationError(
                    "missing_configuration", f"TABLE_NAME must be set for {name} (it reads records)"
                )
            self._building = name
            built.append(known[name](self))
        self._building = ""
        return built

    @functools.cached_property
    def records(self) -> RecordReader | None:
        """The webhook's table, read for an object's current record (when ``TABLE_NAME`` is set)."""
        from stripe_actions.webhook_data import RecordReader

        table = self.settings.events_table
        return RecordReader(table, client=self.dynamodb) if table else None

    @functools.cached_property
    def payloads(self) -> PayloadReader:
        """This stack's payload bucket, read for a large event's body."""
        from stripe_actions.webhook_data import PayloadReader

        return PayloadReader(self.settings.payload_bucket, client=self.given("s3"))

    def actions_table(self) -> ActionsTable:
        return ActionsTable(self._needs("ACTIONS_TABLE", self.settings.actions_table), client=self.dynamodb)

    def mailer(self) -> ReceiptMailer | None:
        sender = self.settings.receipt_sender
        return ReceiptMailer(sender, client=self.given("ses")) if sender else None

    def alert_topic(self) -> AlertTopic:
        return AlertTopic(
            self._needs("ALERT_TOPIC_ARN", self.settings.alert_topic_arn), client=self.given("sns")
        )

    def _needs(self, setting: str, value: str | None) -> str:
        """A port's setting, or the error naming it and the action that asked (at the function's start)."""
        if not value:
            raise ConfigurationError(
                "missing_configuration", f"{setting} must be set for {self._building or 'this'}"
            )
        return value

    def effects(self) -> EffectLedger:
        """The ledger of effects outside our tables of the action being built (its entries are
        that action's own keys: ``EffectLedger``'s ``action``), kept as long as the actions' records."""
        if not self._building:
            raise ConfigurationError("malformed_configuration", "effects() is for an action's builder")
        return EffectLedger(
            self.settings.idempotency_table,
            remember_seconds=self.settings.remember_days * 86_400,
            client=self.dynamodb,
            action=self._building,
        )


@functools.cache
def components() -> Components:
    """The warm container's components, on the environment's settings (read on first use)."""
    return Components()


def reset() -> None:
    """Forget every per-container cache: settings, components (clients) and the AWS session."""
    get_settings.cache_clear()
    components.cache_clear()
    aws.reset()
