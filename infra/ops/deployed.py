"""What every operator command shares: the deployed stack, the context a command runs in, errors.

A stack is read from CloudFormation (outputs and parameters) and turned into the function's own
``Settings``, so the operator commands build their pipeline, store and queries through the same
composition root as the deployed function, with the stack's settings (e.g. ``EventRetentionDays``).
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from infra import REPO_ROOT
from infra.cli import Problem
from stripe_webhook.settings import API_VERSION  # the one pin: see there

if TYPE_CHECKING:
    from stripe_webhook.composition import Components
    from stripe_webhook.settings import Settings

MANAGED_BY = "stripe-webhooks-aws"
REQUIRED_OUTPUTS = ("WebhookUrl", "TableName", "TopicArn", "SecretArn")
FUNCTION_PARAMETERS = {
    "EventRetentionDays": "EVENT_RETENTION_DAYS",
    "StripeApiVersion": "STRIPE_API_VERSION",
    "StripeMode": "STRIPE_MODE",
}
"""Template parameters that reach the function's environment unchanged."""


@dataclass(frozen=True)
class Stack:
    name: str
    webhook_url: str
    table_name: str
    topic_arn: str
    secret_arn: str
    parameters: dict[str, str] = field(default_factory=dict)
    payload_bucket: str | None = None
    """The ``PayloadBucketName`` output (stacks deployed before it existed have none)."""
    dashboard_url: str | None = None
    actions_idempotency_table: str | None = None
    """The ``ActionsIdempotencyTableName`` output (with ``DeployExampleActions``): the effect ledger."""
    thin_webhook_url: str | None = None
    thin_secret_arn: str | None = None
    """The ``ThinWebhookUrl`` and ``ThinSecretArn`` outputs (with ``EnableThinEvents``)."""
    local: bool = False
    """The running local stack (``--local``): no CloudFormation, no alarms, no Stripe endpoint."""

    @property
    def api_version(self) -> str:
        """The stack's ``StripeApiVersion`` (the pinned version for stacks deployed before it)."""
        return self.parameters.get("StripeApiVersion") or API_VERSION

    def settings(self) -> Settings:
        """The deployed function's settings, as its environment has them (see template.yaml)."""
        from stripe_webhook.errors import ConfigurationError
        from stripe_webhook.settings import load_settings

        environment = {
            "TABLE_NAME": self.table_name,
            "TOPIC_ARN": self.topic_arn,
            "STRIPE_WEBHOOK_SECRET_ARN": self.secret_arn,
            "PAYLOAD_BUCKET": self.payload_bucket or "",
            **{
                name: self.parameters[key]
                for key, name in FUNCTION_PARAMETERS.items()
                if key in self.parameters
            },
        }
        try:
            return load_settings(environment)
        except ConfigurationError as error:
            raise Problem(f"stack {self.name!r}: {error.message}") from None


def default_stack_name() -> str:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    return str(config["default"]["global"]["parameters"]["stack_name"])


def load_stack(cloudformation: Any, name: str) -> Stack:
    """The deployed stack's outputs (WebhookUrl, TableName, TopicArn, SecretArn) and parameters."""
    from botocore.exceptions import ClientError

    try:
        (description,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise Problem(f"cannot read stack {name!r}: {error.response['Error']['Message']}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise Problem(f"stack {name!r} has no output {', '.join(missing)}: is it this project's stack?")
    parameters = {
        parameter["ParameterKey"]: parameter.get("ParameterValue", "")
        for parameter in description.get("Parameters", [])
    }
    url, table, topic, secret = (outputs[key] for key in REQUIRED_OUTPUTS)
    return Stack(
        name,
        url,
        table,
        topic,
        secret,
        parameters=parameters,
        payload_bucket=outputs.get("PayloadBucketName"),
        dashboard_url=outputs.get("DashboardUrl"),
        actions_idempotency_table=outputs.get("ActionsIdempotencyTableName"),
        thin_webhook_url=outputs.get("ThinWebhookUrl"),
        thin_secret_arn=outputs.get("ThinSecretArn"),
    )


@dataclass
class Context:
    """Everything a command talks to; tests build one with fakes."""

    stack: Stack
    aws: Callable[[str], Any]
    stripe: Any = None
    out: TextIO = sys.stdout
    dry_run: bool = False

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    @functools.cached_property
    def components(self) -> Components:
        """The function's pipeline, store and queries for this stack, with the operator's clients."""
        from stripe_webhook.composition import Components

        return Components(
            self.stack.settings(),
            dynamodb=self.aws("dynamodb"),
            sns=self.aws("sns"),
            secretsmanager=self.aws("secretsmanager"),
            s3=self.aws("s3"),
        )


def stripe_client(api_version: str = API_VERSION, http_client: Any = None) -> Any:
    import stripe

    api_key = os.environ.get("STRIPE_API_KEY", "")
    if not api_key.startswith(("sk_", "rk_")):
        raise Problem(
            "set STRIPE_API_KEY to a Stripe secret or restricted key (sk_… or rk_…) with write access "
            "to webhook endpoints and read access to events"
        )
    return stripe.StripeClient(api_key, http_client=http_client, stripe_version=api_version)


def local_stripe_client() -> Any:
    """The ``stripe`` library pointed at the running local stack's Stripe API stand-in."""
    import stripe

    from infra.local.state import read_state
    from infra.local.stripe_standin import API_KEY

    state = read_state()
    if state is None or state.stripe_api is None:
        raise Problem("no local stack with its Stripe API stand-in is running: start one with make run")
    return stripe.StripeClient(API_KEY, base_addresses={"api": state.stripe_api}, stripe_version=API_VERSION)


def operator_key_livemode() -> bool | None:
    """The mode of the key in ``STRIPE_API_KEY`` from its prefix, or None if it shows none."""
    key = os.environ.get("STRIPE_API_KEY", "")
    return (
        True
        if key.startswith(("sk_live_", "rk_live_"))
        else False
        if key.startswith(("sk_test_", "rk_test_"))
        else None
    )


def handled_event_types() -> list[str]:
    """What the endpoint subscribes to: the router's registry, not a second hand-kept list."""
    from stripe_webhook.composition import registry

    patterns = registry().patterns()
    assert all(not pattern.endswith("*") for pattern in patterns), "Stripe needs explicit event types"
    return patterns


def aws_factory(
    region: str | None,
    *,
    profile: str | None = None,
    endpoint: str | None = None,
    one_attempt: bool = False,
    pool: int | None = None,
) -> Callable[[str], Any]:
    """Boto3 clients with the operator's credentials (region and profile as the AWS CLI resolves
    them) and the function's timeouts, one per service. ``endpoint``: the local stack's AWS side
    instead (its region, throwaway credentials). ``one_attempt``: botocore never sends a request
    again, since one whose answer was lost may have been applied (the console's changes; SNS makes
    one attempt either way). ``pool``: connections a client keeps, for parallel queries."""
    import boto3
    from botocore.config import Config

    from contract.aws import client_config

    session = boto3.session.Session(region_name=region, profile_name=profile)
    local: dict[str, Any] = {}
    if endpoint:
        from infra.local.connect import REGION

        local = {"endpoint_url": endpoint, "region_name": REGION}
        local.update(aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            config = client_config(service)
            if pool is not None:
                config = config.merge(Config(max_pool_connections=pool))
            if one_attempt:
                config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
            clients[service] = session.client(service, config=config, **local)  # type: ignore[call-overload]
        return clients[service]

    return client


def running_local_endpoint() -> tuple[str, str | None]:
    """The running local stack's AWS endpoint and webhook URL (``.local-stack.json``), or ``Problem``."""
    from infra.local.state import read_state

    state = read_state()
    if state is None:
        raise Problem("no local stack is running: start one with make run (it writes .local-stack.json)")
    return state.aws_endpoint, state.webhook_url


def local_stack() -> Stack:
    """The running local stack as a deployed one would describe itself (``--local``)."""
    _, webhook_url = running_local_endpoint()
    return local_resources(webhook_url or "-")


def local_resources(webhook_url: str = "-") -> Stack:
    """The local stack's resources, by the names ``infra.local.resources`` gives them."""
    from infra.local.connect import REGION, SECRET_NAME
    from infra.local.resources import BUCKET_NAME, IDEMPOTENCY_TABLE_NAME, TABLE_NAME, TOPIC_NAME

    topic = f"arn:aws:sns:{REGION}:123456789012:{TOPIC_NAME}"
    return Stack(
        "local",
        webhook_url,
        TABLE_NAME,
        topic,
        SECRET_NAME,
        payload_bucket=BUCKET_NAME,
        actions_idempotency_table=IDEMPOTENCY_TABLE_NAME,
        local=True,
    )


def local_aws() -> Callable[[str], Any]:
    """Clients for the running local stack's AWS endpoint."""
    from infra.local.connect import client

    endpoint, _ = running_local_endpoint()
    clients: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in clients:
            clients[service] = client(service, endpoint)
        return clients[service]

    return make
