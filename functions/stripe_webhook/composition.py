"""The composition root: the one place that builds the function's objects from ``Settings``.

The Lambda edges, the operator commands, the local stack, the benchmark and the tests all get
their pipeline, store, publisher, queries and secret caches here, so none can be wired
differently. Clients are injectable (``Components(settings, dynamodb=…, sns=…, s3=…)``) and otherwise
made lazily by ``aws.client``. ``components()`` is the warm container's set, built on first
use; ``reset()`` forgets every per-container cache, so a test starts like a cold Lambda.

Heavy or rarely needed pieces (the Stripe API client's ``urllib.request``, the read side's
``gzip`` for old event-log items) are imported when first used, not on the cold path.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from contract import aws, tracing
from contract.composition import Root
from stripe_webhook.adapters.secret_cache import SecretCache
from stripe_webhook.core import budget
from stripe_webhook.errors import ConfigurationError, ThinEventsDisabled, missing_api_key
from stripe_webhook.settings import Settings, get_settings, parse_api_key

if TYPE_CHECKING:
    from stripe_webhook.adapters.payloads import S3Payloads
    from stripe_webhook.adapters.publisher import SnsPublisher
    from stripe_webhook.adapters.queries import TableQueries
    from stripe_webhook.adapters.store import DynamoStore
    from stripe_webhook.adapters.stripe_api import StripeApi
    from stripe_webhook.core.events import StripeEvent
    from stripe_webhook.core.pipeline import Pipeline
    from stripe_webhook.core.routing import Registry
    from stripe_webhook.recovery.ledger import DynamoLedger
    from stripe_webhook.recovery.reconciler import Reconciler


@functools.cache
def registry() -> Registry:
    """Every handler family, routed (see ``handlers/__init__.py``); needs no settings."""
    from stripe_webhook.handlers import build_registry

    return build_registry()


class Components(Root[Settings]):
    """Everything one configuration of the function needs, each built once, on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        dynamodb: Any | None = None,
        sns: Any | None = None,
        secretsmanager: Any | None = None,
        s3: Any | None = None,
    ) -> None:
        clients = {"dynamodb": dynamodb, "sns": sns, "secretsmanager": secretsmanager, "s3": s3}
        super().__init__(settings, get_settings, clients)

    @functools.cached_property
    def store(self) -> DynamoStore:
        from stripe_webhook.adapters.store import DynamoStore

        return DynamoStore(
            self.settings.table_name,
            lease_seconds=self.settings.lease_seconds,
            retention_seconds=self.settings.retention_days * 86_400,
            client=self.given("dynamodb"),
        )

    @functools.cached_property
    def publisher(self) -> SnsPublisher:
        from stripe_webhook.adapters.publisher import SnsPublisher

        return SnsPublisher(self.settings.topic_arn, client=self.given("sns"))

    @functools.cached_property
    def queries(self) -> TableQueries:
        from stripe_webhook.adapters.queries import TableQueries

        return TableQueries(self.settings.table_name, client=self.given("dynamodb"), payloads=self.payloads)

    @functools.cached_property
    def pipeline(self) -> Pipeline:
        from stripe_webhook.core.pipeline import Pipeline

        if self.settings.lease_seconds < budget.MIN_LEASE_SECONDS:
            raise ConfigurationError(
                "malformed_configuration",
                f"IN_PROGRESS_LEASE_SECONDS must be at least {budget.MIN_LEASE_SECONDS} s, longer than"
                " the function may run; a shorter lease lets a second delivery race the first",
            )
        return Pipeline(
            registry(),
            self.store,
            self.publisher,
            # The three Stripe calls, each only with a key: without one the pipeline names what needed it.
            full_event=self.full_event if self.has_stripe_api_key else None,
            related_object=self.related_object if self.has_stripe_api_key else None,
            current_object=self.current_object if self.has_stripe_api_key else None,
            payloads=self.payloads,
            publish_budget_seconds=budget.PUBLISH_BUDGET_SECONDS,
            dedup_window_seconds=self.publisher.dedup_window_seconds,
            api_version=self.settings.stripe_api_version,
        )

    @functools.cached_property
    def ledger(self) -> DynamoLedger:
        from stripe_webhook.recovery.ledger import DynamoLedger

        return DynamoLedger(self.settings.table_name, client=self.given("dynamodb"))

    @functools.cached_property
    def reconciler(self) -> Reconciler:
        """The scheduled reconciler (``reconciler``) on this configuration's pipeline and key."""
        from stripe_webhook.observability import report_outcome
        from stripe_webhook.recovery.reconciler import Reconciler
        from stripe_webhook.recovery.reconciliation import Limits

        settings = self.settings
        limits = Limits(
            overlap_seconds=settings.reconcile_overlap_seconds,
            grace_seconds=settings.reconcile_grace_seconds,
            max_pages=settings.reconcile_max_pages,
            lease_seconds=budget.RECONCILER_LEASE_SECONDS,
            thin=bool(settings.thin_webhook_secrets or settings.thin_webhook_secret_arn),
        )
        return Reconciler(
            self.pipeline,
            self.stripe_api,
            self.ledger,
            handled=registry().patterns(),
            api_version=settings.stripe_api_version,
            limits=limits,
            livemode=settings.livemode,
            on_outcome=report_outcome,
        )

    @functools.cached_property
    def payloads(self) -> S3Payloads:
        from stripe_webhook.adapters.payloads import S3Payloads

        return S3Payloads(self.settings.payload_bucket, client=self.given("s3"))

    def full_event(self, event: StripeEvent, deadline: float | None = None) -> StripeEvent:
        """A thin event with its full payload, from the Stripe API (only handlers that need it call)."""
        with tracing.span("stripe_fetch", event_id=event.id, fetch="full_event"):
            return self.stripe_api.full_event(event, deadline)

    def related_object(self, event: StripeEvent, deadline: float | None = None) -> dict[str, Any]:
        """A thin v1 notification's object, from the Stripe API (only thin deliveries ask)."""
        with tracing.span("stripe_fetch", event_id=event.id, fetch="related_object"):
            return self.stripe_api.related_object(event, deadline)

    def current_object(self, event: StripeEvent, deadline: float | None = None) -> dict[str, Any] | None:
        """The event's object as it is now, from the Stripe API (same-second ties, health notices)."""
        with tracing.span("stripe_fetch", event_id=event.id, fetch="current_object"):
            return self.stripe_api.current_object(event, deadline)

    @property
    def has_stripe_api_key(self) -> bool:
        return bool(self.settings.stripe_api_key or self.settings.stripe_api_key_secret_arn)

    @functools.cached_property
    def stripe_api(self) -> StripeApi:
        from stripe_webhook.adapters.stripe_api import StripeApi

        settings = self.settings
        return StripeApi(
            self.stripe_api_key, settings.stripe_api_base, api_version=settings.stripe_api_version
        )

    def signing_secrets(self, *, thin: bool = False) -> SecretCache:
        """The snapshot endpoint's secrets, or (``thin``) the thin-event endpoint's."""
        return self._thin_secrets if thin else self._webhook_secrets

    @functools.cached_property
    def _webhook_secrets(self) -> SecretCache:
        settings = self.settings
        return self._secret_cache(settings.webhook_secrets, settings.webhook_secret_arn)

    @functools.cached_property
    def _thin_secrets(self) -> SecretCache:
        settings = self.settings
        if not settings.thin_webhook_secrets and not settings.thin_webhook_secret_arn:
            raise ThinEventsDisabled("thin_events_disabled", "this stack does not accept thin events")
        return self._secret_cache(settings.thin_webhook_secrets, settings.thin_webhook_secret_arn)

    @functools.cached_property
    def _api_key_secret(self) -> SecretCache:
        return self._secret_cache((), self.settings.stripe_api_key_secret_arn, parse=parse_api_key)

    def stripe_api_key(self) -> str:
        """The Stripe key for API calls: inline (local runs), else from Secrets Manager (cached)."""
        if self.settings.stripe_api_key:
            return parse_api_key(self.settings.stripe_api_key, "STRIPE_API_KEY")[0]
        if not self.settings.stripe_api_key_secret_arn:
            raise missing_api_key("the reconciler calls the Stripe API")
        return self._api_key_secret.current()[0]

    def _secret_cache(self, inline: tuple[str, ...], arn: str | None, **options: Any) -> SecretCache:
        return SecretCache(
            inline=inline,
            secret_arn=arn,
            max_age=self.settings.secret_cache_seconds,
            client=self.given("secretsmanager"),
            **options,
        )


@functools.cache
def components() -> Components:
    """The warm container's components, on the environment's settings (read on first use)."""
    return Components()


def reset() -> None:
    """Forget every per-container cache: settings, components (secrets, clients) and the AWS session."""
    get_settings.cache_clear()
    components.cache_clear()
    aws.reset()
