"""Configuration: read and validated once per container, lazily. Nothing else reads ``os.environ``.

The same shape as the webhook's (``stripe_webhook.settings``): a frozen ``Settings``,
``load_settings(environ)`` that validates, and ``get_settings()`` that caches it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from stripe_actions.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    actions: tuple[str, ...]
    """The actions this function performs (``ACTIONS``, comma-separated): registered names
    (``actions.register_action``); what each needs is checked as it is built (``composition``)."""
    idempotency_table: str
    events_table: str | None = None
    """The webhook's table, for the current record of an object (``TABLE_NAME``)."""
    payload_bucket: str | None = None
    """The only bucket a large-payload pointer may name (``PAYLOAD_BUCKET``)."""
    actions_table: str | None = None
    receipt_sender: str = ""
    alert_topic_arn: str | None = None
    remember_days: int = 90
    """How long a performed action is remembered (Powertools' ``expires_after_seconds``): a
    redelivery or redrive within it is skipped. The template sets it to ``EventRetentionDays``,
    the window in which the event log can still be redriven."""


def load_settings(environ: Mapping[str, str]) -> Settings:
    actions = tuple(name.strip() for name in environ.get("ACTIONS", "").split(",") if name.strip())
    if not actions:
        raise ConfigurationError(
            "missing_configuration", "ACTIONS must name the action(s) this function performs"
        )
    if not environ.get("IDEMPOTENCY_TABLE"):
        raise ConfigurationError("missing_configuration", "IDEMPOTENCY_TABLE is not set")
    days = environ.get("ACTIONS_REMEMBER_DAYS", "90")
    if not days.isdigit() or int(days) < 1:
        raise ConfigurationError(
            "malformed_configuration", "ACTIONS_REMEMBER_DAYS must be a whole number of days, at least 1"
        )
    return Settings(
        actions=actions,
        idempotency_table=environ["IDEMPOTENCY_TABLE"],
        events_table=environ.get("TABLE_NAME") or None,
        payload_bucket=environ.get("PAYLOAD_BUCKET") or None,
        actions_table=environ.get("ACTIONS_TABLE") or None,
        receipt_sender=environ.get("RECEIPT_SENDER", "").strip(),
        alert_topic_arn=environ.get("ALERT_TOPIC_ARN") or None,
        remember_days=int(days),
    )


@functools.cache
def get_settings() -> Settings:
    return load_settings(os.environ)
