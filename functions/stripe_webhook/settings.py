"""Configuration: read and validated once per container, lazily. Nothing else reads ``os.environ``."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stripe_webhook.errors import ConfigurationError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
API_VERSION = "2026-10-28.endive"
"""The Stripe API version this project pins, the one place it is written: the template's
``StripeApiVersion`` parameter defaults to it (a test checks), endpoints are registered with the
deployed stack's value (``ops register``), ``ops backfill`` reads events in it, and state fetches
ask for it. The handlers read this version's shapes and the two breaking generations before it
(``infra/fixtures/versions.py``); the ``stripe`` library the tools use pins the same version."""
MODES = {"live": True, "test": False, "": None}
"""``STRIPE_MODE`` → the livemode of the events the stack takes (None: the key's)."""
OLDEST_READ = "2024-06-20"
"""The oldest API version whose shapes the handlers read (``infra/fixtures/versions.py``'s oldest
generation, checked by ``tests/unit/test_api_versions.py``)."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    topic_arn: str
    webhook_secrets: tuple[str, ...]
    """From ``STRIPE_WEBHOOK_SECRET`` (local runs and tests); empty means use Secrets Manager."""
    webhook_secret_arn: str | None
    payload_bucket: str | None = None
    """S3 bucket for event bodies too big for an SNS message (``payloads``)."""
    lease_seconds: int = 60
    """How long a claimed event is protected from a concurrent delivery; > the function timeout."""
    retention_days: int = 90
    """How long event-log items (and so duplicate detection) live; Stripe retries for 3 days."""
    max_body_bytes: int = 6_291_456
    """Lambda's limit for a synchronous invocation's whole request (the proxy event around the body),
    so every body API Gateway (10 MB) and Lambda can deliver is admitted; lower it to refuse more."""
    tolerance_seconds: int = 300
    secret_cache_seconds: int = 300
    thin_webhook_secrets: tuple[str, ...] = ()
    """Signing secret(s) of the thin-event endpoint (``POST /webhook/thin``), from the environment."""
    thin_webhook_secret_arn: str | None = None
    stripe_api_key: str | None = None
    """Fetches thin events' full payloads: inline for local runs, else ``stripe_api_key_secret_arn``."""
    stripe_api_key_secret_arn: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    allowed_networks: tuple[Any, ...] = ()
    """``ALLOWED_SOURCE_IPS`` as ``ipaddress`` networks: with any, a request from elsewhere is a
    403 before any work (the template sets it for an HTTP API, which has no resource policy)."""
    stripe_api_version: str = API_VERSION
    """The template's ``StripeApiVersion``: what state fetches ask Stripe for."""
    reconcile_overlap_seconds: int = 600
    """How far before its watermark the reconciler lists again (events Stripe lists late)."""
    reconcile_grace_seconds: int = 300
    """How old an undelivered event must be before the reconciler takes it from Stripe's own
    delivery (``delivery_success=false`` lists pending events too)."""
    reconcile_max_pages: int = 10
    """List pages (100 events each) one reconciler run reads at most."""
    livemode: bool | None = None
    """The stack's Stripe mode (``STRIPE_MODE``: ``live`` or ``test``; the template's
    ``StripeMode``): the reconciler and ``ops backfill`` take no event of the other mode, and no
    run starts with a key of the other mode. Unset (local runs): the key's mode."""


def parse_api_key(value: str, source: str) -> tuple[str, ...]:
    """A Stripe secret or restricted key (for the API calls thin events need)."""
    key = value.strip()
    if not key.startswith(("sk_", "rk_")):
        raise ConfigurationError("malformed_api_key", f"{source} holds no Stripe API key (sk_… or rk_…)")
    return (key,)


def key_livemode(key: str) -> bool | None:
    """A Stripe key's mode from its prefix (``sk_live_``, ``rk_test_``), or None if it shows none."""
    if key.startswith(("sk_live_", "rk_live_")):
        return True
    if key.startswith(("sk_test_", "rk_test_")):
        return False
    return None


def parse_secrets(value: str, source: str) -> tuple[str, ...]:
    """Split ``whsec_a,whsec_b`` into secrets, rejecting anything that is not a Stripe signing secret."""
    secrets = tuple(part.strip() for part in value.split(",") if part.strip())
    if not secrets:
        raise ConfigurationError("missing_secret", f"{source} holds no signing secret")
    for secret in secrets:
        if not secret.startswith(SECRET_PREFIX) or len(secret) <= len(SECRET_PREFIX):
            raise ConfigurationError(
                "malformed_secret", f"{source} holds a value that is not a Stripe signing secret (whsec_...)"
            )
    return secrets


def load_settings(environ: Mapping[str, str]) -> Settings:
    missing = [name for name in ("TABLE_NAME", "TOPIC_ARN") if not environ.get(name)]
    inline = environ.get("STRIPE_WEBHOOK_SECRET", "")
    secret_arn = environ.get("STRIPE_WEBHOOK_SECRET_ARN") or None
    if not inline and secret_arn is None:
        missing.append("STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_ARN")
    if missing:
        raise ConfigurationError("missing_configuration", f"missing environment: {', '.join(missing)}")
    thin = environ.get("STRIPE_THIN_WEBHOOK_SECRET", "")
    return Settings(
        table_name=environ["TABLE_NAME"],
        topic_arn=environ["TOPIC_ARN"],
        webhook_secrets=parse_secrets(inline, "STRIPE_WEBHOOK_SECRET") if inline else (),
        webhook_secret_arn=secret_arn,
        payload_bucket=environ.get("PAYLOAD_BUCKET") or None,
        lease_seconds=_positive_int(environ, "IN_PROGRESS_LEASE_SECONDS", Settings.lease_seconds),
        retention_days=_positive_int(environ, "EVENT_RETENTION_DAYS", Settings.retention_days),
        max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", Settings.max_body_bytes),
        thin_webhook_secrets=parse_secrets(thin, "STRIPE_THIN_WEBHOOK_SECRET") if thin else (),
        thin_webhook_secret_arn=environ.get("STRIPE_THIN_WEBHOOK_SECRET_ARN") or None,
        stripe_api_key=environ.get("STRIPE_API_KEY") or None,
        stripe_api_key_secret_arn=environ.get("STRIPE_API_KEY_SECRET_ARN") or None,
        stripe_api_base=environ.get("STRIPE_API_BASE") or Settings.stripe_api_base,
        stripe_api_version=environ.get("STRIPE_API_VERSION") or API_VERSION,
        allowed_networks=parse_networks(environ.get("ALLOWED_SOURCE_IPS", "")),
        reconcile_overlap_seconds=_positive_int(
            environ, "RECONCILE_OVERLAP_SECONDS", Settings.reconcile_overlap_seconds
        ),
        reconcile_grace_seconds=_positive_int(
            environ, "RECONCILE_GRACE_SECONDS", Settings.reconcile_grace_seconds
        ),
        reconcile_max_pages=_positive_int(environ, "RECONCILE_MAX_PAGES", Settings.reconcile_max_pages),
        livemode=_mode(environ.get("STRIPE_MODE", "")),
    )


def _mode(value: str) -> bool | None:
    if value not in MODES:
        raise ConfigurationError("malformed_configuration", "STRIPE_MODE must be live or test (or unset)")
    return MODES[value]


def parse_networks(value: str) -> tuple[Any, ...]:
    """Comma-separated CIDRs (IPv4 or IPv6); "" is none (any source). Anything else that is not a
    list of networks is refused, never read as "any": an empty entry (``","``), a network with host
    bits set (``3.18.12.63/0`` is not 3.18.12.63) or a ``/0``."""
    if not value.strip():
        return ()
    import ipaddress  # only when an allow-list is set: off the default cold path

    networks = []
    for part in (part.strip() for part in value.split(",")):
        try:
            network = ipaddress.ip_network(part, strict=True)
        except ValueError as error:
            problem = "an empty entry" if not part else f"{part!r}: {error}"
            raise ConfigurationError(
                "malformed_configuration", f"ALLOWED_SOURCE_IPS must be comma-separated CIDRs; {problem}"
            ) from None
        if network.prefixlen == 0:
            raise ConfigurationError(
                "malformed_configuration",
                f"ALLOWED_SOURCE_IPS: {part} is every address; leave it empty to allow any source",
            )
        networks.append(network)
    return tuple(networks)


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError("malformed_configuration", f"{name} must be a positive integer")
    return int(raw)


@functools.cache
def get_settings() -> Settings:
    return load_settings(os.environ)
