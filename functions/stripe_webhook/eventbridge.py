"""The EventBridge edge: an event from Stripe's EventBridge destination, no HTTP.

AWS authenticated the partner source, so there is no signature to check. The detail is a v1
snapshot event, or a v2 thin event notification (``"object": "v2.core.event"``, the thin payload
style), which takes the thin-event path. Every failure raises, so Lambda's retries and then the
dead-letter queue take over: a detail that is no Stripe event is counted (``RejectedEvents``,
alarmed) and lands in the dead-letter queue for a person to look at, never silently dropped.
"""

from __future__ import annotations

import json
from typing import Any

from stripe_webhook import processing
from stripe_webhook.errors import InvalidPayload, WebhookError
from stripe_webhook.events import THIN_EVENT_OBJECT, parse_event, parse_thin_event
from stripe_webhook.observability import count, logger

SOURCE_PREFIX = "aws.partner/stripe.com"


def is_stripe_event(event: dict[str, Any]) -> bool:
    return str(event.get("source", "")).startswith(SOURCE_PREFIX) and "detail" in event


def handle(delivery: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
    """One EventBridge event whose ``detail`` is the Stripe event (see ``is_stripe_event``)."""
    count("EventBridgeEventsReceived")
    detail = delivery["detail"]
    raw = json.dumps(detail, separators=(",", ":")).encode("utf-8")
    thin = isinstance(detail, dict) and detail.get("object") == THIN_EVENT_OBJECT
    try:
        stripe_event = parse_thin_event(raw) if thin else parse_event(raw)
    except InvalidPayload as error:
        count("RejectedEvents")
        logger.error(error.message, extra={"error": error.code, "eventbridge_id": delivery.get("id")})
        raise
    try:
        outcome = processing.process(stripe_event, deadline)
    except WebhookError as error:
        processing.report_failure(error)
        raise
    return processing.outcome_body(outcome)
