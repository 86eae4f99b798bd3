"""Logs of a full run never carry request bodies, signature headers or secrets."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from infra.stripe_events import encode, fresh_event, signature_header
from tests.integration.conftest import Aws
from tests.support import deliver, invoke, signed_request


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Everything the function's Powertools logger writes, as JSON lines."""
    from stripe_webhook.app import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield buffer
    logger.setLevel(level)
    handler.setStream(previous)


def test_logs_of_success_duplicate_rejection_and_failure_hold_no_request_data(
    aws: Aws, secret: str, function_logs: io.StringIO
) -> None:
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)
    header = signature_header(body, secret)
    forged_header = signature_header(body, "whsec_" + "9d" * 16)

    invoke(signed_request(body, secret, header=header))  # processed
    deliver(body, secret, timestamp=int(time.time()) + 1)  # duplicate
    invoke(signed_request(body, secret, header=forged_header))  # 400
    dispute = fresh_event("charge.dispute.created")
    aws.sns.delete_topic(TopicArn=aws.topic_arn)
    assert deliver(dispute, secret).status == 503  # 5xx with a traceback in the logs

    logs = function_logs.getvalue()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert {line.get("correlation_id") for line in lines} >= {event["id"], dispute["id"]}
    assert any("Traceback" in line.get("exception", "") for line in lines)
    forbidden = [
        secret,
        header.split("v1=")[1],
        forged_header.split("v1=")[1],
        "jenny.rosen@example.com",
        "Jenny Rosen",
        "510 Townsend St",
        "pi_3QJ7kLF2eZvKYlo21bVQh0rT_secret",
        "Xt5EWLLDS7FJjR1c",
        "Order #10423",
    ]
    assert [value for value in forbidden if value in logs] == []
