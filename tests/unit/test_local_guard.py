"""Who may talk to the local servers (``infra.local.guard``), and where the local AWS endpoint
listens (``options.aws_addresses``), decided without a socket."""

from __future__ import annotations

import sys

import pytest

from infra.cli import Problem
from infra.local import options
from infra.local.guard import DOCKER_HOST_NAME, HostPolicy, browser_refusal, page_refusal, webhook_refusal

POLICY = HostPolicy.of(3000, ["tunnel.example"])
CLI = {"Host": "localhost:3000", "Stripe-Signature": "t=1,v1=ab", "User-Agent": "Stripe/1.0"}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:3000", True),
        ("localhost:3000", True),
        ("[::1]:3000", True),
        ("LOCALHOST:3000", True),
        ("tunnel.example:3000", True),
        ("127.0.0.1:3001", False),
        ("127.0.0.1", False),  # port 80
        ("rebound.test:3000", False),
        ("127.0.0.1.evil.example:3000", False),
        ("localhost:3000x", False),
        ("", False),
        (None, False),
    ],
)
def test_a_host_must_be_a_loopback_or_configured_name_with_the_servers_port(
    host: str | None, allowed: bool
) -> None:
    assert POLICY.allows(host) is allowed


def test_the_webhook_takes_stripe_s_requests_and_refuses_browsers_and_rebinding() -> None:
    assert webhook_refusal(CLI, POLICY, any_host=False) is None
    assert webhook_refusal({**CLI, "Host": "rebound.test:3000"}, POLICY, any_host=False) is not None
    assert webhook_refusal({**CLI, "Host": "rebound.test:3000"}, POLICY, any_host=True) is None
    for header in ("Origin", "Sec-Fetch-Site", "sec-fetch-mode"):
        assert webhook_refusal({**CLI, header: "cross-site"}, POLICY, any_host=True) is not None


def test_the_aws_endpoint_refuses_every_browser_request_and_preflight() -> None:
    sdk = {"Host": "127.0.0.1:3000", "X-Amz-Target": "DynamoDB_20120810.Scan"}
    assert browser_refusal("POST", sdk, POLICY) is None
    assert browser_refusal("OPTIONS", sdk, POLICY) is not None
    assert browser_refusal("POST", {**sdk, "Origin": "http://attacker.test"}, POLICY) is not None
    assert browser_refusal("POST", {**sdk, "Host": "rebound.test:3000"}, POLICY) is not None


def test_an_inbox_change_needs_its_header_its_origin_and_when_public_its_token() -> None:
    page = {"Host": "127.0.0.1:3000", "Origin": "http://127.0.0.1:3000", "X-Inbox-Request": "1"}
    path = "/api/requests/1/replay"
    assert page_refusal("POST", path, page, POLICY, None) is None
    assert page_refusal("POST", path, {**page, "Origin": "http://attacker.test"}, POLICY, None) is not None
    without_header = {key: value for key, value in page.items() if key != "X-Inbox-Request"}
    assert page_refusal("POST", path, without_header, POLICY, None) is not None
    assert page_refusal("GET", "/api/requests", {**page, "Sec-Fetch-Site": "cross-site"}, POLICY, None)
    assert page_refusal("POST", path, page, POLICY, "s3cret") is not None
    assert page_refusal("POST", path, {**page, "X-Inbox-Token": "s3cret"}, POLICY, "s3cret") is None


def test_docker_mode_listens_on_the_bridge_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(options, "docker_bridge_address", lambda: "172.17.0.1")

    assert options.aws_addresses("docker") == (["127.0.0.1", "172.17.0.1"], [DOCKER_HOST_NAME, "172.17.0.1"])


def test_docker_mode_without_a_bridge_is_loopback_on_docker_desktop_and_an_error_on_linux(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(options, "docker_bridge_address", lambda: None)
    monkeypatch.setattr(sys, "platform", "darwin")  # Docker Desktop forwards to loopback
    assert options.aws_addresses("docker") == (["127.0.0.1"], [DOCKER_HOST_NAME])

    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(Problem, match="no Docker bridge"):
        options.aws_addresses("docker")


def test_loopback_is_the_default_and_a_public_address_is_asked_for() -> None:
    assert options.aws_addresses("127.0.0.1") == (["127.0.0.1"], [])
    assert options.aws_addresses("0.0.0.0") == (["0.0.0.0"], [DOCKER_HOST_NAME])
