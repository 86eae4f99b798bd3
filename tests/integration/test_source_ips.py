"""The IP allow-list enforced in the function (``ALLOWED_SOURCE_IPS``): what keeps ``AllowedSourceIps``
true behind an HTTP API, which has no resource policy (template ``ApiType=HTTP``)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event
from stripe_webhook import composition
from tests.integration.conftest import Aws
from tests.support import all_items, invoke, signed_request

STRIPE = "3.18.12.63/32,3.130.192.231/32,2600:1f18:4a1b::/48"
"""Two of Stripe's published webhook addresses, and an IPv6 range, as the parameter takes them."""


def http_api_request(body: bytes, secret: str, source_ip: str) -> dict[str, Any]:
    """The event an HTTP API sends in payload format 1.0 for ``POST /v1/webhook`` (the stage in the path)."""
    rest = signed_request(body, secret)
    return {
        "version": "1.0",
        "resource": "/webhook",
        "path": "/v1/webhook",
        "httpMethod": "POST",
        "headers": rest["headers"],
        "multiValueHeaders": rest["multiValueHeaders"],
        "queryStringParameters": None,
        "requestContext": {
            "apiId": "a1b2c3d4e5",
            "stage": "v1",
            "httpMethod": "POST",
            "resourcePath": "/webhook",
            "identity": {"sourceIp": source_ip, "userAgent": "Stripe/1.0"},
            "requestId": "JKJaXmPLvHcESHA=",
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def rest_request(body: bytes, secret: str, source_ip: str) -> dict[str, Any]:
    request = signed_request(body, secret)
    request["requestContext"]["identity"]["sourceIp"] = source_ip
    return request


@pytest.fixture
def allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_SOURCE_IPS", STRIPE)
    composition.reset()


@pytest.mark.parametrize("shape", [http_api_request, rest_request], ids=["http api", "rest api"])
def test_only_allowed_addresses_reach_the_pipeline(
    aws: Aws, secret: str, allow_list: None, shape: Any
) -> None:
    outside = fresh_event("charge.succeeded")
    answer = invoke(shape(encode(outside), secret, "203.0.113.9"))
    assert answer.status == 403
    assert answer.body["error"] == "source_ip_not_allowed"
    assert all_items(aws.dynamodb, aws.table) == []  # refused before any work

    for source in ("3.18.12.63", "2600:1f18:4a1b:7700::5"):
        event = fresh_event("charge.succeeded")
        answer = invoke(shape(encode(event), secret, source))
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "processed"
        assert aws.queries.get_event(event["id"]) is not None


def test_an_unreadable_source_is_refused(aws: Aws, secret: str, allow_list: None) -> None:
    for source in ("", "not-an-ip", "3.18.12.63.1"):
        assert invoke(rest_request(encode(fresh_event("charge.succeeded")), secret, source)).status == 403


def test_without_an_allow_list_every_source_is_verified_as_before(aws: Aws, secret: str) -> None:
    event = fresh_event("charge.succeeded")
    assert invoke(http_api_request(encode(event), secret, "203.0.113.9")).status == 200


def test_a_malformed_allow_list_is_a_configuration_error(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_SOURCE_IPS", "3.18.12.63/32,not-a-cidr")
    composition.reset()
    answer = invoke(rest_request(encode(fresh_event("charge.succeeded")), secret, "3.18.12.63"))
    assert answer.status == 500
    assert answer.body["error"] == "malformed_configuration"
