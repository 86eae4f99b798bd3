"""The API Gateway edge: a REST proxy request in, an HTTP response out.

The only module that knows API Gateway's request shape (read through Powertools'
``APIGatewayProxyEvent``) and the HTTP contract: the body size cap, the raw body, the
signature header, and the one table from typed errors to statuses (``STATUS``).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from stripe_webhook import composition, processing, signature
from stripe_webhook.errors import (
    ConfigurationError,
    EventInProgress,
    HandlerError,
    InvalidPayload,
    PayloadTooLarge,
    RetryableFailure,
    SignatureError,
    ThinEventsDisabled,
    WebhookError,
)
from stripe_webhook.events import StripeEvent, parse_event, parse_thin_event
from stripe_webhook.observability import count
from stripe_webhook.settings import get_settings

SIGNATURE_HEADER = "stripe-signature"
THIN_RESOURCE = "/webhook/thin"

STATUS: tuple[tuple[type[WebhookError], int], ...] = (
    (PayloadTooLarge, 413),
    (ThinEventsDisabled, 404),
    (SignatureError, 400),
    (InvalidPayload, 400),
    (EventInProgress, 409),
    (ConfigurationError, 500),
    (HandlerError, 500),
    (RetryableFailure, 503),
)
"""Typed error → HTTP status; the first matching class wins, anything else is a 500."""


def handle(request: APIGatewayProxyEvent) -> dict[str, Any]:
    """Answer ``POST /webhook`` or ``POST /webhook/thin``."""
    count("RequestsReceived")
    try:
        outcome = processing.process(verified_event(request))
    except WebhookError as error:
        status = status_for(error)
        processing.report_failure(error, status=status)
        return response(status, {"error": error.code, "message": error.message})
    return response(200, {"received": True, **processing.outcome_body(outcome)})


def verified_event(request: APIGatewayProxyEvent) -> StripeEvent:
    settings = get_settings()
    thin = request.get("resource") == THIN_RESOURCE
    raw = raw_body(request, settings.max_body_bytes)
    header = signature_header(request)
    secrets = composition.components().signing_secrets(thin=thin)
    try:
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    except SignatureError as error:
        if error.code != "signature_mismatch" or not secrets.refresh_after_mismatch():
            raise
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    return parse_thin_event(raw) if thin else parse_event(raw)


def raw_body(request: APIGatewayProxyEvent, limit: int) -> bytes:
    """The bytes Stripe signed: the body as sent, base64-decoded when API Gateway encoded it."""
    body = request.body or ""
    if not isinstance(body, str):
        raise InvalidPayload("invalid_payload", "request body is not text")
    # A base64 body is 4/3 the size of its bytes: check before decoding anything.
    encoded_limit = limit * 4 // 3 + 4 if request.is_base64_encoded else limit * 4
    if len(body) > encoded_limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    if request.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayload("invalid_payload", "body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    return raw


def signature_header(request: APIGatewayProxyEvent) -> str | None:
    """``Stripe-Signature`` in any letter case, from ``headers`` or else ``multiValueHeaders``."""
    value = request.headers.get(SIGNATURE_HEADER)
    if value is None:
        values = request.multi_value_headers.get(SIGNATURE_HEADER)
        value = values[0] if isinstance(values, list) and values else None
    return value if isinstance(value, str) else None


def status_for(error: WebhookError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }
