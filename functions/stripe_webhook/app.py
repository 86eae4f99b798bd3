"""Lambda entry point: Powertools' logging and metrics around one call per delivery path.

The composition root builds the container's components once (``composition.components``); they
are handed to the edge the delivery came through, and the edge calls ``components.pipeline``,
where the order of steps lives (``pipeline.py``):

    API Gateway  → ``api_gateway.handle``  (verify the signature, process, answer HTTP)
    EventBridge  → ``eventbridge.handle``  (process; a failure raises so Lambda retries)

``reconcile`` is the scheduled reconciler function's entry point (``reconciler.py``): one run
over what Stripe's Events API lists as undelivered.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from contract import tracing
from stripe_webhook import composition, snapstart
from stripe_webhook.edges import api_gateway, eventbridge
from stripe_webhook.observability import logger, metrics, report_reconciliation

snapstart.register()  # with SnapStart on: per-container state is made again after a restore


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    components = composition.components()
    if eventbridge.is_stripe_event(event):
        return eventbridge.handle(event, components, deadline)
    return api_gateway.handle(api_gateway.ProxyRequest.of(event), components, deadline)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    with tracing.span("reconcile"):  # each event it recovers adds its own steps' spans
        report = composition.components().reconciler.run(deadline)
    report_reconciliation(report)
    return report.summary()
