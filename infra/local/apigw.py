"""Turn an HTTP request into the API Gateway (REST, v1) proxy event the function receives."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from typing import Any

from stripe_webhook.budget import FUNCTION_TIMEOUT_SECONDS


def proxy_event(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    resource: str = "/webhook",
    stage: str = "local",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event ``sam local start-api`` would build: text bodies as text, anything else base64."""
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
            "protocol": "HTTP/1.1",
        },
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": text is None,
    }


class LocalContext:
    """Enough of the Lambda context object for Powertools and the handler."""

    function_name = "stripe-webhooks-local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:stripe-webhooks-local"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/stripe-webhooks-local"
    log_stream_name = "local"

    def __init__(self, timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
