"""How the tools reach the running local stack: its addresses (``state.py``), AWS clients on its
endpoint, its signing secret, the function's read side on its table, and a clear problem when
nothing answers."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from infra.cli import Problem
from infra.local.resources import TABLE_NAME
from infra.local.state import read_state

if TYPE_CHECKING:
    from stripe_webhook.adapters.queries import TableQueries

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:3000/webhook"
REGION = "us-east-1"
SECRET_NAME = "stripe-webhooks-local/signing-secret"  # noqa: S105 (a name, not a secret)


START_HINT = "Start the local stack first: make run"


def default_endpoint() -> str:
    """The running stack's AWS endpoint (its state file), else the default; a stale file: ``Problem``."""
    state = read_state("--aws-endpoint")
    return state.aws_endpoint if state else DEFAULT_ENDPOINT


def default_webhook_url() -> str:
    """The running stack's webhook URL (its state file), else the default; a stale file: ``Problem``."""
    state = read_state("--url")
    return state.webhook_url if state and state.webhook_url else DEFAULT_WEBHOOK_URL


def fill_addresses(args: Any) -> None:
    """The running stack's addresses for the options not given (``--url``, ``--aws-endpoint``)."""
    if getattr(args, "url", "") is None:
        args.url = default_webhook_url()
    if getattr(args, "aws_endpoint", "") is None:
        args.aws_endpoint = default_endpoint()


def signing_secret(endpoint: str) -> str:
    """STRIPE_WEBHOOK_SECRET, else the secret the running local stack stored; the first one signs."""
    return secret_and_source(endpoint)[0]


def secret_and_source(endpoint: str) -> tuple[str, str]:
    """The signing secret (as ``signing_secret``) and where it came from, in words."""
    from botocore.exceptions import BotoCoreError, ClientError

    from stripe_webhook.errors import ConfigurationError
    from stripe_webhook.settings import parse_secrets

    value = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    source = "STRIPE_WEBHOOK_SECRET"
    if not value:
        try:
            check_reachable(endpoint, "local AWS endpoint", START_HINT)
            value = client("secretsmanager", endpoint).get_secret_value(SecretId=SECRET_NAME)["SecretString"]
            source = "the local stack's secret"
        except (Problem, BotoCoreError, ClientError, KeyError) as error:
            raise Problem(
                "set STRIPE_WEBHOOK_SECRET to the signing secret the local stack printed "
                f"(could not read it from the local stack: {error})"
            ) from None
    try:
        return parse_secrets(value, source)[0], source
    except ConfigurationError as error:
        raise Problem(f"{error.message}; use the whsec_... value the local stack printed") from None


def check_reachable(url: str, what: str, hint: str) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError:
        raise Problem(f"nothing is listening at {url} ({what}). {hint}") from None


def client(service: str, endpoint: str = DEFAULT_ENDPOINT) -> Any:
    """A boto3 client for the local endpoint: throwaway credentials, fail fast."""
    import boto3
    from botocore.config import Config

    make_client: Any = boto3.client
    return make_client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the local endpoint accepts anything)
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
    )


def queries(endpoint: str = DEFAULT_ENDPOINT, table: str = TABLE_NAME) -> TableQueries:
    """The function's own read side (``stripe_webhook.adapters.queries``), against the local stack."""
    from stripe_webhook.adapters.payloads import S3Payloads
    from stripe_webhook.adapters.queries import TableQueries

    payloads = S3Payloads(None, client=client("s3", endpoint))
    return TableQueries(table, client=client("dynamodb", endpoint), payloads=payloads)
