"""The `sam local` path, checked without Docker: what SAM CLI would hand the function."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables

from infra import REPO_ROOT
from infra.local.endpoint import REGION, SECRET_NAME
from infra.local.resources import BUCKET_NAME, TABLE_NAME, TOPIC_NAME
from infra.local.stack import ENV_JSON_AWS_PORT

SAMCONFIG = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
ENV_JSON = json.loads((REPO_ROOT / "env.json").read_text())


def _function_environment(overrides: dict[str, str]) -> dict[str, Any]:
    stacks, _ = SamLocalStackProvider.get_stacks(str(REPO_ROOT / "template.yaml"))
    function = SamFunctionProvider(stacks).get("WebhookFunction")
    assert function is not None
    variables = EnvironmentVariables(
        function.name,
        function.memory,
        function.timeout,
        function.handler,
        variables=(function.environment or {}).get("Variables"),
        override_values=overrides,
    )
    resolved: dict[str, Any] = variables.resolve()
    return resolved


@pytest.mark.parametrize("command", ["local_start_api", "local_invoke"])
def test_sam_local_gives_the_function_the_local_stacks_names_and_endpoint(command: str) -> None:
    assert SAMCONFIG["default"][command]["parameters"]["env_vars"] == "env.json"
    environment = _function_environment(ENV_JSON["WebhookFunction"])

    assert environment["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{ENV_JSON_AWS_PORT}"
    assert environment["PAYLOAD_BUCKET"] == BUCKET_NAME
    assert environment["TABLE_NAME"] == TABLE_NAME
    assert environment["TOPIC_ARN"] == f"arn:aws:sns:{REGION}:123456789012:{TOPIC_NAME}"
    assert environment["STRIPE_WEBHOOK_SECRET_ARN"] == SECRET_NAME


def test_env_json_only_overrides_variables_the_template_declares() -> None:
    declared = set(_function_environment({}))
    assert set(ENV_JSON["WebhookFunction"]) <= declared


def test_the_deployed_functions_empty_endpoint_means_aws_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from stripe_webhook import aws

    assert _function_environment({})["AWS_ENDPOINT_URL"] == ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    aws.reset()
    try:
        assert aws.client("dynamodb").meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    finally:
        aws.reset()
