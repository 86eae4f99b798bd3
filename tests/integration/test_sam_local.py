"""The `sam local` path, checked without Docker: what SAM CLI would hand the function."""

from __future__ import annotations

import base64
import json
import tomllib
from typing import Any

import pytest
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.lambdafn.env_vars import EnvironmentVariables

from infra import REPO_ROOT
from infra.local.connect import REGION, SECRET_NAME
from infra.local.options import AWS_PORT
from infra.local.resources import BUCKET_NAME, TABLE_NAME, TOPIC_NAME

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

    assert environment["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{AWS_PORT}"  # the default port
    assert environment["PAYLOAD_BUCKET"] == BUCKET_NAME
    assert environment["TABLE_NAME"] == TABLE_NAME
    assert environment["TOPIC_ARN"] == f"arn:aws:sns:{REGION}:123456789012:{TOPIC_NAME}"
    assert environment["STRIPE_WEBHOOK_SECRET_ARN"] == SECRET_NAME


def test_env_json_only_overrides_variables_the_template_declares() -> None:
    declared = set(_function_environment({}))
    assert set(ENV_JSON["WebhookFunction"]) <= declared


def test_the_deployed_functions_empty_endpoint_means_aws_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from contract import aws

    assert _function_environment({})["AWS_ENDPOINT_URL"] == ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    aws.reset()
    try:
        assert aws.client("dynamodb").meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    finally:
        aws.reset()


def _sam_event(headers: list[tuple[str, str]], body: bytes, path: str = "/webhook") -> dict[str, Any]:
    """The event SAM CLI's own API Gateway emulator builds for this request (its
    ``construct_v1_event``, fed a Flask request as ``sam local start-api`` does)."""
    from flask import Flask, request
    from samcli.local.apigw.event_constructor import construct_v1_event

    from infra.local.apigw import binary_media_types, stage_name

    app = Flask(__name__)
    app.add_url_rule(path, endpoint=path, view_func=lambda: "", methods=["POST"])
    with app.test_request_context(
        path, method="POST", headers=headers, data=body, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ):
        binary = sorted(binary_media_types())
        event: dict[str, Any] = construct_v1_event(request, 3000, binary, stage_name=stage_name())
    return event


VARYING = ("requestId", "requestTime", "requestTimeEpoch")
"""Per-request values of ``requestContext``: compared by type, not value."""


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (
            "/webhook",
            [("Content-Type", "application/json; charset=utf-8"), ("Stripe-Signature", "t=1,v1=ab")],
        ),
        ("/webhook/thin", [("Content-Type", "application/json"), ("Stripe-Signature", "t=1,v1=ab")]),
        (
            "/webhook",
            [("Stripe-Signature", "t=1,v1=ab"), ("Stripe-Signature", "t=2,v1=cd"), ("X-Extra", "1")],
        ),
        ("/webhook", [("Content-Type", "application/octet-stream"), ("Stripe-Signature", "t=1,v1=ab")]),
    ],
    ids=["webhook", "thin", "repeated header", "binary media type: base64"],
)
def test_make_runs_proxy_event_is_the_one_sam_local_start_api_builds(
    path: str, headers: list[tuple[str, str]]
) -> None:
    from infra.fixtures.payloads import encode, fresh_event
    from infra.local.apigw import proxy_event

    body = encode(fresh_event("invoice.paid"))
    sent = [("Host", "localhost"), ("User-Agent", "Stripe/1.0"), ("Content-Length", str(len(body))), *headers]

    sam, ours = _sam_event(sent, body, path), proxy_event("POST", path, sent, body, resource=path)

    for name in VARYING:
        assert type(ours["requestContext"].pop(name)) is type(sam["requestContext"].pop(name)), name
    assert ours == sam


def test_a_body_that_is_not_utf8_is_passed_base64_encoded_where_sam_cannot_pass_it() -> None:
    from infra.local.apigw import proxy_event

    body = b"\xff\xfe not text"
    with pytest.raises(UnicodeDecodeError):  # SAM answers such a request with an error
        _sam_event([("Content-Type", "application/json")], body)
    event = proxy_event("POST", "/webhook", [("Content-Type", "application/json")], body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == body
