"""The actions' log groups on the local stack: each outcome as its deployed function logs it.

A deployed action logs one JSON line per outcome (``stripe_actions.observability.outcome_fields``)
to its log group, where the console finds what the actions did with an event and which messages
went to a dead-letter queue. The local stack writes the same line to the same kind of group on
its AWS side (``/aws/lambda/<queue name>``), so the console reads either one way.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stripe_actions.outcomes import ActionOutcome

LOG_GROUP_PREFIX = "/aws/lambda/"
STREAM = "local"


def log_group(queue_name: str) -> str:
    return f"{LOG_GROUP_PREFIX}{queue_name}"


class ActionLogs:
    """Writes outcomes to an action's log group (created on first use)."""

    def __init__(self, logs: Any) -> None:
        self._logs = logs
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def write(self, group: str, outcome: ActionOutcome) -> None:
        from stripe_actions.observability import LOGGED_AS_ERRORS, outcome_fields

        level = "ERROR" if outcome.status in LOGGED_AS_ERRORS else "INFO"
        line = {"level": level, "message": f"action {outcome.status}", "service": "stripe-actions"}
        self.ensure(group)
        self._logs.put_log_events(
            logGroupName=group,
            logStreamName=STREAM,
            logEvents=[
                {
                    "timestamp": int(time.time() * 1000),
                    "message": json.dumps({**line, **outcome_fields(outcome)}),
                }
            ],
        )

    def ensure(self, group: str) -> None:
        """Create the group and its stream once (a deployed function's group exists before its
        first line)."""
        from botocore.exceptions import ClientError

        from contract.aws import error_code

        with self._lock:
            if group in self._created:
                return
            for create, names in (
                (self._logs.create_log_group, {"logGroupName": group}),
                (self._logs.create_log_stream, {"logGroupName": group, "logStreamName": STREAM}),
            ):
                try:
                    create(**names)
                except ClientError as error:
                    if error_code(error) != "ResourceAlreadyExistsException":
                        raise
            self._created.add(group)
