"""The function in its Lambda container, behind SAM's own API Gateway emulator (`make sam-local`).

The test runs the one command a user runs, ``python -m infra.local.sam_local``: ``sam build``, the
local AWS side and ``sam local start-api``, on the runtime image ``SAM_LOCAL_IMAGE`` names (CI's
stand-in, ``.ci/provision``) or AWS's. Requests then go through SAM's emulator to the function in
its container, and the assertions are on the HTTP answers, the table and the consumer queue, as for
``make run``. Where no Docker engine answers, the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from infra import REPO_ROOT
from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode, fresh_event, thin_notification
from infra.fixtures.signing import signature_header
from tests.e2e.conftest import SECRET, state_file
from tests.support import drain, free_port

SAM_REPORT: list[str] = []
"""Printed at the end of the run (``tests/conftest.py``): how long the `sam local` path took."""
READY_SECONDS = 1800
"""A first run builds the runtime image under emulation (minutes) and sam build runs."""


@dataclass
class SamApi:
    port: int
    endpoint: str
    output: list[str]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        answer = post(f"http://127.0.0.1:{self.port}{path}", body, headers=headers, timeout=120)
        return answer.status, json.loads(answer.text or "{}")

    def client(self, service: str) -> Any:
        make_client: Any = boto3.client
        return make_client(service, endpoint_url=self.endpoint, region_name="us-east-1")


def signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = encode(event)
    return body, {"Content-Type": "application/json", "Stripe-Signature": signature_header(body, secret)}


@pytest.fixture(scope="module")
def sam_api() -> Iterator[SamApi]:
    from infra.local.sam_local import engine_version

    if engine_version() is None:
        SAM_REPORT.append("sam local: skipped: no Docker engine answers")
        pytest.skip("sam local cannot run here: no Docker engine answers (CI starts one: .ci/provision)")
    from infra.local.sam_local import sam_containers

    before = sam_containers()
    port, aws_port = free_port(), free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.local.sam_local",
            "--port",
            str(port),
            "--aws-port",
            str(aws_port),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_LOCAL_STATE": str(state_file())},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        if "serving the function in its container" in line:
            break
        if time.monotonic() - started > READY_SECONDS:
            break
    else:
        raise AssertionError("make sam-local stopped before serving:\n" + "".join(output[-60:]))
    SAM_REPORT.append(
        f"sam local: make sam-local served the function after {time.monotonic() - started:.0f} s"
    )
    stdout = process.stdout

    def keep_reading() -> None:  # a full pipe would stall SAM
        for line in stdout:
            output.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    api = SamApi(port, f"http://127.0.0.1:{aws_port}", output)
    warm_up(api)
    try:
        yield api
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
        left = sam_containers() - before
        assert not left, f"make sam-local left {len(left)} function containers running after Ctrl-C"


def warm_up(api: SamApi) -> None:
    """Deliver one event with no handler until it is processed, as Stripe retries: under arm64
    emulation the container's first imports take most of the function's 28 s, so the first event
    after a start may be answered 503 ``deadline_near``; this way it is not a test's."""
    started = time.monotonic()
    event = {**fresh_event("customer.created"), "type": "local.warm_up"}
    for _ in range(4):
        status, _answer = api.post("/webhook", *signed(event))
        if status == 200:
            break
    SAM_REPORT.append(
        f"sam local: the container answered its first event in {time.monotonic() - started:.0f} s"
    )


def test_signed_events_are_processed_by_the_function_in_its_container(sam_api: SamApi) -> None:
    started = time.monotonic()
    sqs = sam_api.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)
    events = [fresh_event(kind) for kind in ("payment_intent.succeeded", "invoice.paid", "customer.created")]

    answers = [sam_api.post("/webhook", *signed(event)) for event in events]
    duplicate = sam_api.post("/webhook", *signed(events[0]))

    assert [(status, body.get("status")) for status, body in answers] == [(200, "processed")] * 3, (
        answers,
        "".join(sam_api.output[-40:]),
    )
    assert duplicate == (200, duplicate[1]) and duplicate[1]["status"] == "duplicate"
    table = sam_api.client("dynamodb")
    for event in events:
        item = table.get_item(
            TableName="stripe-webhooks-events",
            Key={"pk": {"S": f"EVENT#{event['id']}"}, "sk": {"S": "EVENT"}},
        )["Item"]
        assert item["status"]["S"] == "PUBLISHED"
        record = table.get_item(
            TableName="stripe-webhooks-events",
            Key={"pk": {"S": f"OBJECT#{event['data']['object']['id']}"}, "sk": {"S": "STATE"}},
        )
        assert "Item" in record, event["type"]
    received = [message.attributes["event_id"] for message in drain(sqs, queue_url)]
    assert sorted(received) == sorted(event["id"] for event in events)  # the duplicate published nothing
    SAM_REPORT.append(f"sam local: 4 requests through SAM's emulator in {time.monotonic() - started:.1f} s")


def test_a_body_sam_base64_encodes_is_verified_and_processed(sam_api: SamApi) -> None:
    event = fresh_event("charge.succeeded")
    body, headers = signed(event)
    headers["Content-Type"] = "application/octet-stream"  # one of the API's binary media types

    status, answer = sam_api.post("/webhook", body, headers)

    assert (status, answer.get("status")) == (200, "processed"), answer
    item = sam_api.client("dynamodb").get_item(
        TableName="stripe-webhooks-events", Key={"pk": {"S": f"EVENT#{event['id']}"}, "sk": {"S": "EVENT"}}
    )["Item"]
    assert item["status"]["S"] == "PUBLISHED"


def test_a_forged_request_is_refused_in_the_container_and_leaves_nothing(sam_api: SamApi) -> None:
    event = fresh_event("charge.refunded")
    body, headers = signed(event, secret="whsec_" + "f0" * 16)

    status, answer = sam_api.post("/webhook", body, headers)

    assert status == 400 and answer["error"] == "signature_mismatch"
    item = sam_api.client("dynamodb").get_item(
        TableName="stripe-webhooks-events", Key={"pk": {"S": f"EVENT#{event['id']}"}, "sk": {"S": "EVENT"}}
    )
    assert "Item" not in item


def test_the_thin_endpoint_is_served_through_sam(sam_api: SamApi) -> None:
    body = json.dumps(thin_notification()).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature_header(body, SECRET)}

    status, answer = sam_api.post("/webhook/thin", body, headers)

    assert (status, answer.get("status")) == (200, "processed"), answer
