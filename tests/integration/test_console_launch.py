"""Which stack ``make console`` shows: the running local stack unless a stack is named; and one
clear line when an address is no AWS endpoint at all (the webhook's port), naming the running
local stack's AWS side, not "AWS refused: 404"."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.cli import Problem
from infra.console.launch import build, local_endpoint
from infra.ops.deployed import aws_factory


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".local-stack.json"
    monkeypatch.setenv("STRIPE_LOCAL_STATE", str(path))
    return path


RUNNING = "http://127.0.0.1:5999"


def args(**given: object) -> argparse.Namespace:
    values = {"aws_endpoint": None, "stack": None, "local": False, "port": 0, "allow_actions": False}
    return argparse.Namespace(**{**values, **given})


def running(path: Path) -> None:
    """A local stack's state file, written by this (live) process."""
    state = {"pid": os.getpid(), "webhook_url": "http://127.0.0.1:7100", "aws_endpoint": RUNNING}
    path.write_text(json.dumps({**state, "secret_name": "local/signing"}))


def test_a_running_local_stack_is_shown_unless_a_stack_is_named(state_file: Path) -> None:
    assert local_endpoint(args()) is None  # none runs: samconfig's deployed stack
    running(state_file)
    assert local_endpoint(args()) == RUNNING
    assert local_endpoint(args(local=True)) == RUNNING
    assert local_endpoint(args(stack="stripe-webhooks-prod")) is None
    assert local_endpoint(args(aws_endpoint="http://127.0.0.1:5001")) == "http://127.0.0.1:5001"
    with pytest.raises(Problem, match="choose one"):
        local_endpoint(args(local=True, stack="stripe-webhooks-prod"))


def test_local_without_a_running_stack_says_how_to_start_one(state_file: Path) -> None:
    with pytest.raises(Problem, match="no local stack is running: start one with make run"):
        local_endpoint(args(local=True))


class NotAws(http.server.BaseHTTPRequestHandler):
    """What the webhook's port answers an AWS call: 404, no AWS error body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": "not_found"}'
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *values: object) -> None:
        return


@pytest.fixture
def not_aws() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_address_that_is_no_aws_endpoint_is_said_with_the_running_stack_s(
    state_file: Path, not_aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    running(state_file)
    aws = aws_factory("us-east-1", endpoint=not_aws, one_attempt=True)

    with pytest.raises(Problem) as refused:
        build(args(aws_endpoint=not_aws), aws)

    said = str(refused.value)
    assert f"{not_aws} is not a local stack's AWS side (it answered HTTP 404" in said
    assert f"the running local stack's is {RUNNING}: run it with --local" in said
    assert "AWS refused" not in said
