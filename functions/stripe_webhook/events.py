"""Parse a verified body into a ``StripeEvent``: the fields every later step needs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from stripe_webhook.errors import InvalidPayload

_MAX_ID_LENGTH = 255
MAX_CREATED = 4_102_444_800
"""2100-01-01T00:00:00Z: a ``created`` beyond it is no Stripe event (and overflows ``gmtime``)."""
UNKNOWN_OBJECT_TYPE = "unknown"
THIN_EVENT_OBJECT = "v2.core.event"


@dataclass(frozen=True)
class StripeEvent:
    """A Stripe event: a v1 snapshot event, or a v2 thin event notification (``thin``).

    For a thin event ``data_object`` is the related object's reference (``id`` and
    ``object``) until the full event is fetched from the Stripe API.
    """

    id: str
    type: str
    created: int
    livemode: bool
    api_version: str | None
    account: str | None
    data_object: dict[str, Any]
    raw: bytes
    thin: bool = False

    @property
    def object_type(self) -> str:
        value = self.data_object.get("object")
        return value if isinstance(value, str) and value else UNKNOWN_OBJECT_TYPE

    @property
    def object_id(self) -> str | None:
        value = self.data_object.get("id")
        return value if isinstance(value, str) and value else None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("invalid_payload", "body is not UTF-8") from None
    try:
        body = json.loads(text)
    except ValueError:
        raise InvalidPayload("invalid_payload", "body is not JSON") from None
    except RecursionError:  # nesting deeper than the parser's limit: no Stripe event is
        raise InvalidPayload("invalid_payload", "body is nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidPayload("not_an_event", "body is not a JSON object")
    return body


def parse_thin_event(raw: bytes) -> StripeEvent:
    """A v2 thin event notification: ``{"object": "v2.core.event", "related_object": …}``."""
    body = _json_object(raw)
    if body.get("object") != THIN_EVENT_OBJECT:
        raise InvalidPayload("not_a_thin_event", "body is not a Stripe v2 event notification")
    event_id, event_type = body.get("id"), body.get("type")
    if not _is_short_string(event_id) or not _is_short_string(event_type):
        raise InvalidPayload("not_a_thin_event", "event needs a string id and type")
    created = body.get("created")
    try:
        moment = dt.datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        timestamp = int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())
    except (ValueError, OverflowError, OSError):
        raise InvalidPayload("not_a_thin_event", "event created must be an ISO 8601 time") from None
    if not 0 <= timestamp <= MAX_CREATED:
        raise InvalidPayload("not_a_thin_event", "event created is out of range")
    related = body.get("related_object")
    reference: dict[str, Any] = {}
    if isinstance(related, dict):
        for name, key in (("id", "id"), ("object", "type"), ("url", "url")):
            if isinstance(related.get(key), str):
                reference[name] = related[key]
    context = body.get("context")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=timestamp,
        livemode=body.get("livemode") is True,
        api_version=None,
        account=context if isinstance(context, str) and context else None,
        data_object=reference,
        raw=raw,
        thin=True,
    )


def parse_event(raw: bytes) -> StripeEvent:
    """Decode and validate the shape of a Stripe event; raise ``InvalidPayload`` otherwise."""
    body = _json_object(raw)
    kind = body.get("object", "event")
    if kind != "event":
        # e.g. a v2 thin event notification ("v2.core.event") sent to the v1 endpoint
        raise InvalidPayload("not_an_event", "body is not a Stripe v1 event object")
    event_id = body.get("id")
    event_type = body.get("type")
    if not _is_short_string(event_id) or not _is_short_string(event_type):
        raise InvalidPayload("not_an_event", "event needs a string id and type")
    created = body.get("created")
    if created is not None and (not isinstance(created, int) or isinstance(created, bool)):
        raise InvalidPayload("not_an_event", "event created must be an integer")
    if created is not None and not 0 <= created <= MAX_CREATED:
        raise InvalidPayload("not_an_event", "event created is out of range")
    data = body.get("data")
    data_object = data.get("object") if isinstance(data, dict) else None
    if not isinstance(data_object, dict):
        raise InvalidPayload("not_an_event", "event has no data.object")
    account = body.get("account")
    api_version = body.get("api_version")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created or 0,
        livemode=body.get("livemode") is True,
        api_version=api_version if isinstance(api_version, str) else None,
        account=account if isinstance(account, str) and account else None,
        data_object=data_object,
        raw=raw,
    )


def _is_short_string(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH
