"""The step both delivery paths share: hand a parsed event to the pipeline, then log and count.

The API Gateway edge (``api_gateway.py``) and the EventBridge edge (``eventbridge.py``) differ
in how an event arrives and how a failure is answered; what happens to the event, and what is
logged and counted about it, is the same and lives here.
"""

from __future__ import annotations

from typing import Any

from stripe_webhook import composition
from stripe_webhook.errors import EventInProgress, RequestRejected, SignatureError, WebhookError
from stripe_webhook.events import StripeEvent
from stripe_webhook.observability import count, logger
from stripe_webhook.pipeline import Outcome


def process(event: StripeEvent, deadline: float | None) -> Outcome:
    """``deadline``: wall-clock time when this invocation will be stopped (see ``budget``)."""
    logger.set_correlation_id(event.id)
    logger.append_keys(event_id=event.id, event_type=event.type)
    outcome = composition.components().pipeline.process(event, deadline=deadline)
    if outcome.status == "duplicate":
        count("DuplicateEvents")
    else:
        count("EventsProcessed")
        if outcome.handler is None:
            count("UnhandledEvents")
        if outcome.records_uncertain:
            count("OrderUncertain")
    if outcome.possible_duplicate:
        count("PossibleDuplicatePublished")
        logger.warning(
            "event published with possible_duplicate=true: an earlier publish of it may have reached SNS",
            extra={"sns_message_id": outcome.message_id},
        )
    if not outcome.marked_published:
        count("PublishedNotMarked")
        logger.error(
            "event published but not marked published; a redelivery may publish it again",
            extra={"sns_message_id": outcome.message_id},
        )
    logger.info("event " + outcome.status, extra=outcome_body(outcome))
    return outcome


def report_failure(error: WebhookError, **details: Any) -> None:
    """Log and count a failure: a warning for a bad request or a busy event, else an error (traceback)."""
    details = {"error": error.code, **details}
    if isinstance(error, SignatureError):
        count("SignatureFailures")
    if isinstance(error, RequestRejected | EventInProgress):
        logger.warning(error.message, extra=details)
    else:
        count("ProcessingFailures")
        logger.exception(error.message, extra=details)


def outcome_body(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "event_id": outcome.event_id,
        "event_type": outcome.event_type,
        "handler": outcome.handler,
        "records_written": outcome.records_written,
        "records_stale": outcome.records_stale,
        "message_id": outcome.message_id,
    }
