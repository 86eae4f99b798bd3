"""A secret from the environment, else from Secrets Manager, cached: the signing secrets and the API key.

Signing secrets come from ``STRIPE_WEBHOOK_SECRET`` (or the thin endpoint's), else the stack's secret.

The secret's value is one ``whsec_...`` or several comma-separated (during a
roll both the old and the new secret are accepted). The cached value is
refreshed every ``max_age`` seconds, and early (at most every
``REFRESH_AFTER_MISMATCH_SECONDS``) when a signature fails to match, so a
rolled secret is picked up at once without letting forged requests hammer
Secrets Manager.

The same cache serves the Stripe API key thin events may need (``parse`` checks
the value's shape). A dozen lines of our own rather than Powertools' parameters
utility, which imports boto3 and costs ~0.2 s of cold start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contract import aws
from stripe_webhook.errors import ConfigurationError
from stripe_webhook.settings import parse_secrets

REFRESH_AFTER_MISMATCH_SECONDS = 30.0


class SecretCache:
    def __init__(
        self,
        *,
        inline: tuple[str, ...],
        secret_arn: str | None,
        max_age: float,
        client: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
        parse: Callable[[str, str], tuple[str, ...]] = parse_secrets,
    ) -> None:
        self._parse = parse
        self._inline = inline
        self._secret_arn = secret_arn
        self._max_age = max_age
        self._client = client
        self._clock = clock
        self._cached: tuple[str, ...] = ()
        self._fetched_at = float("-inf")

    def current(self) -> tuple[str, ...]:
        if self._inline:
            return self._inline
        if self._clock() - self._fetched_at >= self._max_age:
            self._fetch()
        return self._cached

    def refresh_after_mismatch(self) -> bool:
        """Re-read the secret if it may have been rolled; True if there are new values to try."""
        if self._inline or self._clock() - self._fetched_at < REFRESH_AFTER_MISMATCH_SECONDS:
            return False
        before = self._cached
        self._fetch()
        return self._cached != before

    def _fetch(self) -> None:
        if self._client is None:
            self._client = aws.client("secretsmanager")
        try:
            response = self._client.get_secret_value(SecretId=self._secret_arn)
        except (ClientError, BotoCoreError) as error:
            raise ConfigurationError(
                "secret_unavailable", "could not read a secret from Secrets Manager"
            ) from error
        self._cached = self._parse(response.get("SecretString") or "", "the Secrets Manager secret")
        self._fetched_at = self._clock()
