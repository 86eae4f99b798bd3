"""The function's one logger and one metrics collector (Powertools), and what both edges log and
count about an event: its outcome (``report_outcome``) or its failure (``report_failure``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from contract import METRICS_NAMESPACE, tracing
from stripe_webhook.errors import EventInProgress, RequestRejected, SignatureError, WebhookError

if TYPE_CHECKING:
    from stripe_webhook.core.events import StripeEvent
    from stripe_webhook.core.pipeline import EventOutcome
    from stripe_webhook.recovery.reconciliation import Report

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

NOT_MARKED = "published_not_marked"
"""The error code of the line logged when an event was published and its mark failed: ``status``
lists those events from it (they stay ``IN_PROGRESS``, never indexed by type)."""


RECONCILER_METRICS = {
    "EventsRecovered": MetricUnit.Count,
    "EventsSkipped": MetricUnit.Count,
    "ReconcilerFailures": MetricUnit.Count,
    "ReconcilerLagSeconds": MetricUnit.Seconds,
    "StripeEndpointsDisabled": MetricUnit.Count,
    "EventsMissingFromLog": MetricUnit.Count,
    "ThinEventListFailures": MetricUnit.Count,
}
"""What every reconciler run emits (``report_reconciliation``), zeros included, so its alarms see it."""


def count(name: str) -> None:
    """Add one to the metric ``name`` (flushed as EMF when the invocation ends)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def start_event(event: StripeEvent) -> None:
    """Tag every log line of this invocation with the event it is about."""
    logger.set_correlation_id(event.id)
    logger.append_keys(event_id=event.id, event_type=event.type, trace_id=tracing.trace_id())


def report_outcome(outcome: EventOutcome) -> None:
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


def outcome_body(outcome: EventOutcome) -> dict[str, Any]:
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


def report_reconciliation(report: Report) -> None:
    """Count and log one reconciler run: what it recovered, named and failed, its lag, and the
    endpoints Stripe has disabled."""
    if report.busy:
        logger.info("reconciler run skipped: another run holds the lease")
        return
    values = {
        "EventsRecovered": len(report.recovered),
        "EventsSkipped": len(report.skipped),
        "ReconcilerFailures": len(report.failed)
        + (1 if report.error or "complete" in report.sweep_errors else 0),
        "ReconcilerLagSeconds": report.lag_seconds,
        "StripeEndpointsDisabled": len(report.disabled_endpoints),
        "EventsMissingFromLog": len(report.missing),
        "ThinEventListFailures": 1 if "thin" in report.sweep_errors else 0,
    }
    for name, unit in RECONCILER_METRICS.items():
        metrics.add_metric(name=name, unit=unit, value=values[name])
    for event_id in report.recovered:
        logger.warning(
            "event recovered from Stripe's Events API: Stripe did not deliver it",
            extra={"event_id": event_id},
        )
    for event_id in report.missing:
        logger.error(
            "event missing from the log: Stripe holds it, it was neither delivered nor listed as"
            " undelivered; processed now",
            extra={"event_id": event_id, "error": "missing_from_log"},
        )
    for event_id, reason in report.skipped.items():
        logger.error("event skipped by the reconciler", extra={"event_id": event_id, "reason": reason})
    for endpoint in report.disabled_endpoints:
        logger.error(
            "Stripe endpoint is disabled or gone: Stripe sends it nothing",
            extra={"endpoint": endpoint, "error": "endpoint_disabled"},
        )
    for sweep, code in report.sweep_errors.items():
        logger.error("reconciler sweep stopped: the others went on", extra={"sweep": sweep, "error": code})
    if report.backlogged:
        logger.warning(
            "reconciler retries are full: the sweeps wait until failing events are settled or named",
            extra={"error": "reconciler_backlogged"},
        )
    if report.error:
        logger.error("reconciler run failed", extra={"error": report.error})
    logger.info("reconciler run", extra=report.summary())
