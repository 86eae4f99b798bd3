"""Lambda entry point: API Gateway proxy event in, HTTP response out.

The only module that knows about API Gateway. It reads the raw body and the
signature header, verifies, parses, hands the event to the pipeline, and maps
typed errors to HTTP statuses in one table (``_STATUS``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from stripe_webhook import signature
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
from stripe_webhook.pipeline import Outcome, Pipeline
from stripe_webhook.settings import Settings, get_settings, parse_api_key
from stripe_webhook.signing_secrets import SigningSecrets

METRICS_NAMESPACE = "StripeWebhooks"
SIGNATURE_HEADER = "stripe-signature"

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

THIN_RESOURCE = "/webhook/thin"
EVENTBRIDGE_SOURCE_PREFIX = "aws.partner/stripe.com"

_STATUS: tuple[tuple[type[WebhookError], int], ...] = (
    (PayloadTooLarge, 413),
    (ThinEventsDisabled, 404),
    (SignatureError, 400),
    (InvalidPayload, 400),
    (EventInProgress, 409),
    (ConfigurationError, 500),
    (HandlerError, 500),
    (RetryableFailure, 503),
)


@functools.cache
def _signing_secrets(thin: bool = False) -> SigningSecrets:
    """The snapshot endpoint's secrets, or (``thin``) the thin-event endpoint's."""
    settings = get_settings()
    inline, arn = (
        (settings.thin_webhook_secrets, settings.thin_webhook_secret_arn)
        if thin
        else (settings.webhook_secrets, settings.webhook_secret_arn)
    )
    if thin and not inline and not arn:
        raise ThinEventsDisabled("thin_events_disabled", "this stack does not accept thin events")
    return SigningSecrets(inline=inline, secret_arn=arn, max_age=settings.secret_cache_seconds)


def _stripe_api_key() -> str:
    settings = get_settings()
    if settings.stripe_api_key:
        return parse_api_key(settings.stripe_api_key, "STRIPE_API_KEY")[0]
    if not settings.stripe_api_key_secret_arn:
        raise ConfigurationError(
            "missing_api_key", "a handler needs the full thin event: set a Stripe API key"
        )
    return _api_key_secret().current()[0]


@functools.cache
def _api_key_secret() -> SigningSecrets:
    settings = get_settings()
    return SigningSecrets(
        inline=(),
        secret_arn=settings.stripe_api_key_secret_arn,
        max_age=settings.secret_cache_seconds,
        parse=parse_api_key,
    )


@functools.cache
def _pipeline() -> Pipeline:
    import stripe_webhook.handlers  # noqa: F401  (registers every handler module)
    from stripe_webhook.publisher import SnsPublisher
    from stripe_webhook.routing import registry
    from stripe_webhook.store import DynamoStore
    from stripe_webhook.stripe_api import StripeApi

    settings = get_settings()
    store = DynamoStore(
        settings.table_name,
        lease_seconds=settings.lease_seconds,
        retention_seconds=settings.retention_days * 86_400,
    )
    stripe_api = StripeApi(_stripe_api_key, settings.stripe_api_base)
    return Pipeline(registry, store, SnsPublisher(settings.topic_arn), full_event=stripe_api.full_event)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if str(event.get("source", "")).startswith(EVENTBRIDGE_SOURCE_PREFIX) and "detail" in event:
        return handle_eventbridge(event)
    return handle(event)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one API Gateway proxy request (``POST /webhook`` or ``POST /webhook/thin``)."""
    metrics.add_metric(name="RequestsReceived", unit=MetricUnit.Count, value=1)
    try:
        settings = get_settings()
        stripe_event = _verified_event(request, settings, thin=request.get("resource") == THIN_RESOURCE)
        outcome = _process(stripe_event)
    except WebhookError as error:
        return _error_response(error)
    return _response(200, {"received": True, **_outcome_body(outcome)})


def handle_eventbridge(delivery: dict[str, Any]) -> dict[str, Any]:
    """An event from Stripe's EventBridge destination: AWS authenticated the source, so no signature.

    Retryable failures raise, so Lambda's and EventBridge's retries (then the dead-letter queue)
    take over; a payload that is not an event is logged and dropped, as retrying cannot help.
    """
    metrics.add_metric(name="EventBridgeEventsReceived", unit=MetricUnit.Count, value=1)
    detail = delivery.get("detail")
    try:
        stripe_event = parse_event(json.dumps(detail, separators=(",", ":")).encode("utf-8"))
    except InvalidPayload as error:
        metrics.add_metric(name="RejectedEvents", unit=MetricUnit.Count, value=1)
        logger.error(error.message, extra={"error": error.code, "eventbridge_id": delivery.get("id")})
        return {"status": "rejected", "error": error.code}
    try:
        outcome = _process(stripe_event)
    except WebhookError as error:
        _error_response(error)  # the same metrics and logs as the webhook path
        raise
    return _outcome_body(outcome)


def _process(stripe_event: StripeEvent) -> Outcome:
    logger.set_correlation_id(stripe_event.id)
    logger.append_keys(event_id=stripe_event.id, event_type=stripe_event.type)
    outcome = _pipeline().process(stripe_event)
    _record_outcome(outcome)
    return outcome


def _verified_event(request: dict[str, Any], settings: Settings, *, thin: bool) -> StripeEvent:
    raw = _raw_body(request, settings.max_body_bytes)
    header = _header(request, SIGNATURE_HEADER)
    secrets = _signing_secrets(thin)
    try:
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    except SignatureError as error:
        if error.code != "signature_mismatch" or not secrets.refresh_after_mismatch():
            raise
        signature.verify(raw, header, secrets.current(), time.time(), settings.tolerance_seconds)
    return parse_thin_event(raw) if thin else parse_event(raw)


def _raw_body(request: dict[str, Any], limit: int) -> bytes:
    body = request.get("body") or ""
    if not isinstance(body, str):
        raise InvalidPayload("invalid_payload", "request body is not text")
    # A base64 body is 4/3 the size of its bytes: check before decoding anything.
    encoded_limit = limit * 4 // 3 + 4 if request.get("isBase64Encoded") else limit * 4
    if len(body) > encoded_limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    if request.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayload("invalid_payload", "body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    return raw


def _header(request: dict[str, Any], name: str) -> str | None:
    """Header lookup in any letter case, from ``headers`` or ``multiValueHeaders``."""
    for key, value in (request.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    for key, values in (request.get("multiValueHeaders") or {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(values, list) and values:
            first = values[0]
            return first if isinstance(first, str) else None
    return None


def _status_for(error: WebhookError) -> int:
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 500)


def _error_response(error: WebhookError) -> dict[str, Any]:
    status = _status_for(error)
    details = {"error": error.code, "status": status}
    if isinstance(error, SignatureError):
        metrics.add_metric(name="SignatureFailures", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="ProcessingFailures", unit=MetricUnit.Count, value=1)
        logger.exception(error.message, extra=details)
    else:
        logger.warning(error.message, extra=details)
    return _response(status, {"error": error.code, "message": error.message})


def _record_outcome(outcome: Outcome) -> None:
    if outcome.status == "duplicate":
        metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="EventsProcessed", unit=MetricUnit.Count, value=1)
        if outcome.handler is None:
            metrics.add_metric(name="UnhandledEvents", unit=MetricUnit.Count, value=1)
    if not outcome.marked_published:
        logger.error("event published but not marked published; a redelivery may publish it again")
    logger.info("event " + outcome.status, extra=_outcome_body(outcome))


def _outcome_body(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "event_id": outcome.event_id,
        "event_type": outcome.event_type,
        "handler": outcome.handler,
        "records_written": outcome.records_written,
        "records_stale": outcome.records_stale,
        "message_id": outcome.message_id,
    }


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }
