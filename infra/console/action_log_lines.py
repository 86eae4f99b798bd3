"""What the actions logged: each outcome's line (``stripe_actions.observability.outcome_fields``) in
its function's log group, read back with ``FilterLogEvents``, at most ``MAX_LOG_LINES`` a read.

Dead-lettered messages are found here, not in the queue: SQS has no peek, and a receive spends a
message's receive count. An outcome other than done at the queue's ``maxReceiveCount`` sent the
message to the dead-letter queue; one an action finished since (after a redrive) is not listed.
"""

from __future__ import annotations

import json
import time
from typing import Any

MAX_LOG_LINES = 500
MAX_DEAD_LETTERED = 50
DEAD_LETTER_DAYS = 14
"""The dead-letter queues keep a message 14 days (``infra/modules/queue.yaml``)."""
SETTLED = ("done", "skipped")


class ActionLogLines:
    def __init__(self, client: Any, groups: dict[str, str]) -> None:
        self.client, self.groups = client, groups

    def outcomes(self, event_id: str, since: int) -> list[dict[str, Any]]:
        """What each action logged about the event, oldest first."""
        found = []
        start = max(since - 60, 0) * 1000
        for action, group in sorted(self.groups.items()):
            for line in self.lines(group, f'"{event_id}"', start):
                if line.get("event_id") == event_id:
                    found.append({"function": action, **_outcome(line)})
        return sorted(found, key=lambda outcome: outcome["time"])

    def dead_lettered(self, group: str, max_receives: int | None) -> list[dict[str, Any]]:
        """The messages an action's log says went to its dead-letter queue (an ERROR line at the
        queue's ``maxReceiveCount``), less those an action finished since (a redrive)."""
        if max_receives is None:
            return []
        start = int(time.time() - DEAD_LETTER_DAYS * 86_400) * 1000
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.lines(group, "ERROR", start):
            if int(line.get("receive_count") or 0) >= max_receives:
                last[(str(line.get("action")), str(line.get("event_id") or line.get("business_key")))] = line
        found = []
        for (action, key), line in list(last.items())[-MAX_DEAD_LETTERED:]:
            later = self.lines(group, f'"{key}"', int(line["time"]) * 1000)
            if not any(other.get("action") == action and other.get("outcome") in SETTLED for other in later):
                found.append(_outcome(line))
        return found

    def lines(self, group: str, pattern: str, start_ms: int) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        from contract.aws import error_code

        lines: list[dict[str, Any]] = []
        request: dict[str, Any] = {"logGroupName": group, "filterPattern": pattern, "startTime": start_ms}
        try:
            while len(lines) < MAX_LOG_LINES:
                answer = self.client.filter_log_events(**request)
                for event in answer.get("events", []):
                    try:
                        fields = json.loads(event["message"])
                    except ValueError:
                        continue
                    if isinstance(fields, dict):
                        lines.append({**fields, "time": int(event.get("timestamp", 0)) // 1000})
                if not answer.get("nextToken"):
                    break
                request["nextToken"] = answer["nextToken"]
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
        return lines[-MAX_LOG_LINES:]


def _outcome(line: dict[str, Any]) -> dict[str, Any]:
    return {
        name: line.get(name)
        for name in (
            "time",
            "action",
            "business_key",
            "outcome",
            "event_id",
            "event_type",
            "reason",
            "receive_count",
        )
    }
