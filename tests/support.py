"""Helpers the tests share: deliver a request to the real handler, read the table and the queue."""

from __future__ import annotations

import base64
import importlib
import json
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import boto3

from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from infra.lambda_context import LambdaContext
from infra.local.apigw import proxy_event
from stripe_webhook.adapters.dynamo_items import from_item


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    raw_body: str


def invoke(request: dict[str, Any], timeout_seconds: float | None = None) -> Response:
    """The function's answer; ``timeout_seconds``: what the invocation has left (default: all of it)."""
    from stripe_webhook.app import lambda_handler

    context = LambdaContext() if timeout_seconds is None else LambdaContext(timeout_seconds=timeout_seconds)
    result = lambda_handler(request, context)
    return Response(result["statusCode"], json.loads(result["body"]), result["body"])


def signed_request(
    body: bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    header_name: str = "Stripe-Signature",
    header: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0"}
    headers[header_name] = header if header is not None else signature_header(body, secret, timestamp)
    request = proxy_event("POST", "/webhook", headers, body)
    if base64_body:
        request["body"] = base64.b64encode(body).decode("ascii")
        request["isBase64Encoded"] = True
    return request


PARTNER_SOURCE = "aws.partner/stripe.com/ed_test_61RBzOw9Yb6kG1GAp16RBzOw9Yb6kG1GA"


def eventbridge(event: dict[str, Any]) -> dict[str, Any]:
    """An event as Stripe's EventBridge destination delivers it."""
    return {
        "version": "0",
        "id": "5c8f4e1a-9b2d-4c3e-8f7a-1b2c3d4e5f60",
        "detail-type": event.get("type", "unknown"),
        "source": PARTNER_SOURCE,
        "account": "123456789012",
        "time": "2026-11-27T05:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": event,
    }


def large_invoice(size: int, event_type: str = "invoice.finalized") -> dict[str, Any]:
    """An invoice event of about ``size`` bytes as Stripe encodes it, that compresses poorly: many
    lines, each with a long random description (a usage-billed invoice with detailed lines)."""
    event = fresh_event(event_type)
    lines = event["data"]["object"]["lines"]
    template = lines["data"][0]
    base = len(encode(event)) - len(json.dumps(template, indent=2))

    def line(index: int) -> dict[str, Any]:
        return dict(
            template, id=f"il_{index:024d}", description=base64.b64encode(secrets.token_bytes(3000)).decode()
        )

    per_line = len(json.dumps(line(0), indent=6)) + 2  # nested three levels deep in the event
    lines["data"] = [line(index) for index in range(max(1, (size - base) // per_line))]
    lines["total_count"] = len(lines["data"])
    return event


def deliver(
    event: dict[str, Any] | bytes, secret: str, *, timeout_seconds: float | None = None, **options: Any
) -> Response:
    body = event if isinstance(event, bytes) else encode(event)
    return invoke(signed_request(body, secret, **options), timeout_seconds)


@dataclass(frozen=True)
class Message:
    body: str
    attributes: dict[str, str]

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def drain(sqs: Any, queue_url: str) -> list[Message]:
    """Every message currently on the queue (raw SNS delivery), deleting as it reads."""
    messages: list[Message] = []
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        batch = response.get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            attributes = {
                name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()
            }
            messages.append(Message(message["Body"], attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def extended_sqs_client(endpoint: str | None = None) -> Any:
    """An SQS client from ``amazon-sqs-extended-client``: it resolves pointer messages from S3.

    Importing the library replaces ``boto3.Session`` process-wide; the originals are put back so
    only this client has the extension. ``endpoint``: an AWS endpoint for both SQS and S3."""
    saved = (boto3.Session, boto3.DEFAULT_SESSION)
    try:
        library = importlib.import_module("sqs_extended_client")
        session = library.SQSExtendedClientSession(region_name="us-east-1")
    finally:
        setattr(boto3, "Session", saved[0])  # noqa: B010 (mypy: a class cannot be assigned to)
        setattr(boto3.session, "Session", saved[0])  # noqa: B010
        boto3.DEFAULT_SESSION = saved[1]
    sqs = session.client("sqs", endpoint_url=endpoint)
    if endpoint is not None:
        sqs.s3_client = session.client("s3", endpoint_url=endpoint)
    return sqs


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def free_port() -> int:
    """A port free on loopback now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_item(dynamodb: Any, table: str, pk: str, sk: str) -> dict[str, Any] | None:
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return from_item(item) if item else None


def all_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    return [from_item(item) for item in dynamodb.scan(TableName=table).get("Items", [])]
