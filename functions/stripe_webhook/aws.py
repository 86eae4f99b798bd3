"""The one place AWS clients are made: botocore directly, with explicit retry and timeouts.

botocore instead of boto3 keeps ~0.2 s of imports (boto3's s3transfer stack) off
the cold start. ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` are
honoured by botocore itself, so local emulators work without code changes.

Budget: each call makes at most 3 attempts of (1 s connect + 2 s read) plus at
most ~3 s of backoff, so one failing dependency is reported in about 12 s
(``CALL_BUDGET_SECONDS``), well inside the function timeout (20 s), which is
inside API Gateway's 29 s.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import botocore.session
from botocore.config import Config

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
MAX_BACKOFF_SECONDS = 3
"""botocore's standard mode waits a random 0..1 s, then 0..2 s, before its second and third attempts."""
CALL_BUDGET_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + MAX_BACKOFF_SECONDS
"""The longest one AWS call can take before it is reported failed (12 s)."""

CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    max_pool_connections=10,
)


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


def client(service_name: str) -> Any:
    """Create a low-level client for ``service_name`` (callers cache it per container)."""
    return session().create_client(service_name, config=CLIENT_CONFIG)


def reset() -> None:
    """Drop the cached session, so the next client is made afresh (tests: a new moto or fault hook)."""
    session.cache_clear()


class ServiceAdapter:
    """Base of the adapters: one AWS service's client, injected (tests) or made on first use."""

    service: ClassVar[str]

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client(self.service)
        return self._client
