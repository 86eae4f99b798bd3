"""The actions function's one logger and one metrics collector (Powertools), and what it logs and
counts about each outcome (``report_outcome``), as ``stripe_webhook.observability`` does for the
webhook. The service name is the function's ``POWERTOOLS_SERVICE_NAME`` (``<stack>-<action>``)."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from contract import METRICS_NAMESPACE

if TYPE_CHECKING:
    from contract.tracing import TraceHeader
    from stripe_actions.outcomes import ActionOutcome

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def publish_count(name: str) -> None:
    """Add one to the metric ``name`` and publish it now: most invocations have none to publish,
    so the function does not flush metrics at every end (Powertools would warn of an empty set)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def start_message(event_id: str | None, trace: TraceHeader | None) -> None:
    """Tag every log line about one message with its event (the correlation id, as the webhook
    tags its own; None until the message is read) and the event's trace (``trace_id``: the trace
    its delivery started). Powertools leaves out a key whose value is None."""
    logger.set_correlation_id(event_id)
    logger.append_keys(event_id=event_id, trace_id=trace.root if trace is not None else None)


def record_left_out(reason: str) -> None:
    """A message's ``record`` attribute could not be used (``messages.carried_record``): the record
    is read instead, and the line says why."""
    logger.warning("message record left out; read instead", extra={"reason": reason})


MAX_FRAMES_CHARS = 8_000
LOGGED_AS_ERRORS = frozenset({"uncertain", "poison", "failed"})
"""The outcomes logged at ERROR (the console looks for dead letters among them)."""


def outcome_fields(outcome: ActionOutcome) -> dict[str, str | int]:
    """An outcome's logged fields (the console reads them back from the actions' log groups). What
    a performed action says (``done``'s detail, e.g. the address a receipt went to) may be personal
    data and is not logged; why an action waited or failed is our own wording or an exception's
    class, and is."""
    fields: dict[str, str | int] = {
        "action": outcome.action,
        "business_key": outcome.key,
        "outcome": outcome.status,
        "event_id": outcome.event_id,
        "event_type": outcome.event_type,
        "receive_count": outcome.receive,
    }
    if outcome.status not in ("done", "skipped"):
        fields["reason"] = outcome.detail
    return fields


def _where(error: BaseException | None) -> dict[str, str]:
    """Where a failure happened: its class and the frames of its traceback (file, line, code),
    never its message, which may carry personal data (SES's refusal names the recipient)."""
    if error is None:
        return {}
    frames = "".join(traceback.format_tb(error.__traceback__))
    return {"exception_name": type(error).__name__, "stack_frames": frames[-MAX_FRAMES_CHARS:]}


def report_outcome(outcome: ActionOutcome) -> None:
    """One structured line per outcome (``outcome_fields``), and its metric."""
    fields = outcome_fields(outcome)
    if outcome.status == "uncertain":
        publish_count("ActionsUncertain")
        logger.error("action uncertain", extra=fields)
    elif outcome.status == "poison":  # it fails every receive, then waits in the dead-letter queue
        publish_count("PoisonMessages")
        logger.error("action poison", extra={**fields, **_where(outcome.error)})
    elif outcome.status in LOGGED_AS_ERRORS:
        logger.error(f"action {outcome.status}", extra={**fields, **_where(outcome.error)})
    elif outcome.status == "refused":  # recorded REFUSED in the effect ledger: never retried
        logger.warning("action refused", extra=fields)
    else:
        logger.info(f"action {outcome.status}", extra=fields)
