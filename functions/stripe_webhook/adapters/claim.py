"""The claim, top to bottom: one call stores a new event with a lease and writes its records.

    send       the event-log item's put (only if the event is new) and each record's conditional
               write, in one transaction (a plain put when there are no records); a conflict with
               another transaction is retried (``table.Table.send``)
    refused?   the event is known: a duplicate, in progress elsewhere, or a lapsed lease to take
               over (``lease.take_over``); nothing of ours was written
               a record is refused: read it back, ``ordering.decide`` what to write instead, and
               send again, at most ``ORDER_ROUNDS`` times
    result     a ``Claim``: our lease token and what happened to each record

A duplicate costs exactly one call: the refused put returns the stored event-log item
(``ALL_OLD``), which says whether the event is done or still leased. Keys come from ``schema``;
reads are in ``queries``; the mark and a release in ``lease``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from contract.aws import error_code
from contract.records import UNCERTAIN, object_key
from stripe_webhook.adapters import lease, schema
from stripe_webhook.adapters.dynamo_items import from_item, to_attribute, to_item
from stripe_webhook.adapters.table import Table
from stripe_webhook.core import ordering
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.ordering import Decision, LastEvent, RecordWrite, StoredRecord
from stripe_webhook.core.records import Record
from stripe_webhook.errors import EventInProgress, StorageError
from stripe_webhook.ports import Claim, PayloadLocation, Resolver

ORDER_ROUNDS = 4
"""How many times a claim is decided again because records changed under it before it gives up (503)."""

ORDERED = "attribute_not_exists(pk) OR (attribute_not_exists(deleted) AND last_event_watermark < :bound)"
"""A first try: older state is replaced and a deleted object stays deleted; anything else is
refused, and decided against the stored record."""
UNCHANGED = (
    "attribute_not_exists(deleted) AND last_event_watermark = :stored_mark AND last_event_id = :stored_id"
)
"""A write decided against a stored record applies only if that record is still the one decided on."""
BOOKKEEPING = frozenset(
    {"pk", "sk", "last_event_id", "last_event_type", "last_event_watermark", "updated_at", UNCERTAIN}
)
"""Item attributes the claim adds to a record; everything else is the handler's content."""
KNOWN_FIELDS = ("pk", "event_id", "status", "lease_token", "lease_expires_at", "publish_uncertain_at")
"""What a known event's stored item (``ALL_OLD``) is read for: whose it is, and its lease."""


def claim(
    table: Table,
    event: StripeEvent,
    records: Sequence[Record],
    handler: str | None,
    now: float,
    *,
    resolve: Resolver | None = None,
    payload: PayloadLocation | None = None,
) -> Claim:
    """Store the event with a lease and write its records atomically, or report what exists.

    ``resolve`` gives Stripe's current state of an object when two events of one second disagree
    (else the record is marked ``order_uncertain``); only an out-of-order or same-second event pays
    for that. ``payload``: where the body is stored when it is too big for the item (``payloads``)."""
    token = uuid.uuid4().hex
    put_event = {
        "TableName": table.name,
        "Item": event_item(table, event, handler, token, now, payload=payload),
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    writes = [RecordWrite.first(event, record) for record in records]
    decisions: Counter[Decision] = Counter()
    refusal = _send(table, put_event, writes, now)
    rounds = 0
    while refusal is not None and _event_refusal(refusal) is None:  # only records were refused
        rounds += 1
        writes = _decided_again(table, event, writes, refusal, resolve, decisions=decisions, rounds=rounds)
        refusal = _send(table, put_event, writes, now)
    ours = Claim(
        token,
        records_written=decisions[Decision.OURS] + sum(write.content is not None for write in writes),
        records_stale=decisions[Decision.STALE],
        records_uncertain=sum(write.uncertain for write in writes),
        lease_expires_at=int(now) + table.lease_seconds,
        record=_own_record(event, writes, now) if refusal is None else None,
    )
    if refusal is None:
        return ours
    return _known(table, (_event_refusal(refusal) or {}).get("Item"), now, ours)


def _own_record(event: StripeEvent, writes: Sequence[RecordWrite], now: float) -> dict[str, Any] | None:
    """The event's object's record as the applied claim wrote it, when it wrote it whole and not
    ``order_uncertain``: what the message can carry (``contract.RECORD``)."""
    own = object_key(event.object_id) if event.object_id else None
    for write in writes:
        if (write.record.pk, write.record.sk) == own and write.content is not None and not write.uncertain:
            return record_item(write, now)
    return None


def _send(
    table: Table, put_event: dict[str, Any], writes: list[RecordWrite], now: float
) -> ClientError | None:
    """Send the claim; None if DynamoDB applied it, else its refusal."""
    try:
        if writes:
            items = [{"Put": put_event}, *(record_write(table.name, write, now) for write in writes)]
            table.send("transact_write_items", TransactItems=items)
        else:
            table.send("put_item", **put_event)
    except ClientError as refusal:
        return refusal
    return None


def record_write(table_name: str, write: RecordWrite, now: float) -> dict[str, Any]:
    """One TransactWriteItems entry: a conditional put, or (no content) a conditional update that
    only marks the stored record ``order_uncertain``."""
    record = write.record
    key = schema.key_item(record.pk, record.sk)
    if write.if_unchanged is None:
        condition = ORDERED
        values: dict[str, Any] = {":bound": to_attribute(ordering.bound(record))}
    else:
        condition = UNCHANGED
        stored = write.if_unchanged
        values = {":stored_mark": to_attribute(stored.watermark), ":stored_id": {"S": stored.event_id}}
    if write.content is None:
        values[":uncertain"] = {"BOOL": True}
        update = f"SET {UNCERTAIN} = :uncertain"
        return {
            "Update": {
                "TableName": table_name,
                "Key": key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_item(record_item(write, now)),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
    }


def record_item(write: RecordWrite, now: float) -> dict[str, Any]:
    """The whole item a write with content puts, as plain values."""
    if write.content is None:
        raise ValueError("a write without content puts no item")
    item = {
        **write.content.attributes,
        "pk": write.record.pk,
        "sk": write.record.sk,
        "last_event_id": write.last_event.event_id,
        "last_event_type": write.last_event.event_type,
        "last_event_watermark": write.last_event.watermark,
        "updated_at": int(now),
    }
    if write.uncertain:
        item[UNCERTAIN] = True
    return item


def _refused_records(refusal: ClientError) -> list[int]:
    """The positions (in the claim's record writes) of the records DynamoDB refused: a
    ``TransactionCanceledException`` with ``ConditionalCheckFailed`` at their places. Any other
    cancellation is a ``StorageError``."""
    codes = [reason.get("Code", "None") for reason in refusal.response.get("CancellationReasons") or []]
    refused = [index - 1 for index, code in enumerate(codes) if code != "None"]
    if (
        error_code(refusal) != "TransactionCanceledException"
        or not refused
        or any(code not in ("None", "ConditionalCheckFailed") for code in codes)
    ):
        raise StorageError("storage_failed", f"DynamoDB cancelled the claim: {codes}") from refusal
    return refused


def _decided_again(
    table: Table,
    event: StripeEvent,
    writes: list[RecordWrite],
    refusal: ClientError,
    resolve: Resolver | None,
    *,
    decisions: Counter[Decision],
    rounds: int,
) -> list[RecordWrite]:
    """The claim's record writes after DynamoDB refused some: each refused one decided against the
    stored record (``_decide``), the ones with nothing left to write dropped."""
    refused = _refused_records(refusal)
    if rounds > ORDER_ROUNDS:
        raise StorageError("storage_conflict", "records kept changing under the claim") from refusal
    decided = [
        _decide(table, event, write, resolve, decisions) if index in refused else write
        for index, write in enumerate(writes)
    ]
    return [write for write in decided if write is not None]


def _decide(
    table: Table,
    event: StripeEvent,
    write: RecordWrite,
    resolve: Resolver | None,
    decisions: Counter[Decision],
) -> RecordWrite | None:
    """What to write instead of a refused record, decided against the stored one (counted)."""
    stored = stored_record(table, write.record)
    if stored is None:  # deleted since (records never are): try again next round
        return RecordWrite.first(event, write.record)
    decided, instead = ordering.decide(event, write.record, stored, resolve)
    decisions[decided] += 1
    return instead


def stored_record(table: Table, record: Record) -> StoredRecord | None:
    """The stored record a refused write is decided against (read only on that rare path: asking
    for it with every write would make every duplicate's refused claim carry it too)."""
    try:
        response = table.client.get_item(
            TableName=table.name, Key=schema.key_item(record.pk, record.sk), ConsistentRead=True
        )
    except ClientError as error:
        raise StorageError("storage_failed", "DynamoDB refused to read a record") from error
    except BotoCoreError as error:
        raise StorageError("storage_unreachable", "DynamoDB could not be reached") from error
    if "Item" not in response:
        return None
    item = from_item(response["Item"])
    last = LastEvent(
        int(item["last_event_watermark"]), str(item["last_event_id"]), str(item.get("last_event_type", ""))
    )
    content = {name: value for name, value in item.items() if name not in BOOKKEEPING}
    return StoredRecord(last, "deleted" in item, content, uncertain=bool(item.get(UNCERTAIN)))


def _event_refusal(refusal: ClientError) -> dict[str, Any] | None:
    """The part of a refusal that refuses the event-log item's put (the event is known): the whole
    answer for a plain put, the first cancellation reason for a transaction; None when only
    records were refused."""
    if error_code(refusal) == "ConditionalCheckFailedException":
        return cast(dict[str, Any], refusal.response)
    reasons = refusal.response.get("CancellationReasons") or []
    if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
        return cast(dict[str, Any], reasons[0])
    return None


def _known(table: Table, item: dict[str, Any] | None, now: float, ours: Claim) -> Claim:
    """The claim of a known event: ours (our own applied claim, re-sent by botocore after its
    answer was lost), a duplicate, in progress elsewhere, or taken over from a lapsed lease."""
    if item is None:
        raise EventInProgress("in_progress", "another delivery of this event is being processed")
    existing = from_item({name: item[name] for name in KNOWN_FIELDS if name in item})  # not its body
    if existing.get("lease_token") == ours.token:
        return ours  # our own claim: applied, its answer lost, and botocore sent it again
    if existing.get("status") == schema.PUBLISHED:
        return Claim(None, duplicate=True)
    if int(existing.get("lease_expires_at", 0)) > now:
        raise EventInProgress("in_progress", "another delivery of this event is being processed")
    return lease.take_over(table, existing, now)


def event_item(
    table: Table,
    event: StripeEvent,
    handler: str | None,
    token: str,
    now: float,
    *,
    payload: PayloadLocation | None,
) -> dict[str, Any]:
    """The event log's item for a new claim: the event and its lease. Its body and its ``by-type``
    index keys come with the mark or a release (``lease``): in the claim's transaction the body would
    be paid for twice, and an index entry written with the claim would be written again when the
    mark changes its projected ``status``."""
    values: dict[str, object] = {
        "pk": schema.event_pk(event.id),
        "sk": schema.EVENT_SK,
        "event_type": event.type,
        "created": event.created,
        "livemode": event.livemode,
        "object_type": event.object_type,
        "received_at": int(now),
        "status": schema.IN_PROGRESS,
        "lease_token": token,
        "lease_expires_at": int(now) + table.lease_seconds,
        "attempts": 1,
        "expires_at": int(now) + table.retention_seconds,
    }
    optional = {
        "api_version": event.api_version,
        "account": event.account,
        "object_id": event.object_id,
        "handler": handler,
        "payload_style": "thin" if event.thin else None,  # which delivery of a migration's twins counted
    }
    values.update({name: value for name, value in optional.items() if value is not None})
    if payload is not None:  # the body itself comes with the mark or a release (``lease``)
        values["payload_s3"] = payload.as_item()
    return to_item(values)
