"""The items and conditional writes the store sends: the event-log item, and each record's write;
and what a claim learns from an event-log item it finds.

Keys and index attributes come from ``schema``; the condition a record write carries comes from
``ordering`` (an ordered write, or one decided against the stored item it replaces).
"""

from __future__ import annotations

from typing import Any, cast

from botocore.exceptions import ClientError

from contract.aws import error_code
from stripe_webhook.adapters import bodies, schema
from stripe_webhook.adapters.dynamo_items import to_attribute, to_item
from stripe_webhook.core import ordering
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.errors import StorageError
from stripe_webhook.ports import PayloadLocation

ORDERED = "attribute_not_exists(pk) OR (attribute_not_exists(deleted) AND last_event_watermark < :bound)"
"""Older state is replaced and a deleted object stays deleted; anything else is decided by
``ordering.decide`` with the stored item DynamoDB returns on refusal."""
UNCHANGED = (
    "attribute_not_exists(deleted) AND last_event_watermark = :stored_mark AND last_event_id = :stored_id"
)
"""A write decided against a stored item applies only if that item is still the one decided on."""


def event_put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """The claim's put of the event-log item: only if the event is new, else its item comes back."""
    return {
        "TableName": table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(pk)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def event_item(
    event: StripeEvent,
    handler: str | None,
    token: str,
    now: float,
    payload: PayloadLocation | None,
    *,
    lease_seconds: int,
    retention_seconds: int,
) -> dict[str, Any]:
    """The event log's item for a new claim: the event, its lease and its body. Its ``by-type``
    index keys come with the mark or a release (``index_values``): an entry written with the claim
    would be written again when the mark changes its projected ``status``."""
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
        "lease_expires_at": int(now) + lease_seconds,
        "attempts": 1,
        "expires_at": int(now) + retention_seconds,
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
    else:  # under SNS's 256 KiB (larger ones are in S3), so far under the 400 KB item
        values[bodies.ATTRIBUTE] = bodies.pack(event.raw)
    return to_item(values)


INDEX_KEYS = f"{schema.TYPE_DAY} = :type_day, {schema.CREATED_EVENT} = :created_event"
"""What the mark and a release ``SET``: the event's ``by-type`` index entry (``index_values``)."""


def index_values(event: StripeEvent) -> dict[str, Any]:
    """The values of ``INDEX_KEYS`` for ``event``."""
    day = schema.type_day_key(event.type, event.created, schema.type_shard(event.id))
    return {
        ":type_day": {"S": day},
        ":created_event": {"S": schema.created_event_key(event.created)},
    }


def record_write(table: str, event: StripeEvent, write: ordering.Write, now: float) -> dict[str, Any]:
    """One TransactWriteItems entry: a conditional put, or (``How.FLAG``) a conditional update."""
    record = write.record
    key = schema.key_item(record.pk, record.sk)
    if write.over is None:
        condition = ORDERED
        values: dict[str, Any] = {":bound": to_attribute(ordering.bound(record))}
    else:
        condition = UNCHANGED
        stored = write.over
        values = {":stored_mark": to_attribute(stored.watermark), ":stored_id": {"S": stored.event_id}}
    if not write.puts_content:
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": f"SET {ordering.UNCERTAIN} = :uncertain",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {**values, ":uncertain": {"BOOL": True}},
            }
        }
    content, credited = (
        (write.resolved.content, write.resolved.credited)
        if write.resolved is not None
        else (record, ordering.Stamp(record.watermark, event.id, event.type))
    )
    item = {
        **content.attributes,
        "pk": record.pk,
        "sk": record.sk,
        "last_event_id": credited.event_id,
        "last_event_type": credited.event_type,
        "last_event_watermark": credited.watermark,
        "updated_at": int(now),
    }
    if write.uncertain:
        item[ordering.UNCERTAIN] = True
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
    }


def may_have_published_at(existing: dict[str, Any], lease_seconds: int) -> int | None:
    """When the holder of an event-log item (as read back) may have published at the earliest: as
    its release recorded (a lost publish answer), or, for a holder whose lease ran out instead of
    being released (it died, or published and failed to mark), the time it took the lease."""
    times = []
    if isinstance(existing.get("publish_uncertain_at"), int):
        times.append(int(existing["publish_uncertain_at"]))
    lease = int(existing.get("lease_expires_at", 0))
    if lease > 0:
        times.append(lease - lease_seconds)
    return min(times, default=None)


def refused_records(error: ClientError) -> list[int]:
    """The positions (in the claim's record writes) of the records DynamoDB refused: a
    ``TransactionCanceledException`` with ``ConditionalCheckFailed`` at their places. Any other
    cancellation is a ``StorageError``."""
    codes = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons") or []]
    refused = [index - 1 for index, code in enumerate(codes) if code != "None"]
    if (
        error_code(error) != "TransactionCanceledException"
        or not refused
        or any(code not in ("None", "ConditionalCheckFailed") for code in codes)
    ):
        raise StorageError("storage_failed", f"DynamoDB cancelled the claim: {codes}") from error
    return refused


def event_known(refusal: ClientError) -> bool:
    """Whether the claim was refused because its event-log item exists (the event is known), as
    opposed to a record write refused by its order condition."""
    return _event_refusal(refusal) is not None


def stored_event(refusal: ClientError) -> dict[str, Any] | None:
    """The stored event-log item DynamoDB returned with that refusal (``ALL_OLD``), if any."""
    return (_event_refusal(refusal) or {}).get("Item")


def _event_refusal(refusal: ClientError) -> dict[str, Any] | None:
    """The part of the answer that refuses the event-log item's put: the whole answer for a plain
    put, the first cancellation reason for a transaction."""
    if error_code(refusal) == "ConditionalCheckFailedException":
        return cast(dict[str, Any], refusal.response)
    reasons = refusal.response.get("CancellationReasons") or []
    if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
        return cast(dict[str, Any], reasons[0])
    return None
