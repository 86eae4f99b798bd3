"""The EventBridge edge: an event from Stripe's EventBridge destination, no HTTP.

AWS authenticated the partner source, so there is no signature to check. A retryable failure
raises, so Lambda's and EventBridge's retries (then the dead-letter queue) take over; a detail
that is not a Stripe event is logged and dropped, as retrying cannot help.
"""

from __future__ import annotations

import json
from typing import Any

from stripe_webhook import processing
from stripe_webhook.errors import InvalidPayload, WebhookError
from stripe_webhook.events import parse_event
from stripe_webhook.observability import count, logger

SOURCE_PREFIX = "aws.partner/stripe.com"


def is_stripe_event(event: dict[str, Any]) -> bool:
    return str(event.get("source", "")).startswith(SOURCE_PREFIX) and "detail" in event


def handle(delivery: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
    """One EventBridge event whose ``detail`` is the Stripe event (see ``is_stripe_event``)."""
    count("EventBridgeEventsReceived")
    try:
        stripe_event = parse_event(json.dumps(delivery["detail"], separators=(",", ":")).encode("utf-8"))
    except InvalidPayload as error:
        count("RejectedEvents")
        logger.error(error.message, extra={"error": error.code, "eventbridge_id": delivery.get("id")})
        return {"status": "rejected", "error": error.code}
    try:
        outcome = processing.process(stripe_event, deadline)
    except WebhookError as error:
        processing.report_failure(error)
        raise
    return processing.outcome_body(outcome)
