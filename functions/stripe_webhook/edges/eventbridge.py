"""The EventBridge edge: an event from Stripe's EventBridge destination, no HTTP.

AWS authenticated the partner source, so there is no signature to check. The detail is a v1
snapshot event, or a v2 thin event notification (``"object": "v2.core.event"``, the thin payload
style), which takes the thin-event path. Every failure raises, so Lambda's retries and then the
dead-letter queue take over: a detail that is no Stripe event is counted (``RejectedEvents``,
alarmed) and lands in the dead-letter queue for a person to look at, never silently dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stripe_webhook.core.events import THIN_EVENT_OBJECT, parse_event, parse_thin_event
from stripe_webhook.errors import InvalidPayload, WebhookError
from stripe_webhook.observability import (
    count,
    logger,
    outcome_body,
    report_failure,
    report_outcome,
    start_event,
)

if TYPE_CHECKING:
    from stripe_webhook.composition import Components

SOURCE_PREFIX = "aws.partner/stripe.com"


def is_stripe_event(event: dict[str, Any]) -> bool:
    return str(event.get("source", "")).startswith(SOURCE_PREFIX) and "detail" in event


def handle(delivery: dict[str, Any], components: Components, deadline: float | None = None) -> dict[str, Any]:
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
    start_event(stripe_event)
    try:
        outcome = components.pipeline.process(stripe_event, deadline=deadline)
    except WebhookError as error:
        report_failure(error)
        raise
    report_outcome(outcome)
    return outcome_body(outcome)
