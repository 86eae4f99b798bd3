"""``ActionOutcome``: what happened to one action for one message. Its one home: the consumer makes
outcomes, ``observability`` logs and counts them, the local stack prints them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionOutcome:
    """What happened to one action for one message (or to a message no action could read)."""

    action: str
    key: str
    status: str
    """done | skipped | waiting | busy | refused | failed | uncertain | poison"""
    detail: str
    event_id: str = ""
    event_type: str = ""
    error: Exception | None = field(default=None, compare=False, repr=False)
    """What a failed action raised (its class and frames are logged, never its message; the local
    stack prints it whole)."""
    receive: int = 0
    """The message's receive count (SQS's ``ApproximateReceiveCount``). An outcome other
    than done or skipped at the queue's ``maxReceiveCount`` sent the message to the dead-letter queue."""

    def line(self) -> str:
        if self.status == "poison":
            return f"message {self.key} poison: {self.detail}"
        if self.status == "done":
            return f"action {self.action} {self.key} done ({self.detail})"
        return f"action {self.action} {self.key} {self.status}: {self.detail}"
