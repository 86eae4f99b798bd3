"""One event followed end to end in X-Ray: the webhook's steps, the SNS hop, the action's work.

Lambda gives each invocation its trace header in ``_X_AMZN_TRACE_ID`` and runs an X-Ray daemon
beside it (``AWS_XRAY_DAEMON_ADDRESS``, UDP). Here a UDP socket on loopback stands in for the
daemon, and the header is set as Lambda sets it. SNS with active tracing hands the trace header it
received with ``Publish`` to SQS, which gives it to the consumer as the record's ``AWSTraceHeader``
(AWS X-Ray Developer Guide, "Amazon SNS and AWS X-Ray", "Amazon SQS and AWS X-Ray"); moto does
not, so that hop is modelled: the header botocore sent on ``Publish`` is what the action receives.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event, merge
from infra.local import action_runners
from stripe_actions.outcomes import ActionOutcome
from tests.integration.conftest import Actions
from tests.support import deliver

ROOT = "1-6750a1b2-0123456789abcdef01234567"
WEBHOOK_SEGMENT = "53995c3f42cd8ad8"
"""The webhook invocation's segment, which Lambda records and names as the header's ``Parent``."""
SNS_SEGMENT = "7b3a1c9e5d2f4a60"
"""The SNS hop's segment, as the trace header SQS delivers names it."""


class Daemon:
    """The X-Ray daemon's UDP port: every segment document sent to it."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def documents(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        self.socket.settimeout(0.2)
        while True:
            try:
                datagram = self.socket.recv(65_536)
            except TimeoutError:
                return found
            preamble, document = datagram.split(b"\n", 1)
            assert json.loads(preamble) == {"format": "json", "version": 1}
            found.append(json.loads(document))


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    listening = Daemon()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", listening.address)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "shop-webhooks")  # botocore copies the header in Lambda
    yield listening
    listening.socket.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def journey_lines() -> Iterator[io.StringIO]:
    """What both functions' loggers write meanwhile (the webhook's, then the action's), as JSON lines."""
    from stripe_actions.observability import logger as actions_logger
    from stripe_webhook.observability import logger as webhook_logger

    buffer = io.StringIO()
    handlers = [logger.registered_handler for logger in (webhook_logger, actions_logger)]
    assert all(isinstance(handler, logging.StreamHandler) for handler in handlers)
    previous = [handler.setStream(buffer) for handler in handlers]  # type: ignore[attr-defined]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)  # type: ignore[attr-defined]


def logged_as_deployed(actions: Actions, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner reports outcomes to the test; the deployed function logs them as well."""
    from stripe_actions.observability import report_outcome

    consumer = actions.runners["fulfil_order"].consumer
    to_the_test = consumer._report

    def report(outcome: ActionOutcome) -> None:
        report_outcome(outcome)
        to_the_test(outcome)

    monkeypatch.setattr(consumer, "_report", report)


def test_a_paid_checkout_is_one_trace_from_the_webhook_to_its_fulfilment(
    actions: Actions, secret: str, daemon: Daemon, journey_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = fresh_event("checkout.session.completed")
    merge(event["data"]["object"], {"id": "cs_test_traced_1"})
    published_with: list[str] = []

    def record_header(**kwargs: Any) -> None:
        published_with.append(_text(kwargs["request"].headers.get("X-Amzn-Trace-Id", "")))

    function_aws.session().register("before-send.sns.Publish", record_header)
    delivered = action_runners.sqs_lambda_event

    def through_traced_sns(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
        lambda_event = delivered(messages, queue_arn)
        for record in lambda_event["Records"]:  # what SNS passed on from the Publish it received
            sent = dict(part.split("=", 1) for part in published_with[-1].split(";"))
            record["attributes"]["AWSTraceHeader"] = f"Root={sent['Root']};Parent={SNS_SEGMENT};Sampled=1"
        return lambda_event

    monkeypatch.setattr(action_runners, "sqs_lambda_event", through_traced_sns)
    logged_as_deployed(actions, monkeypatch)

    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={WEBHOOK_SEGMENT};Sampled=1")
    assert deliver(event, secret).body["status"] == "processed"
    action_invocation = f"Root=1-6750a1b3-fedcba9876543210fedcba98;Parent={'0' * 16};Sampled=1"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", action_invocation)  # the action's own invocation
    outcomes = actions.run("fulfil_order")

    assert actions.lines(outcomes) == [
        "action fulfil_order cs_test_traced_1 done (email to jenny.rosen@example.com)"
    ]
    assert published_with and published_with[0].startswith(f"Root={ROOT};Parent={WEBHOOK_SEGMENT}")
    documents = daemon.documents()
    in_trace = {document["name"]: document for document in documents if document["trace_id"] == ROOT}
    assert {"verify", "claim", "publish", "mark", "fulfil_order"} <= set(in_trace)
    for step in ("verify", "claim", "publish", "mark"):
        assert in_trace[step]["type"] == "subsegment" and in_trace[step]["parent_id"] == WEBHOOK_SEGMENT
        assert in_trace[step]["start_time"] <= in_trace[step]["end_time"]
    for step in ("claim", "publish", "mark", "fulfil_order"):
        annotations = in_trace[step]["annotations"]
        assert annotations["event_id"] == event["id"] and annotations["event_type"] == event["type"]
    action = in_trace["fulfil_order"]
    assert action["parent_id"] == SNS_SEGMENT and "type" not in action and "fault" not in action
    assert in_trace["claim"]["end_time"] <= in_trace["publish"]["start_time"] <= action["start_time"]
    assert event["data"]["object"]["customer_details"]["email"] not in json.dumps(documents)  # never the body

    stored = actions.aws.queries.get_item(f"EVENT#{event['id']}", "EVENT")
    assert stored is not None and stored["trace_id"] == ROOT
    journey = [json.loads(line) for line in journey_lines.getvalue().splitlines()]
    about_the_event = [line for line in journey if line.get("event_id") == event["id"]]
    assert {line["message"] for line in about_the_event} >= {"event processed", "action done"}
    assert all(line["trace_id"] == ROOT for line in about_the_event)
    assert all(line["correlation_id"] == event["id"] for line in about_the_event)


def test_nothing_is_sent_for_a_trace_that_is_not_sampled_and_the_event_is_processed_alike(
    actions: Actions, secret: str, daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={WEBHOOK_SEGMENT};Sampled=0")
    event = fresh_event("customer.subscription.created")

    assert deliver(event, secret).body["status"] == "processed"

    assert daemon.documents() == []


def test_a_step_that_fails_is_a_fault_in_its_trace(
    actions: Actions, secret: str, daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.faults import Fault, FaultInjector

    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={WEBHOOK_SEGMENT};Sampled=1")
    event = fresh_event("invoice.paid")
    FaultInjector({"sns.Publish": Fault("Throttling", 400)}).install(function_aws.session())

    assert deliver(event, secret).status == 503

    documents = {document["name"]: document for document in daemon.documents()}
    assert documents["publish"]["fault"] is True
    assert documents["publish"]["annotations"]["event_id"] == event["id"]
    assert "fault" not in documents["claim"] and "mark" not in documents


def test_a_poison_message_after_a_good_one_names_no_event_in_its_log_line(
    actions: Actions, secret: str, journey_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_as_deployed(actions, monkeypatch)
    event = fresh_event("checkout.session.completed")
    merge(event["data"]["object"], {"id": "cs_test_traced_2"})
    assert deliver(event, secret).body["status"] == "processed"
    queue = actions.resources.queues["fulfil_order"].queue_url
    actions.aws.sqs.send_message(QueueUrl=queue, MessageBody="not an event")

    outcomes = actions.run("fulfil_order", rounds=1)

    assert sorted(outcome.status for outcome in outcomes) == ["done", "poison"]
    lines = [json.loads(line) for line in journey_lines.getvalue().splitlines()]
    (poison,) = [line for line in lines if line["message"] == "action poison"]
    assert poison.get("event_id", "") == "" and "correlation_id" not in poison  # not the checkout's
