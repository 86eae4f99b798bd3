"""A write action's exactly once in one call: its write and its note that it handled the event.

A write action's whole effect is one conditional put (``actions.Write``), once per business fact
by its own condition (only if new, or only over an older state). The kit keeps, beside it, a note
that the action handled this event (``<prefix>.<action>#event:<event id>`` in the idempotency
table, as long as Powertools' records), written in the same transaction as the put:

    commit   one TransactWriteItems: the put and the note, or neither. The note's condition
             refusing means a repeat (1 call in all); the put's refusing means the fact is done
             already, or a newer state is stored: nothing is written, and the outcome says so.

An action that decides on the object's record gets it one of two ways:

    carried  the message carries the record as this event's delivery wrote it
             (``contract.RECORD``): the commit also checks (``ConditionCheck``) that the stored
             record is still that one (``contract.records.WRITE_MARKS``, not ``order_uncertain``).
             If it moved on, its refusal returns the stored record (``ALL_OLD``): the action
             decides again on it, and commits without the check (2 calls)
    read     otherwise one BatchGetItem first: the note and the record (consistent reads); a
             repeated message ends there (1 call), a new one commits (2)

A transaction whose answer was lost and that botocore sent again is refused by its own note; the
note's attempt id, returned with the refusal, tells it apart from another delivery's. Its record
is Powertools' shape (``status`` COMPLETED, ``data`` JSON with the action, key and detail), so the
tools list it beside Powertools' own.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from contract import aws, records
from contract.records import UNCERTAIN, WRITE_MARKS
from stripe_actions.actions import Write
from stripe_actions.items import from_item, to_item

READ_ROUNDS = 3
"""How many times keys BatchGetItem leaves unprocessed (throttled) are asked for again."""


class Conflict(Exception):
    """Another transaction held the note or the item: the message is retried."""


@dataclass(frozen=True)
class Found:
    handled: bool
    """The note is there: this action handled this event already."""
    record: dict[str, Any] | None
    """The object's record (its ``STATE`` item, without links), when it was asked for and exists."""


@dataclass(frozen=True)
class Committed:
    status: Literal["written", "handled", "refused", "moved"]
    """``written`` by this call; ``handled`` already (another delivery's note); ``refused`` by the
    put's condition; ``moved``: the carried record is no longer the stored one."""
    record: dict[str, Any] | None = None
    """When ``moved``: the stored record (None if there is none)."""


RECORD_UNCHANGED = " AND ".join(
    [*(f"{name} = :{name}" for name in WRITE_MARKS), f"attribute_not_exists({UNCERTAIN})"]
)
"""The stored record is still the one a message carries: the same write, not marked since."""


class HandledNotes(aws.ServiceAdapter):
    service = "dynamodb"

    def __init__(
        self,
        notes_table: str,
        records_table: str | None,
        *,
        key_prefix: Callable[[str], str],
        remember_seconds: int,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client)
        self._notes = notes_table
        self._records = records_table
        self._prefix = key_prefix
        self._remember = remember_seconds
        self._clock = clock

    def note_id(self, action: str, event_id: str) -> str:
        return f"{self._prefix(action)}#event:{event_id}"

    def read(self, action: str, event_id: str, object_id: str | None) -> Found:
        """The note of (``action``, ``event_id``), and ``object_id``'s record, in one call."""
        note = {"id": {"S": self.note_id(action, event_id)}}
        wanted: dict[str, Any] = {self._notes: {"Keys": [note], "ConsistentRead": True}}
        if object_id is not None and self._records is not None:
            pk, sk = records.object_key(object_id)
            key = {"pk": {"S": pk}, "sk": {"S": sk}}
            wanted[self._records] = {"Keys": [key], "ConsistentRead": True}
        found: dict[str, list[dict[str, Any]]] = {}
        for _ in range(READ_ROUNDS):
            answer = self.client.batch_get_item(RequestItems=wanted)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            wanted = answer.get("UnprocessedKeys") or {}
            if not wanted:
                break
        else:
            raise Conflict("DynamoDB left keys unprocessed (throttled); retried later")
        states = found.get(self._records or "") or []
        record = records.merged(object_id, [from_item(states[0])]) if states and object_id else None
        return Found(bool(found.get(self._notes)), record)

    def commit(
        self, action: str, event_id: str, key: str, write: Write, *, carried: dict[str, Any] | None = None
    ) -> Committed:
        """Make ``write`` and the note in one transaction, and with ``carried`` (the record the
        action decided on, as the message carries it) only while that record is the stored one."""
        attempt = secrets.token_hex(8)
        now = int(self._clock())
        data = {"action": action, "key": key, "detail": write.done, "event_id": event_id, "at": now}
        note = {
            "id": self.note_id(action, event_id),
            "status": "COMPLETED",
            "expiration": now + self._remember,
            "data": json.dumps(data),
            "attempt": attempt,
        }
        items: list[dict[str, Any]] = [
            {"Put": write.put},
            {
                "Put": {
                    "TableName": self._notes,
                    "Item": to_item(note),
                    "ConditionExpression": "attribute_not_exists(id)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        if carried is not None and self._records is not None:
            items.append({"ConditionCheck": self._unchanged(carried)})
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            return self._refused(error, attempt)
        return Committed("written")

    def _unchanged(self, carried: dict[str, Any]) -> dict[str, Any]:
        return {
            "TableName": self._records,
            "Key": to_item({"pk": carried["pk"], "sk": carried["sk"]}),
            "ConditionExpression": RECORD_UNCHANGED,
            "ExpressionAttributeValues": to_item({f":{name}": carried[name] for name in WRITE_MARKS}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    @staticmethod
    def _refused(error: ClientError, attempt: str) -> Committed:
        """What a cancelled commit means: ours, sent again after its answer was lost (written),
        handled already, the carried record moved on, or the put refused; a conflict is
        ``Conflict``, and any other error is raised."""
        reasons = error.response.get("CancellationReasons") or []
        codes = [reason.get("Code", "None") for reason in reasons]
        if aws.error_code(error) != "TransactionCanceledException" or not codes:
            raise error
        if "TransactionConflict" in codes:
            raise Conflict(
                "another transaction holds the item, the note or the record; retried later"
            ) from error
        if any(code not in ("None", "ConditionalCheckFailed") for code in codes):
            raise error
        failed = [code == "ConditionalCheckFailed" for code in codes] + [False] * 3
        if failed[1]:
            note = reasons[1].get("Item")
            ours = isinstance(note, dict) and from_item(note).get("attempt") == attempt
            return Committed("written" if ours else "handled")
        if failed[2]:  # the stored record, as one BatchGetItem would have read it (a STATE item)
            stored = reasons[2].get("Item")
            return Committed("moved", from_item(stored) if isinstance(stored, dict) else None)
        return Committed("refused")
