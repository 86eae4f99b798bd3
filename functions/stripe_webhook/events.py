"""Parse a verified body into a ``StripeEvent``: the fields every later step needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from stripe_webhook.errors import InvalidPayload

_MAX_ID_LENGTH = 255
UNKNOWN_OBJECT_TYPE = "unknown"


@dataclass(frozen=True)
class StripeEvent:
    """A Stripe (v1, snapshot) event, as delivered to a webhook endpoint."""

    id: str
    type: str
    created: int
    livemode: bool
    api_version: str | None
    account: str | None
    data_object: dict[str, Any]
    raw: bytes

    @property
    def object_type(self) -> str:
        value = self.data_object.get("object")
        return value if isinstance(value, str) and value else UNKNOWN_OBJECT_TYPE

    @property
    def object_id(self) -> str | None:
        value = self.data_object.get("id")
        return value if isinstance(value, str) and value else None


def parse_event(raw: bytes) -> StripeEvent:
    """Decode and validate the shape of a Stripe event; raise ``InvalidPayload`` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("invalid_payload", "body is not UTF-8") from None
    try:
        body = json.loads(text)
    except ValueError:
        raise InvalidPayload("invalid_payload", "body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidPayload("not_an_event", "body is not a JSON object")
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
    data = body.get("data")
    data_object = data.get("object") if isinstance(data, dict) else None
    account = body.get("account")
    api_version = body.get("api_version")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created or 0,
        livemode=body.get("livemode") is True,
        api_version=api_version if isinstance(api_version, str) else None,
        account=account if isinstance(account, str) and account else None,
        data_object=data_object if isinstance(data_object, dict) else {},
        raw=raw,
    )


def _is_short_string(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH
