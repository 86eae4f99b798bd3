"""The function's one logger and one metrics collector (Powertools), and what both edges log and
count about an event: its outcome (``report_outcome``) or its failure (``report_failure``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from stripe_webhook.errors import EventInProgress, RequestRejected, SignatureError, WebhookError

if TYPE_CHECKING:
    from stripe_webhook.events import StripeEvent
    from stripe_webhook.pipeline import Outcome

METRICS_NAMESPACE = "StripeWebhooks"

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

NOT_MARKED = "published_not_marked"
"""The error code of the line logged when an event was published and its mark failed: ``status``
lists those events from it (they stay ``IN_PROGRESS``, never indexed by type)."""


def count(name: str) -> None:
    """Add one to the metric ``name`` (flushed as EMF when the invocation ends)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def start_event(event: StripeEvent) -> None:
    """Tag every log line of this invocation with the event it is about."""
    logger.set_correlation_id(event.id)
    logger.append_keys(event_id=event.id, event_type=event.type)


def report_outcome(outcome: Outcome) -> None:
    """Count and log what the pipeline did with one event."""
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
            extra={"sns_message_id": outcome.message_id, "error": NOT_MARKED},
        )
    logger.info("event " + outcome.status, extra=outcome_body(outcome))


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
    """The outcome as both edges answer and log it."""
    return {
        "status": outcome.status,
        "event_id": outcome.event_id,
        "event_type": outcome.event_type,
        "handler": outcome.handler,
        "records_written": outcome.records_written,
        "records_stale": outcome.records_stale,
        "message_id": outcome.message_id,
    }
