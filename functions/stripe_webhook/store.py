"""DynamoDB adapter, the write side: the event log (dedup claim with an in-progress lease) and records.

A new event costs one call to claim it *and* write its records (a transaction,
or a plain put when there are no records), and one to mark it published. A
duplicate costs exactly one call: the failed conditional put returns the
existing item (``ALL_OLD``), which says whether the event is done or still
leased. Keys come from ``schema``; reads live in ``queries``.
"""

from __future__ import annotations

import gzip
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from stripe_webhook import aws, budget, schema
from stripe_webhook.dynamo_items import from_item, to_attribute, to_item
from stripe_webhook.errors import EventInProgress, StorageError
from stripe_webhook.events import StripeEvent
from stripe_webhook.records import Record

PAYLOAD_INLINE_MAX_BYTES = 100_000
"""Raw payloads above this are gzipped; DynamoDB items must stay under 400 KB."""
PAYLOAD_COMPRESSED_MAX_BYTES = 300_000

_RECORD_CONDITION = (
    "attribute_not_exists(pk) OR (attribute_not_exists(deleted) AND (last_event_watermark < :watermark"
    " OR (last_event_watermark = :watermark AND last_event_id <= :event_id)))"
)
"""Newer state wins (ties broken by event id) and a deleted object stays deleted: one atomic check."""

CONFLICT_RETRIES = 3
CONFLICT_BACKOFF_SECONDS = 0.05
"""DynamoDB refuses a write to an item that an in-flight transaction holds: a transaction is
cancelled with the reason ``TransactionConflict``, a single-item write fails with
``TransactionConflictException``, and botocore's standard retry mode retries neither. The store
retries them up to 3 more times, with jittered exponential backoff from 50 ms (under 0.4 s in
all). Every write here is conditioned on the item's absence or on the claim token, so repeating
one is safe; once the other transaction has landed, the retry sees what it wrote."""


MARK_ROUNDS = 5
"""How many times the mark is re-sent (after botocore's own attempts) while its deadline allows."""

CONFLICT_PERSISTED = "DynamoDB kept reporting a conflicting transaction"


def is_conflict(error: ClientError) -> bool:
    """DynamoDB's "another transaction holds this item" in either of its two shapes."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "TransactionConflictException":
        return True
    reasons = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "TransactionConflict" for reason in reasons
    )


@dataclass(frozen=True)
class Claim:
    """The result of claiming an event for processing."""

    token: str | None
    duplicate: bool = False
    resumed: bool = False
    """A previous attempt wrote the records but never published; we took over its lease."""
    records_written: int = 0
    records_stale: int = 0
    lease_expires_at: float | None = None
    """Wall-clock time after which another delivery may take the event over."""


class DynamoStore(aws.ServiceAdapter):
    service = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        lease_seconds: int,
        retention_seconds: int,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client)
        self._table = table_name
        self._lease_seconds = lease_seconds
        self._retention_seconds = retention_seconds
        self._sleep = sleep
        self._clock = clock

    def claim(self, event: StripeEvent, records: Sequence[Record], handler: str | None, now: float) -> Claim:
        """Store the event with a lease and write its records atomically, or report what exists."""
        token = uuid.uuid4().hex
        put_event = {
            "TableName": self._table,
            "Item": self._event_item(event, handler, token, now),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        pending = list(records)
        conflicts = 0
        while True:
            ours = Claim(
                token,
                records_written=len(pending),
                records_stale=len(records) - len(pending),
                lease_expires_at=int(now) + self._lease_seconds,
            )
            try:
                if pending:
                    self.client.transact_write_items(
                        TransactItems=[
                            {"Put": put_event},
                            *({"Put": self._record_put(event, record, now)} for record in pending),
                        ]
                    )
                else:
                    self.client.put_item(**put_event)
                return ours
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ConditionalCheckFailedException":
                    return self._existing(cast(dict[str, Any] | None, error.response.get("Item")), now, ours)
                reasons = error.response.get("CancellationReasons") or []
                codes = [reason.get("Code", "None") for reason in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return self._existing(cast(dict[str, Any] | None, reasons[0].get("Item")), now, ours)
                if is_conflict(error):
                    if self._wait_to_retry(conflicts):
                        conflicts += 1
                        continue
                    raise StorageError("storage_conflict", CONFLICT_PERSISTED) from error
                if code != "TransactionCanceledException":
                    raise StorageError("storage_failed", f"DynamoDB rejected the claim: {code}") from error
                stale = {
                    index - 1 for index, reason in enumerate(codes) if reason == "ConditionalCheckFailed"
                }
                if not stale or any(reason not in ("None", "ConditionalCheckFailed") for reason in codes):
                    raise StorageError("storage_failed", f"DynamoDB cancelled the claim: {codes}") from error
                # Newer state is already stored for these items: keep it, write the rest.
                pending = [record for index, record in enumerate(pending) if index not in stale]
            except BotoCoreError as error:
                raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error

    def mark_published(
        self, event_id: str, token: str, message_id: str, now: float, *, deadline: float | None = None
    ) -> bool:
        """Record that the event reached SNS; False if our lease was taken over meanwhile, or if
        DynamoDB failed every attempt made until ``deadline`` (see ``MARK_ROUNDS``)."""
        return self._update_leased(
            event_id,
            token,
            "SET #status = :published, published_at = :now, sns_message_id = :message_id"
            " REMOVE lease_token, lease_expires_at",
            {
                ":published": {"S": schema.PUBLISHED},
                ":now": to_attribute(int(now)),
                ":message_id": {"S": message_id},
            },
            applied=lambda item: item.get("sns_message_id") == message_id,
            deadline=deadline,
        )

    def release(self, event_id: str, token: str) -> bool:
        """Give up our lease early so Stripe's retry can finish the event without waiting."""
        return self._update_leased(event_id, token, "SET lease_expires_at = :zero", {":zero": {"N": "0"}})

    def _existing(self, item: dict[str, Any] | None, now: float, ours: Claim) -> Claim:
        if item is None:
            raise EventInProgress("in_progress", "another delivery of this event is being processed")
        existing = from_item(item)
        if existing.get("lease_token") == ours.token:
            return ours  # our own claim: applied, its answer lost, and botocore sent it again
        if existing.get("status") == schema.PUBLISHED:
            return Claim(None, duplicate=True)
        if int(existing.get("lease_expires_at", 0)) > now:
            raise EventInProgress("in_progress", "another delivery of this event is being processed")
        return self._take_over(existing["event_id"], str(existing.get("lease_token", "")), now)

    def _take_over(self, event_id: str, old_token: str, now: float) -> Claim:
        token = uuid.uuid4().hex
        taken = self._update_leased(
            event_id,
            old_token,
            "SET lease_token = :new_token, lease_expires_at = :expires, attempts = attempts + :one",
            {
                ":new_token": {"S": token},
                ":expires": to_attribute(int(now) + self._lease_seconds),
                ":one": {"N": "1"},
            },
            applied=lambda item: item.get("lease_token") == token,
            raise_errors=True,
        )
        if not taken:
            raise EventInProgress("in_progress", "another delivery of this event is being processed")
        return Claim(token, resumed=True, lease_expires_at=int(now) + self._lease_seconds)

    def _update_leased(
        self,
        event_id: str,
        token: str,
        update: str,
        values: dict[str, Any],
        *,
        applied: Callable[[dict[str, Any]], bool] = lambda _item: False,
        raise_errors: bool = False,
        deadline: float | None = None,
    ) -> bool:
        """An update conditioned on our lease. ``applied`` recognises the item as our update left
        it (botocore re-sends a request whose answer was lost; the re-send then fails its
        condition). With a ``deadline``, a failed update is re-sent while a whole call still fits."""
        conflicts = rounds = 0
        while True:
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key=schema.event_key(event_id),
                    UpdateExpression=update,
                    ConditionExpression="#status = :in_progress AND lease_token = :token",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        **values,
                        ":in_progress": {"S": schema.IN_PROGRESS},
                        ":token": {"S": token},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return True
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    item = cast(dict[str, Any] | None, error.response.get("Item"))
                    return item is not None and applied(from_item(item))
                if is_conflict(error) and self._wait_to_retry(conflicts):
                    conflicts += 1
                    continue
                failure = StorageError(
                    "storage_conflict" if is_conflict(error) else "storage_failed",
                    CONFLICT_PERSISTED if is_conflict(error) else "DynamoDB update failed",
                )
                cause: Exception = error
            except BotoCoreError as error:
                failure = StorageError("storage_unreachable", "DynamoDB could not be reached")
                cause = error
            if self._time_for_another_round(rounds, deadline):
                rounds += 1
                continue
            if raise_errors:
                raise failure from cause
            return False

    def _time_for_another_round(self, rounds: int, deadline: float | None) -> bool:
        """Back off and say True if another whole call fits before ``deadline``."""
        if deadline is None or rounds >= MARK_ROUNDS:
            return False
        pause = CONFLICT_BACKOFF_SECONDS * 2**rounds * random.uniform(0.5, 1.0)  # noqa: S311
        if self._clock() + pause + budget.CALL_BUDGET_SECONDS > deadline:
            return False
        self._sleep(pause)
        return True

    def _wait_to_retry(self, conflicts: int) -> bool:
        """After a conflict with another transaction: back off and say True while retries remain."""
        if conflicts >= CONFLICT_RETRIES:
            return False
        self._sleep(CONFLICT_BACKOFF_SECONDS * 2**conflicts * random.uniform(0.5, 1.0))  # noqa: S311
        return True

    def _event_item(self, event: StripeEvent, handler: str | None, token: str, now: float) -> dict[str, Any]:
        values: dict[str, object] = {
            "pk": schema.event_pk(event.id),
            "sk": schema.EVENT_SK,
            "item_type": "event",
            "event_id": event.id,
            "event_type": event.type,
            "created": event.created,
            "livemode": event.livemode,
            "object_type": event.object_type,
            "received_at": int(now),
            "status": schema.IN_PROGRESS,
            "lease_token": token,
            "lease_expires_at": int(now) + self._lease_seconds,
            "attempts": 1,
            "expires_at": int(now) + self._retention_seconds,
            schema.TYPE_DAY: schema.type_day_key(event.type, event.created, schema.type_shard(event.id)),
            schema.CREATED_EVENT: schema.created_event_key(event.created, event.id),
        }
        optional = {
            "api_version": event.api_version,
            "account": event.account,
            "object_id": event.object_id,
            "handler": handler,
        }
        values.update({name: value for name, value in optional.items() if value is not None})
        if len(event.raw) <= PAYLOAD_INLINE_MAX_BYTES:
            values["payload"] = event.raw.decode("utf-8")
        else:
            compressed = gzip.compress(event.raw, compresslevel=6)
            if len(compressed) <= PAYLOAD_COMPRESSED_MAX_BYTES:
                values["payload_gz"] = compressed
            else:
                values["payload_omitted"] = True
        return to_item(values)

    def _record_put(self, event: StripeEvent, record: Record, now: float) -> dict[str, Any]:
        values = {
            **record.attributes,
            "pk": record.pk,
            "sk": record.sk,
            "last_event_id": event.id,
            "last_event_type": event.type,
            "last_event_watermark": record.watermark,
            "updated_at": int(now),
        }
        return {
            "TableName": self._table,
            "Item": to_item(values),
            "ConditionExpression": _RECORD_CONDITION,
            "ExpressionAttributeValues": {
                ":watermark": to_attribute(record.watermark),
                ":event_id": {"S": event.id},
            },
        }
