"""The lease on a claimed event: mark it published, release it, or take it over once it lapsed.

Each is one update of the event-log item conditioned on holding the lease (``IN_PROGRESS`` and our
``lease_token``), so a holder whose lease was taken over can change nothing. botocore re-sends a
request whose answer was lost; the re-send then fails its condition, and the item returned with
the refusal (``ALL_OLD``) says whether it was our update that landed. The mark is tried again while
its deadline allows (``MARK_ROUNDS``): the event is already published, so a failed mark must not
send Stripe back to retry.

The event's body (``bodies``) is written by the first of the mark and a release, never by the
claim: the claim's transaction pays for each of its items twice, the mark once for the item's size
whatever it holds, so the body costs nothing with the mark (docs/performance.md). It is written only
if absent (``if_not_exists``): a later holder's copy never replaces the stored bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

from botocore.exceptions import ClientError

from contract import tracing
from contract.aws import error_code
from stripe_webhook.adapters import bodies, schema
from stripe_webhook.adapters.dynamo_items import from_item, to_attribute
from stripe_webhook.adapters.table import Table
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.errors import EventInProgress, StorageError
from stripe_webhook.ports import Claim, PayloadLocation

MARK_ROUNDS = 5
"""How many times the mark is re-sent (after botocore's own attempts) while its deadline allows."""

INDEX_ATTRIBUTES = (schema.TYPE_DAY, schema.CREATED_EVENT, schema.LOG_SHARD)
INDEX_KEYS = ", ".join(f"{name} = :{name}" for name in INDEX_ATTRIBUTES)
"""What the mark and a release ``SET``: the event's entries in the ``by-type``, ``by-object`` and
``by-time`` indexes (``index_entry``)."""


def mark_published(
    table: Table,
    event: StripeEvent,
    token: str,
    message_id: str,
    now: float,
    *,
    deadline: float | None,
    payload: PayloadLocation | None,
) -> bool:
    """Record that the event reached SNS, keep its body (unless ``payload`` says it is in S3), and
    index it by type; False if our lease was taken over meanwhile, or if DynamoDB failed every
    attempt made until ``deadline``. A traced invocation's trace id is kept with it (``trace_id``):
    the console links to it."""
    update = f"SET #status = :published, published_at = :now, sns_message_id = :message_id, {INDEX_KEYS}"
    values = {
        ":published": {"S": schema.PUBLISHED},
        ":now": to_attribute(int(now)),
        ":message_id": {"S": message_id},
        **index_values(event),
    }
    update += _keep_body(event, payload, values)
    if (trace := tracing.trace_id()) is not None:
        update += ", trace_id = :trace_id"
        values[":trace_id"] = {"S": trace}
    return _update(
        table,
        event.id,
        token,
        f"{update} REMOVE lease_token, lease_expires_at",
        values,
        applied=lambda item: item.get("sns_message_id") == message_id,
        deadline=deadline,
    )


def release(
    table: Table,
    event: StripeEvent,
    token: str,
    *,
    published_maybe_at: float | None,
    payload: PayloadLocation | None,
) -> bool:
    """Give up our lease early so Stripe's retry can finish the event without waiting; the event is
    indexed by type (``status`` IN_PROGRESS) so ``status`` lists it while it waits, and its body is
    kept (as the mark keeps it). ``published_maybe_at``: our publish's answer was lost, so SNS may
    hold the message since then; kept (the earliest such time) for whoever publishes it next."""
    update = f"SET lease_expires_at = :zero, {INDEX_KEYS}"
    values = {":zero": {"N": "0"}, **index_values(event)}
    update += _keep_body(event, payload, values)
    if published_maybe_at is not None:
        update += ", publish_uncertain_at = if_not_exists(publish_uncertain_at, :at)"
        values[":at"] = to_attribute(int(published_maybe_at))
    return _update(table, event.id, token, update, values)


def _keep_body(event: StripeEvent, payload: PayloadLocation | None, values: dict[str, Any]) -> str:
    """The ``SET`` clause that keeps the body, unless one is stored already or it is in S3
    (``payload``); its value is added to ``values``."""
    if payload is not None:
        return ""
    values[":body"] = {"B": bodies.pack(event.raw)}
    return f", {bodies.ATTRIBUTE} = if_not_exists({bodies.ATTRIBUTE}, :body)"


def take_over(table: Table, existing: dict[str, Any], now: float) -> Claim:
    """Take the lease of a claimed event whose holder's lease lapsed (``existing``: its event-log
    item, in plain values); ``EventInProgress`` if another delivery took it first."""
    token = uuid.uuid4().hex
    maybe = may_have_published_at(existing, table.lease_seconds)
    update = "SET lease_token = :new_token, lease_expires_at = :expires, attempts = attempts + :one"
    values = {
        ":new_token": {"S": token},
        ":expires": to_attribute(int(now) + table.lease_seconds),
        ":one": {"N": "1"},
    }
    if maybe is not None:  # kept for a later holder, should this one fail too
        update += ", publish_uncertain_at = if_not_exists(publish_uncertain_at, :maybe)"
        values[":maybe"] = to_attribute(maybe)
    taken = _update(
        table,
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
        token, resumed=True, lease_expires_at=int(now) + table.lease_seconds, may_have_published_at=maybe
    )


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


def index_values(event: StripeEvent) -> dict[str, Any]:
    """The values of ``INDEX_KEYS`` for ``event``."""
    return {f":{name}": value for name, value in index_entry(event.type, event.created, event.id).items()}


def index_entry(event_type: str, created: int, event_id: str) -> dict[str, Any]:
    """An event's index keys as the mark and a release write them (``INDEX_ATTRIBUTES``)."""
    return {
        schema.TYPE_DAY: {"S": schema.type_day_key(event_type, created, schema.type_shard(event_id))},
        schema.CREATED_EVENT: {"S": schema.created_event_key(created)},
        schema.LOG_SHARD: {"S": schema.log_shard(event_id)},
    }


def _update(
    table: Table,
    event_id: str,
    token: str,
    update: str,
    values: dict[str, Any],
    *,
    applied: Callable[[dict[str, Any]], bool] = lambda _item: False,
    raise_errors: bool = False,
    deadline: float | None = None,
) -> bool:
    """An update conditioned on our lease. ``applied`` recognises the item as our update left it
    (a re-send of an applied update fails its condition). With a ``deadline``, a failed update is
    re-sent while a whole call still fits (``MARK_ROUNDS``); then False, or (``raise_errors``) the
    ``StorageError``."""
    request = {
        "TableName": table.name,
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
    answer = _try_update(table, request, applied)
    rounds = 0
    while isinstance(answer, StorageError) and table.waits.before_round(rounds, MARK_ROUNDS, deadline):
        rounds += 1
        answer = _try_update(table, request, applied)
    if isinstance(answer, StorageError) and raise_errors:
        raise answer
    return answer is True


def _try_update(
    table: Table, request: dict[str, Any], applied: Callable[[dict[str, Any]], bool]
) -> bool | StorageError:
    """One update (its conflicts retried): whether it is applied, or why it failed."""
    try:
        table.send("update_item", **request)
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
