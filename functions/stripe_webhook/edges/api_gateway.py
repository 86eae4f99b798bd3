"""The API Gateway edge: a REST proxy request in, an HTTP response out.

The only module that knows API Gateway's request shape (read once, into ``ProxyRequest``) and
the HTTP contract: the body size cap, the raw body, the signature header, and the one table
from typed errors to statuses (``STATUS``).

Why not Powertools' ``APIGatewayProxyEvent``: importing it loads the whole event-source data
classes package (38 modules), measured at ~26 ms of every cold start for the three fields read
here — a regression ``make bench`` shows. ``ProxyRequest`` reads the same fields, typed.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contract import tracing
from stripe_webhook.core.events import StripeEvent, parse_event, parse_thin_event
from stripe_webhook.edges import signature
from stripe_webhook.errors import (
    ConfigurationError,
    EventInProgress,
    HandlerError,
    InvalidPayload,
    PayloadTooLarge,
    RetryableFailure,
    SignatureError,
    SourceNotAllowed,
    ThinEventsDisabled,
    WebhookError,
)
from stripe_webhook.observability import count, outcome_body, report_failure, report_outcome, start_event

if TYPE_CHECKING:
    from stripe_webhook.composition import Components

SIGNATURE_HEADER = "stripe-signature"
THIN_RESOURCE = "/webhook/thin"

STATUS: tuple[tuple[type[WebhookError], int], ...] = (
    (SourceNotAllowed, 403),
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


@dataclass(frozen=True)
class ProxyRequest:
    """What the webhook reads from an API Gateway proxy event: a REST API's, or an HTTP API's in
    payload format 1.0 (the same fields)."""

    resource: str
    body: object
    """The body as API Gateway gave it: text (base64 when ``is_base64_encoded``), or null."""
    is_base64_encoded: bool
    signature: str | None
    """``Stripe-Signature`` in any letter case, from ``headers`` or else ``multiValueHeaders``."""
    source_ip: str = ""
    """``requestContext.identity.sourceIp``: the caller as API Gateway saw it."""

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> ProxyRequest:
        return cls(
            resource=str(event.get("resource") or ""),
            body=event.get("body"),
            is_base64_encoded=bool(event.get("isBase64Encoded")),
            signature=_header(event.get("headers"), event.get("multiValueHeaders"), SIGNATURE_HEADER),
            source_ip=_source_ip(event.get("requestContext")),
        )


def _source_ip(context: object) -> str:
    identity = context.get("identity") if isinstance(context, dict) else None
    ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    return ip if isinstance(ip, str) else ""


def _header(single: object, multi: object, name: str) -> str | None:
    for key, value in (single if isinstance(single, dict) else {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    for key, values in (multi if isinstance(multi, dict) else {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(values, list) and values:
            first = values[0]
            return first if isinstance(first, str) else None
    return None


def handle(request: ProxyRequest, components: Components, deadline: float | None = None) -> dict[str, Any]:
    """Answer ``POST /webhook`` or ``POST /webhook/thin``; ``deadline``: the wall-clock time when
    this invocation will be stopped (see ``budget``)."""
    count("RequestsReceived")
    try:
        with tracing.span("verify"):
            event = verified_event(request, components)
        start_event(event)
        outcome = components.pipeline.process(event, deadline=deadline)
    except WebhookError as error:
        status = status_for(error)
        report_failure(error, status=status)
        return response(status, {"error": error.code, "message": error.message})
    report_outcome(outcome)
    return response(200, {"received": True, **outcome_body(outcome)})


def verified_event(request: ProxyRequest, components: Components) -> StripeEvent:
    settings = components.settings
    if settings.allowed_networks and not allowed_source(request.source_ip, settings.allowed_networks):
        raise SourceNotAllowed("source_ip_not_allowed", "the caller's address is not allowed")
    thin = request.resource == THIN_RESOURCE
    raw = raw_body(request, settings.max_body_bytes)
    header = request.signature
    secrets = components.signing_secrets(thin=thin)
    try:
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    except SignatureError as error:
        if error.code != "signature_mismatch" or not secrets.refresh_after_mismatch():
            raise
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    return parse_thin_event(raw) if thin else parse_event(raw)


def allowed_source(source_ip: str, networks: tuple[Any, ...]) -> bool:
    """Whether ``source_ip`` is in one of ``networks`` (an unreadable address is not)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in network for network in networks)  # an IPv4 address is in no IPv6 network


def raw_body(request: ProxyRequest, limit: int) -> bytes:
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


def status_for(error: WebhookError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }
