"""Lambda entry point: Powertools' logging and metrics around one call per delivery path.

API Gateway requests go to ``api_gateway.handle`` (verify, process, answer HTTP); events from
Stripe's EventBridge destination go to ``eventbridge.handle``. Both process the event through
``processing.process``; what is built, and how, is ``composition``'s business.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stripe_webhook import api_gateway, eventbridge
from stripe_webhook.observability import logger, metrics


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    if eventbridge.is_stripe_event(event):
        return eventbridge.handle(event, deadline)
    return api_gateway.handle(api_gateway.ProxyRequest.of(event), deadline)
