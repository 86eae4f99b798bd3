"""Lambda entry point of an actions function: an SQS event source's batch in, partial failures out.

The composition root builds the container's components once (``composition.components``); the
batch goes to ``components.consumer``, where the steps for each message live (``consumer.py``).
The function's ``ACTIONS`` environment variable says which actions it performs; the template
deploys one function per example action, each with its own queue and least-privilege role.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from stripe_actions import composition
from stripe_actions.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return composition.components().consumer.handle(event, context)
