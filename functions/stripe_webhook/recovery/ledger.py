"""DynamoDB adapter for the reconciler: its state between runs, and the stack's Stripe endpoints.

Two items in the events table, beside the event log (``schema.RECONCILER_PK``):

    RECONCILER / STATE       the watermark, the window in progress and its cursor, what is retried
                             and what was named, each endpoint's last status; and a lease, so two
                             runs never work at once (a second one finds it held and stops)
    RECONCILER / ENDPOINTS   the endpoints ``ops register`` created for this stack

Each is one JSON document (the state at most ``reconciliation.MAX_STATE_BYTES``, whatever Stripe
returns), written with a condition on the run's lease token, so a run that outlived its lease
cannot overwrite its successor's work. ``logged`` reads the event log in batches (the complete
sweep's check).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contract import aws
from contract.aws import error_code
from stripe_webhook.adapters import schema
from stripe_webhook.errors import StorageError
from stripe_webhook.recovery.reconciler_state import State
from stripe_webhook.recovery.reconciliation import Endpoint

BATCH_KEYS = 100
"""The most keys one ``BatchGetItem`` takes."""
BATCH_ATTEMPTS = 5


class LeaseLost(StorageError):
    """Another run took the reconciler's lease over: this one stops without saving."""


class DynamoLedger(aws.ServiceAdapter):
    service = "dynamodb"

    def __init__(self, table_name: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = table_name

    def _key(self, sk: str) -> dict[str, Any]:
        return schema.key_item(schema.RECONCILER_PK, sk)

    def _get(self, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self._table, Key=self._key(sk), ConsistentRead=True
        ).get("Item")
        return item

    def begin(self, now: float, lease_seconds: int) -> tuple[State, str] | None:
        """Take the lease and read the state; None while another run holds the lease."""
        token = uuid.uuid4().hex
        try:
            answer = self.client.update_item(
                TableName=self._table,
                Key=self._key(schema.RECONCILER_STATE_SK),
                UpdateExpression="SET #token = :token, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":until": {"N": str(int(now) + lease_seconds)},
                    ":now": {"N": str(int(now))},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise StorageError("storage_failed", "DynamoDB refused the reconciler's lease") from error
        except BotoCoreError as error:
            raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error
        return _state_of(answer.get("Attributes")) or State(), token

    def save(self, state: State, token: str, *, finished: bool = False) -> None:
        """Keep ``state``; ``finished`` also gives the lease back."""
        expression = "SET #state = :state" + (" REMOVE lease_until" if finished else "")
        try:
            self.client.update_item(
                TableName=self._table,
                Key=self._key(schema.RECONCILER_STATE_SK),
                UpdateExpression=expression,
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={
                    ":state": {"S": json.dumps(state.as_item(), separators=(",", ":"))},
                    ":token": {"S": token},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise LeaseLost("reconciler_lease_lost", "another reconciler run took over") from error
            raise StorageError("storage_failed", "DynamoDB refused the reconciler's state") from error
        except BotoCoreError as error:
            raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error

    def release(self, token: str) -> None:
        """Give the lease back without saving (a run whose state could not be saved)."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=self._key(schema.RECONCILER_STATE_SK),
                UpdateExpression="REMOVE lease_until",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(
                "storage_failed", "DynamoDB refused to release the reconciler's lease"
            ) from error

    def logged(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` the event log holds as published: ``BatchGetItem``, 100 keys a
        call, unprocessed keys asked again (DynamoDB returns them under load) a few times."""
        found: set[str] = set()
        for start in range(0, len(event_ids), BATCH_KEYS):
            keys = [
                schema.event_key(event_id)
                for event_id in dict.fromkeys(event_ids[start : start + BATCH_KEYS])
            ]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "pk, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ConsistentRead": True,
                }
            }
            for attempt in range(BATCH_ATTEMPTS):
                try:
                    answer = self.client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as error:
                    raise StorageError("storage_failed", "DynamoDB did not read the event log") from error
                for item in answer.get("Responses", {}).get(self._table, []):
                    if item.get("status", {}).get("S") == schema.PUBLISHED:
                        found.add(schema.event_id_of({"pk": item["pk"]["S"]}))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise StorageError("storage_throttled", "DynamoDB left event-log keys unread")
        return found

    def state(self) -> State | None:
        """The state as the last run left it (``ops status``), or None before the first run."""
        return _state_of(self._get(schema.RECONCILER_STATE_SK))

    def endpoints(self) -> list[Endpoint]:
        item = self._get(schema.RECONCILER_ENDPOINTS_SK)
        stored = item.get("endpoints", {}).get("S") if item else None
        try:
            values = json.loads(stored) if stored else []
            return [Endpoint.from_item(value) for value in values]
        except (ValueError, KeyError, TypeError):
            return []  # unreadable: the run goes on as if none were recorded (ops register writes it anew)

    def record_endpoints(self, endpoints: list[Endpoint]) -> None:
        """What ``ops register`` (and ``rotate-secret``) created for this stack, replacing the list."""
        self.client.put_item(
            TableName=self._table,
            Item={
                **self._key(schema.RECONCILER_ENDPOINTS_SK),
                "endpoints": {"S": json.dumps([endpoint.as_item() for endpoint in endpoints])},
            },
        )


def _state_of(item: dict[str, Any] | None) -> State | None:
    """The state a STATE item holds (None: no run has saved one yet)."""
    stored = item.get("state", {}).get("S") if item else None
    return State.from_item(json.loads(stored)) if stored else None
