"""The event table as the write path sends to it (``Table``), and how a write is tried again.

DynamoDB refuses a write to an item that an in-flight transaction holds: a transaction is
cancelled with the reason ``TransactionConflict``, a single-item write fails with
``TransactionConflictException``, and botocore's standard retry mode retries neither. The store
retries them up to ``CONFLICT_RETRIES`` more times, with jittered exponential backoff from 50 ms
(under 0.4 s in all). Every write it makes is conditioned on the item's absence or on the claim
token, so repeating one is safe; once the other transaction has landed, the retry sees what it
wrote. (Amazon DynamoDB Developer Guide, "Transaction conflict handling in DynamoDB".)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contract.aws import error_code
from stripe_webhook.core import budget
from stripe_webhook.errors import StorageError

CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_SECONDS = 0.05
CONFLICT_PERSISTED = "DynamoDB kept reporting a conflicting transaction"


def backoff(retry: int) -> float:
    """Jittered exponential backoff from ``CONFLICT_BACKOFF_SECONDS`` before the ``retry``-th re-send."""
    return CONFLICT_BACKOFF_SECONDS * (1 << retry) * random.uniform(0.5, 1.0)  # noqa: S311


def is_conflict(error: ClientError) -> bool:
    """DynamoDB's "another transaction holds this item" in either of its two shapes."""
    code = error_code(error)
    if code == "TransactionConflictException":
        return True
    reasons = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "TransactionConflict" for reason in reasons
    )


class Waits:
    """The pauses between attempts, on an injectable clock and sleep (tests move time)."""

    def __init__(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> None:
        self.sleep = sleep
        self.clock = clock

    def after_conflict(self, conflicts: int) -> bool:
        """After a conflict with another transaction: back off and say True while retries remain."""
        if conflicts >= CONFLICT_RETRIES:
            return False
        self.sleep(backoff(conflicts))
        return True

    def before_round(self, rounds: int, limit: int, deadline: float | None) -> bool:
        """Back off and say True if another round (of ``limit``) and a whole call fit before ``deadline``."""
        if deadline is None or rounds >= limit:
            return False
        pause = backoff(rounds)
        if self.clock() + pause + budget.CALL_BUDGET_SECONDS > deadline:
            return False
        self.sleep(pause)
        return True


@dataclass(frozen=True)
class Table:
    """What the claim (``claim.py``) and the lease (``lease.py``) write to: the event table's
    client and name, how long a lease and an event-log item last, and the waits between tries."""

    client: Any
    name: str
    lease_seconds: int
    retention_seconds: int
    waits: Waits

    def send(self, operation: str, **request: Any) -> Any:
        """One write (``put_item``, ``transact_write_items``, ``update_item``), its conflicts
        retried (``through_conflicts``)."""
        return through_conflicts(lambda: getattr(self.client, operation)(**request), self.waits)


def through_conflicts(send: Callable[[], Any], waits: Waits) -> Any:
    """``send()``'s answer, sent again while DynamoDB reports a conflicting transaction and
    ``waits.after_conflict`` allows; ``StorageError`` once the conflict persists, or when DynamoDB
    cannot be reached. Any other refusal (a ``ClientError``) is raised for the caller to read."""
    conflicts = 0
    answer = _answer_of(send)
    while isinstance(answer, ClientError) and is_conflict(answer) and waits.after_conflict(conflicts):
        conflicts += 1
        answer = _answer_of(send)
    if isinstance(answer, ClientError):
        if is_conflict(answer):
            raise StorageError("storage_conflict", CONFLICT_PERSISTED) from answer
        raise answer
    return answer


def _answer_of(send: Callable[[], Any]) -> Any:
    try:
        return send()
    except ClientError as refused:
        return refused
    except BotoCoreError as error:
        raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error
