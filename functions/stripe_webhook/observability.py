"""The function's one logger and one metrics collector (Powertools), shared by both edges."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

METRICS_NAMESPACE = "StripeWebhooks"

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def count(name: str) -> None:
    """Add one to the metric ``name`` (flushed as EMF when the invocation ends)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
