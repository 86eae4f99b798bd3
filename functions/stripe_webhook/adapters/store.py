"""DynamoDB adapter, the write side: the event log (dedup claim with an in-progress lease) and records.

A new event costs one call to claim it *and* write its records (a transaction,
or a plain put when there are no records), and one to mark it published. A
duplicate costs exactly one call: the failed conditional put returns the
existing item (``ALL_OLD``), which says whether the event is done or still
leased. Keys come from ``schema``, the items and conditions from ``writes``, what to write
instead of a refused record from ``ordering``, the waits between attempts from ``retries``;
reads live in ``queries``.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from contract import aws, tracing
from contract.aws import error_code
from stripe_webhook.adapters import retries, schema, writes
from stripe_webhook.adapters.dynamo_items import from_item, to_attribute
from stripe_webhook.core import ordering
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.errors import EventInProgress, StorageError
from stripe_webhook.ports import Claim, PayloadLocation, Resolver

ORDER_ROUNDS = 4
"""How many times a claim is re-decided because records changed under it before it gives up (503)."""
MARK_ROUNDS = 5
"""How many times the mark is re-sent (after botocore's own attempts) while its deadline allows."""


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
        self._waits = retries.Waits(sleep=sleep, clock=clock)

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
        the claim is sent again, at most ``ORDER_ROUNDS`` times. Only an out-of-order or
        same-second event pays for that. ``payload``: where the body is stored when it is too big
        for the item (``payloads``)."""
        token = uuid.uuid4().hex
        lifetimes = {"lease_seconds": self._lease_seconds, "retention_seconds": self._retention_seconds}
        put_event = writes.event_put(
            self._table, writes.event_item(event, handler, token, now, payload, **lifetimes)
        )
        pending = [ordering.Write(record) for record in records]
        verdicts: Counter[ordering.Verdict] = Counter()
        refusal = self._send_claim(put_event, event, pending, now)
        rounds = 0
        while refusal is not None and not writes.event_known(refusal):
            rounds += 1
            pending = self._redecide(event, pending, refusal, resolve, rounds=rounds, verdicts=verdicts)
            refusal = self._send_claim(put_event, event, pending, now)
        ours = Claim(
            token,
            records_written=verdicts[ordering.Verdict.OURS] + sum(write.puts_content for write in pending),
            records_stale=verdicts[ordering.Verdict.STALE],
            records_uncertain=sum(write.uncertain for write in pending),
            lease_expires_at=int(now) + self._lease_seconds,
        )
        return ours if refusal is None else self._existing(writes.stored_event(refusal), now, ours)

    def _send_claim(
        self, put_event: dict[str, Any], event: StripeEvent, pending: list[ordering.Write], now: float
    ) -> ClientError | None:
        """Send the claim (through conflicts); None if DynamoDB applied it, else its refusal."""
        if pending:
            items = [{"Put": put_event}, *(writes.record_write(self._table, event, w, now) for w in pending)]
            send = functools.partial(self.client.transact_write_items, TransactItems=items)
        else:
            send = functools.partial(self.client.put_item, **put_event)
        try:
            retries.through_conflicts(send, self._waits)
        except ClientError as refusal:
            return refusal
        return None

    def _redecide(
        self,
        event: StripeEvent,
        pending: list[ordering.Write],
        refusal: ClientError,
        resolve: Resolver | None,
        *,
        rounds: int,
        verdicts: Counter[ordering.Verdict],
    ) -> list[ordering.Write]:
        """The claim's record writes after DynamoDB refused some, each refused one decided against
        the stored item (its verdict counted in ``verdicts``)."""
        refused = writes.refused_records(refusal)
        if rounds > ORDER_ROUNDS:
            raise StorageError("storage_conflict", "records kept changing under the claim") from refusal
        decided = [
            self._decide(event, write, resolve, verdicts) if index in refused else write
            for index, write in enumerate(pending)
        ]
        return [write for write in decided if write is not None]

    def _decide(
        self,
        event: StripeEvent,
        write: ordering.Write,
        resolve: Resolver | None,
        verdicts: Counter[ordering.Verdict],
    ) -> ordering.Write | None:
        stored = self._stored(write.record)
        if stored is None:  # deleted since (records never are): decide again next round
            return ordering.Write(write.record)
        verdict, replacement = ordering.decide(event, write.record, stored, resolve)
        verdicts[verdict] += 1
        return replacement

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

    def mark_published(
        self, event: StripeEvent, token: str, message_id: str, now: float, *, deadline: float | None = None
    ) -> bool:
        """Record that the event reached SNS, and index it by type; False if our lease was taken
        over meanwhile, or if DynamoDB failed every attempt made until ``deadline`` (``MARK_ROUNDS``).
        A traced invocation's trace id is kept with it (``trace_id``): the console links to it."""
        update = "SET #status = :published, published_at = :now, sns_message_id = :message_id, "
        update += writes.INDEX_KEYS
        values = {
            ":published": {"S": schema.PUBLISHED},
            ":now": to_attribute(int(now)),
            ":message_id": {"S": message_id},
            **writes.index_values(event),
        }
        if (trace := tracing.trace_id()) is not None:
            update += ", trace_id = :trace_id"
            values[":trace_id"] = {"S": trace}
        return self._update_leased(
            event.id,
            token,
            f"{update} REMOVE lease_token, lease_expires_at",
            values,
            applied=lambda item: item.get("sns_message_id") == message_id,
            deadline=deadline,
        )

    def release(self, event: StripeEvent, token: str, *, published_maybe_at: float | None = None) -> bool:
        """Give up our lease early so Stripe's retry can finish the event without waiting; the
        event is indexed by type (``status`` IN_PROGRESS) so ``status`` lists it while it waits.
        ``published_maybe_at``: our publish's answer was lost, so SNS may hold the message since
        then; kept (the earliest such time) for whoever publishes it next."""
        update = f"SET lease_expires_at = :zero, {writes.INDEX_KEYS}"
        values = {":zero": {"N": "0"}, **writes.index_values(event)}
        if published_maybe_at is not None:
            update += ", publish_uncertain_at = if_not_exists(publish_uncertain_at, :at)"
            values[":at"] = to_attribute(int(published_maybe_at))
        return self._update_leased(event.id, token, update, values)

    def _existing(self, item: dict[str, Any] | None, now: float, ours: Claim) -> Claim:
        """The claim of a known event: ours (our own applied claim, re-sent by botocore after its
        answer was lost), a duplicate, in progress elsewhere, or taken over from a lapsed lease."""
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

    def _take_over(self, existing: dict[str, Any], now: float) -> Claim:
        token = uuid.uuid4().hex
        maybe = writes.may_have_published_at(existing, self._lease_seconds)
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
            schema.event_id_of(existing),
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
        condition). With a ``deadline``, a failed update is re-sent while a whole call still fits
        (``MARK_ROUNDS``); then False, or (``raise_errors``) the ``StorageError``."""
        request = {
            "TableName": self._table,
            "Key": schema.event_key(event_id),
            "UpdateExpression": update,
            "ConditionExpression": "#status = :in_progress AND lease_token = :token",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                **values,
                ":in_progress": {"S": schema.IN_PROGRESS},
                ":token": {"S": token},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        answer = self._try_update(request, applied)
        rounds = 0
        while isinstance(answer, StorageError) and self._waits.before_round(rounds, MARK_ROUNDS, deadline):
            rounds += 1
            answer = self._try_update(request, applied)
        if isinstance(answer, StorageError) and raise_errors:
            raise answer
        return answer is True

    def _try_update(
        self, request: dict[str, Any], applied: Callable[[dict[str, Any]], bool]
    ) -> bool | StorageError:
        """One update (through conflicts): whether it is applied, or why it failed."""
        try:
            retries.through_conflicts(functools.partial(self.client.update_item, **request), self._waits)
        except StorageError as unreachable_or_conflicting:
            return unreachable_or_conflicting
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                failed = StorageError("storage_failed", "DynamoDB update failed")
                failed.__cause__ = error
                return failed
            item = cast(dict[str, Any] | None, error.response.get("Item"))
            return item is not None and applied(from_item(item))
        return True
