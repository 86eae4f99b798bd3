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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from stripe_webhook import aws, budget, ordering, schema
from stripe_webhook.dynamo_items import from_item, to_attribute, to_item
from stripe_webhook.errors import EventInProgress, StorageError
from stripe_webhook.events import StripeEvent
from stripe_webhook.ports import Claim, PayloadLocation, Resolver
from stripe_webhook.records import Record

PAYLOAD_INLINE_MAX_BYTES = 100_000
"""Raw payloads above this are gzipped. Bodies too big for SNS (256 KiB) are in S3 instead
(``payloads``), so a gzipped one stays far under DynamoDB's 400 KB item limit."""

_ORDERED = "attribute_not_exists(pk) OR (attribute_not_exists(deleted) AND last_event_watermark < :bound)"
"""Older state is replaced and a deleted object stays deleted; anything else is decided by
``ordering.verdict`` with the stored item DynamoDB returns on refusal."""
_UNCHANGED = (
    "attribute_not_exists(deleted) AND last_event_watermark = :seen_mark AND last_event_id = :seen_id"
)
"""A write decided against a stored item applies only if that item is still the one decided on."""
ORDER_ROUNDS = 4
"""How many times a claim is re-decided because records changed under it before it gives up (503)."""


@dataclass(frozen=True)
class _Write:
    """One record write of a claim: as the handler made it, or as decided against the stored item."""

    original: Record
    record: Record
    seen: tuple[int, str] | None = None
    """(watermark, event id) of the stored item this write replaces; None: an ordered write."""
    last_event: tuple[str, str, int] | None = None
    """(id, type, watermark) the item names as its last event; None: the claim's event."""
    uncertain: bool = False
    flag_only: bool = False
    """Keep the stored content, only mark it ``order_uncertain``."""


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


def _backoff(retry: int) -> float:
    """Jittered exponential backoff from ``CONFLICT_BACKOFF_SECONDS`` before the ``retry``-th re-send."""
    return CONFLICT_BACKOFF_SECONDS * (1 << retry) * random.uniform(0.5, 1.0)  # noqa: S311


def is_conflict(error: ClientError) -> bool:
    """DynamoDB's "another transaction holds this item" in either of its two shapes."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "TransactionConflictException":
        return True
    reasons = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "TransactionConflict" for reason in reasons
    )


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

    def claim(
        self,
        event: StripeEvent,
        records: Sequence[Record],
        handler: str | None,
        now: float,
        *,
        resolve: Resolver | None = None,
        payload: PayloadLocation | None = None,
    ) -> Claim:
        """Store the event with a lease and write its records atomically, or report what exists.

        A record DynamoDB refuses is decided against the stored item it returns (``ordering``):
        stale records are dropped, ties settled, and two states of one second that nothing orders
        are resolved with ``resolve`` (Stripe's current state) or marked ``order_uncertain``; then
        the claim is sent again. Only an out-of-order or same-second event pays for that.
        ``payload``: where the body is stored when it is too big for the item (``payloads``)."""
        token = uuid.uuid4().hex
        put_event = {
            "TableName": self._table,
            "Item": self._event_item(event, handler, token, now, payload),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        writes = [_Write(record, record) for record in records]
        stale = done = conflicts = rounds = 0
        while True:
            ours = Claim(
                token,
                records_written=done + sum(not write.flag_only for write in writes),
                records_stale=stale,
                records_uncertain=sum(write.uncertain or write.flag_only for write in writes),
                lease_expires_at=int(now) + self._lease_seconds,
            )
            try:
                if writes:
                    self.client.transact_write_items(
                        TransactItems=[
                            {"Put": put_event},
                            *(self._record_write(event, w, now) for w in writes),
                        ]
                    )
                else:
                    self.client.put_item(**put_event)
                return ours
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                reasons = error.response.get("CancellationReasons") or []
                if code == "ConditionalCheckFailedException":
                    return self._existing(cast(dict[str, Any] | None, error.response.get("Item")), now, ours)
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    return self._existing(cast(dict[str, Any] | None, reasons[0].get("Item")), now, ours)
                if is_conflict(error):
                    if self._wait_to_retry(conflicts):
                        conflicts += 1
                        continue
                    raise StorageError("storage_conflict", CONFLICT_PERSISTED) from error
                rounds += 1
                writes, verdicts = self._redecide(event, writes, error, resolve, rounds)
                stale += verdicts[ordering.Verdict.STALE]
                done += verdicts[ordering.Verdict.OURS]
            except BotoCoreError as error:
                raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error

    def _redecide(
        self,
        event: StripeEvent,
        writes: list[_Write],
        error: ClientError,
        resolve: Resolver | None,
        rounds: int,
    ) -> tuple[list[_Write], Counter[ordering.Verdict]]:
        """The claim's record writes after DynamoDB refused some (``TransactionCanceledException`` with
        ``ConditionalCheckFailed`` at their positions, and the stored items)."""
        reasons = error.response.get("CancellationReasons") or []
        codes = [reason.get("Code", "None") for reason in reasons]
        refused = [index - 1 for index, code in enumerate(codes) if code != "None"]
        if (
            error.response.get("Error", {}).get("Code") != "TransactionCanceledException"
            or not refused
            or any(code not in ("None", "ConditionalCheckFailed") for code in codes)
        ):
            raise StorageError("storage_failed", f"DynamoDB cancelled the claim: {codes}") from error
        if rounds > ORDER_ROUNDS:
            raise StorageError("storage_conflict", "records kept changing under the claim") from error
        decided: list[_Write] = []
        verdicts: Counter[ordering.Verdict] = Counter()
        for index, write in enumerate(writes):
            if index not in refused:
                decided.append(write)
                continue
            stored = self._stored(write.original)
            if stored is None:  # deleted since (records never are): decide again next round
                decided.append(_Write(write.original, write.original))
                continue
            verdict, replacement = self._decide(event, write.original, stored, resolve)
            verdicts[verdict] += 1
            if replacement is not None:
                decided.append(replacement)
        return decided, verdicts

    def _stored(self, record: Record) -> dict[str, Any] | None:
        """The stored item a refused record write is decided against (read only on that rare path:
        asking for it with every write would make every duplicate's refused claim carry it too)."""
        try:
            response = self.client.get_item(
                TableName=self._table, Key=schema.key_item(record.pk, record.sk), ConsistentRead=True
            )
        except ClientError as error:
            raise StorageError("storage_failed", "DynamoDB refused to read a record") from error
        except BotoCoreError as error:
            raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error
        return cast(dict[str, Any] | None, response.get("Item"))

    def _decide(
        self, event: StripeEvent, record: Record, stored: dict[str, Any], resolve: Resolver | None
    ) -> tuple[ordering.Verdict, _Write | None]:
        """What to write instead of a refused record, given the item DynamoDB returned."""
        verdict = ordering.verdict(record, event.id, stored)
        if verdict in (ordering.Verdict.STALE, ordering.Verdict.OURS):
            return verdict, None
        seen = ordering.seen(stored)
        if verdict == ordering.Verdict.REPLACE:
            return verdict, _Write(record, record, seen=seen)
        # Same second, different content, nothing to order them: ask Stripe, else keep the
        # tie-break winner (the higher watermark, then event id) and say the order is uncertain.
        ours_win = (record.watermark, event.id) > seen
        truth = resolve(record) if resolve is not None else None
        if truth is not None:
            winner = (
                (event.id, event.type, record.watermark)
                if ours_win
                else (seen[1], stored["last_event_type"]["S"], seen[0])
            )
            return verdict, _Write(record, truth, seen=seen, last_event=winner)
        return verdict, _Write(record, record, seen=seen, uncertain=True, flag_only=not ours_win)

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

    def release(self, event_id: str, token: str, *, published_maybe_at: float | None = None) -> bool:
        """Give up our lease early so Stripe's retry can finish the event without waiting.
        ``published_maybe_at``: our publish's answer was lost, so SNS may hold the message since
        then; kept (the earliest such time) for whoever publishes it next."""
        if published_maybe_at is None:
            return self._update_leased(event_id, token, "SET lease_expires_at = :zero", {":zero": {"N": "0"}})
        return self._update_leased(
            event_id,
            token,
            "SET lease_expires_at = :zero, publish_uncertain_at = if_not_exists(publish_uncertain_at, :at)",
            {":zero": {"N": "0"}, ":at": to_attribute(int(published_maybe_at))},
        )

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
        return self._take_over(existing, now)

    def _may_have_published_at(self, existing: dict[str, Any]) -> int | None:
        """When an earlier holder may have published at the earliest: as its release recorded
        (a lost publish answer), or, for a holder whose lease ran out instead of being released
        (it died, or published and failed to mark), the time it took the lease."""
        times = []
        if isinstance(existing.get("publish_uncertain_at"), int):
            times.append(int(existing["publish_uncertain_at"]))
        lease = int(existing.get("lease_expires_at", 0))
        if lease > 0:
            times.append(lease - self._lease_seconds)
        return min(times, default=None)

    def _take_over(self, existing: dict[str, Any], now: float) -> Claim:
        token = uuid.uuid4().hex
        maybe = self._may_have_published_at(existing)
        update = "SET lease_token = :new_token, lease_expires_at = :expires, attempts = attempts + :one"
        values = {
            ":new_token": {"S": token},
            ":expires": to_attribute(int(now) + self._lease_seconds),
            ":one": {"N": "1"},
        }
        if maybe is not None:  # kept for a later holder, should this one fail too
            update += ", publish_uncertain_at = if_not_exists(publish_uncertain_at, :maybe)"
            values[":maybe"] = to_attribute(maybe)
        taken = self._update_leased(
            str(existing["event_id"]),
            str(existing.get("lease_token", "")),
            update,
            values,
            applied=lambda item: item.get("lease_token") == token,
            raise_errors=True,
        )
        if not taken:
            raise EventInProgress("in_progress", "another delivery of this event is being processed")
        return Claim(
            token, resumed=True, lease_expires_at=int(now) + self._lease_seconds, may_have_published_at=maybe
        )

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
                conflict = is_conflict(error)
                if conflict and self._wait_to_retry(conflicts):
                    conflicts += 1
                    continue
                failure = (
                    StorageError("storage_conflict", CONFLICT_PERSISTED)
                    if conflict
                    else StorageError("storage_failed", "DynamoDB update failed")
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
        pause = _backoff(rounds)
        if self._clock() + pause + budget.CALL_BUDGET_SECONDS > deadline:
            return False
        self._sleep(pause)
        return True

    def _wait_to_retry(self, conflicts: int) -> bool:
        """After a conflict with another transaction: back off and say True while retries remain."""
        if conflicts >= CONFLICT_RETRIES:
            return False
        self._sleep(_backoff(conflicts))
        return True

    def _event_item(
        self, event: StripeEvent, handler: str | None, token: str, now: float, payload: PayloadLocation | None
    ) -> dict[str, Any]:
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
            "payload_style": "thin" if event.thin else None,  # which delivery of a migration's twins counted
        }
        values.update({name: value for name, value in optional.items() if value is not None})
        if payload is not None:
            values["payload_s3"] = payload.as_item()
        elif len(event.raw) <= PAYLOAD_INLINE_MAX_BYTES:
            values["payload"] = event.raw.decode("utf-8")
        else:
            values["payload_gz"] = gzip.compress(event.raw, compresslevel=6)
        return to_item(values)

    def _record_write(self, event: StripeEvent, write: _Write, now: float) -> dict[str, Any]:
        """One TransactWriteItems entry: a conditional put, or (``flag_only``) a conditional update."""
        record = write.record
        key = schema.key_item(record.pk, record.sk)
        if write.seen is None:
            condition = _ORDERED
            values: dict[str, Any] = {":bound": to_attribute(ordering.bound(record))}
        else:
            condition = _UNCHANGED
            values = {":seen_mark": to_attribute(write.seen[0]), ":seen_id": {"S": write.seen[1]}}
        if write.flag_only:
            return {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": f"SET {ordering.UNCERTAIN} = :uncertain",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": {**values, ":uncertain": {"BOOL": True}},
                }
            }
        last_id, last_type, last_mark = write.last_event or (event.id, event.type, record.watermark)
        item = {
            **record.attributes,
            "pk": record.pk,
            "sk": record.sk,
            "last_event_id": last_id,
            "last_event_type": last_type,
            "last_event_watermark": last_mark,
            "updated_at": int(now),
        }
        if write.uncertain:
            item[ordering.UNCERTAIN] = True
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }
