"""The one place AWS clients are made: botocore directly, with explicit retry and timeouts.

botocore instead of boto3 keeps ~0.2 s of imports (boto3's s3transfer stack) off
the cold start. ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` are
honoured by botocore itself, so local emulators work without code changes.

Both functions make their clients here. The attempts and timeouts below are what the webhook's
time budget (``stripe_webhook.core.budget``) is derived from.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 1.5

ONE_ATTEMPT = frozenset({"sns", "ses"})
"""Services whose calls botocore must never re-send: it re-sends a request whose answer was lost,
and a re-sent ``Publish`` to a standard topic is a second copy (``publisher`` makes its own
attempts where that is safe), a re-sent ``SendEmail`` a second email (``stripe_actions.effects``)."""


VALIDATE_PARAMETERS = False
"""Whether botocore checks each request against the model before sending it (the tests: yes)."""
USER_AGENT = f"stripe-webhooks-aws botocore/{botocore.__version__} Python/{sys.version.split()[0]}"
"""What our requests say they are, built once: left to itself botocore rebuilds and sanitises its
16-part User-Agent header twice a call, character by character (about a tenth of a call's CPU in
``make bench``), to report SDK usage metrics that no user of this project reads."""


def error_code(error: ClientError) -> str:
    """The AWS error code of a refused call (``ConditionalCheckFailedException``, …), or ""."""
    return str(error.response.get("Error", {}).get("Code", ""))


def client_config(service_name: str) -> Config:
    """botocore's standard retry mode with our timeouts (one attempt for ``ONE_ATTEMPT``), and a
    fixed User-Agent (``USER_AGENT``).

    No client-side parameter validation: every request is built by our own code, the service
    validates it again (``ValidationException``), and botocore's walk of the model costs each call
    about a twentieth of its CPU (``make bench``). The tests turn it back on (``VALIDATE_PARAMETERS``),
    so a malformed request fails where our code makes it."""
    attempts = 1 if service_name in ONE_ATTEMPT else MAX_ATTEMPTS
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=10,
        parameter_validation=VALIDATE_PARAMETERS,
        user_agent=USER_AGENT,
    )


_shared: dict[str, Any] = {}
"""botocore's reader of its own model files, kept for the process once a session made it: static
data, so every session may share it, even across ``reset`` and a SnapStart restore (``snapstart``)."""


def _with_shared_models(made: botocore.session.Session) -> botocore.session.Session:
    if "data_loader" in _shared:
        made.register_component("data_loader", _shared["data_loader"])
    else:
        _shared["data_loader"] = made.get_component("data_loader")
    return made


def forget_models() -> None:
    """Drop the shared model reader (tests: a process that has parsed nothing yet)."""
    _shared.clear()


@functools.cache
def session() -> botocore.session.Session:
    return _with_shared_models(botocore.session.get_session())


def load_models(service_names: tuple[str, ...]) -> None:
    """Read the services' models into the shared reader without a credential or a connection: a
    throwaway client made with placeholder keys, in a session of its own (SnapStart's snapshot)."""
    scratch = _with_shared_models(botocore.session.get_session())
    for name in service_names:
        scratch.create_client(
            name,
            region_name="us-east-1",
            aws_access_key_id="snapshot",
            aws_secret_access_key="snapshot",  # noqa: S106 (never sent: the client is discarded)
            config=client_config(name),
        )


def client(service_name: str) -> Any:
    """Create a low-level client for ``service_name`` (callers cache it per container)."""
    return session().create_client(service_name, config=client_config(service_name))


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


def query_items(client: Any, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item a DynamoDB query finds, page by page (``LastEvaluatedKey``), as attribute values:
    ``query`` itself, not botocore's paginator, whose machinery costs a one-page read a tenth of
    its CPU."""
    while True:
        page = client.query(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_object(client: Any, bucket: str, key: str, limit: int) -> bytes:
    """An S3 object's bytes, at most ``limit`` + 1 of them (a caller refuses more): never read whole."""
    stream = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return bytes(stream.read(limit + 1))
    finally:
        stream.close()
