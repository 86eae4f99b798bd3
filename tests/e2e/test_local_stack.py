"""The local stack as a person runs it: a subprocess, real HTTP on loopback, boto3 against its endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from infra import REPO_ROOT
from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from stripe_webhook.adapters.payloads import payload_key
from tests.e2e.conftest import SECRET, LocalStack, state_file
from tests.support import drain, extended_sqs_client, free_port, get_item, large_invoice, receive_all


def test_signed_event_is_stored_and_reaches_the_consumer_queue(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)  # the stack is shared with other tests
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)

    status, _ = stack.post(
        body, {"Stripe-Signature": signature_header(body, SECRET), "Content-Type": "application/json"}
    )

    assert status == 200
    dynamodb = stack.client("dynamodb")
    logged = get_item(dynamodb, "stripe-webhooks-events", f"EVENT#{event['id']}", "EVENT")
    assert logged is not None and logged["status"] == "PUBLISHED"
    payment = get_item(dynamodb, "stripe-webhooks-events", "OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    assert payment is not None and payment["status"] == "succeeded"
    assert [message.attributes["event_id"] for message in drain(sqs, queue_url)] == [event["id"]]
    line = stack.wait_for_line(event["id"])
    expected = rf"200  processed  payment_intent.succeeded  {event['id']}  records=1 stale=0  \d+ ms"
    assert re.match(r"\d\d:\d\d:\d\d  " + expected, line), line


def test_duplicate_and_forged_requests_are_shown_and_answered(stack: LocalStack) -> None:
    event = fresh_event("product.created")
    body = encode(event)
    headers = {"Stripe-Signature": signature_header(body, SECRET)}

    assert stack.post(body, headers)[0] == 200
    assert (
        stack.post(body, {"Stripe-Signature": signature_header(body, SECRET, int(time.time()) + 1)})[0] == 200
    )
    status, text = stack.post(body, {"Stripe-Signature": signature_header(body, "whsec_" + "00" * 16)})

    assert status == 400 and "signature_mismatch" in text
    stack.wait_for_line(f"200  duplicate  product.created  {event['id']}  records=0 stale=0")
    stack.wait_for_line(f"400  rejected: signature_mismatch  product.created  {event['id']}")
    assert "Traceback" not in "".join(stack.seen)


def test_every_request_gets_a_console_line_and_the_contract_s_json_errors(stack: LocalStack) -> None:
    for method, path, status, error in (
        ("GET", "/webhook", 405, "method_not_allowed"),
        ("DELETE", "/nowhere", 404, "not_found"),
        ("HEAD", "/webhook", 405, None),
    ):
        request = urllib.request.Request(f"http://127.0.0.1:{stack.port}{path}", method=method)
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=5)
        assert raised.value.code == status
        if error is not None:
            assert json.loads(raised.value.read())["error"] == error
        assert f"  {status}  " in stack.wait_for_line(f"{method} {path}")


def test_a_5_mib_event_is_processed_whole_and_the_platform_caps_are_enforced(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)  # the stack is shared with other tests
    event = large_invoice(5 * 1024 * 1024)
    body = encode(event)
    headers = {"Stripe-Signature": signature_header(body, SECRET), "Content-Type": "application/json"}

    status, _ = stack.post(body, headers)

    assert status == 200
    stored = stack.client("s3").get_object(Bucket="stripe-webhooks-payloads", Key=payload_key(event["id"]))
    assert stored["Body"].read() == body
    (message,) = receive_all(extended_sqs_client(stack.endpoint), queue_url)
    assert message["Body"].encode() == body
    assert "records=1" in stack.wait_for_line(event["id"])

    # What API Gateway and Lambda refuse never reaches the function: a proxy event over Lambda's
    # 6,291,456 bytes, and a body over API Gateway's 10 MiB
    for size, answer in ((6_300_000, "Request Too Long"), (10 * 1024 * 1024 + 1, "HTTP content length")):
        too_big = encode(large_invoice(size))
        assert len(too_big) > size - 200_000
        status, text = stack.post(too_big, {"Stripe-Signature": signature_header(too_big, SECRET)})
        assert status == 413 and answer in text
    assert "Traceback" not in "".join(stack.seen)


def test_unsigned_request_is_a_400_and_an_unknown_path_a_404(stack: LocalStack) -> None:
    assert stack.post(b"{}", {})[0] == 400
    request = urllib.request.Request(f"http://127.0.0.1:{stack.port}/nope", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 404


def start_refused(options: list[str]) -> subprocess.CompletedProcess[str]:
    """``make run`` with ``options``, expected to stop before it starts (a state file of its own)."""
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *options],
        cwd=REPO_ROOT,
        env={**os.environ, "STRIPE_LOCAL_STATE": str(state_file())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_busy_ports_are_all_named_at_once_with_a_command_that_works() -> None:
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(3):  # another program holds the webhook, AWS and Stripe stand-in ports
            busy = held.enter_context(socket.socket())
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            ports.append(busy.getsockname()[1])
        webhook, aws, stripe = ports
        options = ["--port", str(webhook), "--aws-port", str(aws), "--stripe-port", str(stripe)]
        result = start_refused(options)
    assert result.returncode == 1
    for port, option in zip(ports, ("--port", "--aws-port", "--stripe-port"), strict=True):
        assert f"127.0.0.1:{port} (" in result.stderr and option in result.stderr
    assert re.search(r'make run ARGS="--port \d+" \(its other ports follow', result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_the_busy_port_hint_keeps_the_ports_the_user_chose() -> None:
    aws, stripe = free_port(), free_port()
    with socket.socket() as busy:  # only the webhook's port is taken
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        webhook = busy.getsockname()[1]
        options = ["--port", str(webhook), "--aws-port", str(aws), "--stripe-port", str(stripe)]
        result = start_refused(options)

    assert result.returncode == 1 and f"127.0.0.1:{webhook} (webhook, --port)" in result.stderr
    assert re.search(
        rf'make run ARGS="--port \d+ --aws-port {aws} --stripe-port {stripe}" \(all free now\)', result.stderr
    )


def test_malformed_secret_is_a_clear_error_without_a_traceback() -> None:
    result = subprocess.run(
        # every port chosen free: one derived from --port may be a live connection's local port
        [
            sys.executable,
            "-m",
            "infra.local",
            *(f"--{name}-port={free_port()}" for name in ("aws", "stripe")),
            "--port",
            str(free_port()),
        ],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "STRIPE_WEBHOOK_SECRET": "sk_test_not_a_webhook_secret",
            "STRIPE_LOCAL_STATE": str(state_file()),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "whsec_" in result.stderr and "stripe listen" in result.stderr
    assert "sk_test_not_a_webhook_secret" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_help_describes_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.local", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--port" in result.stdout and "--aws-port" in result.stdout
