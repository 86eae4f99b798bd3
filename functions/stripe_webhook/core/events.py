"""Parse a verified body into a ``StripeEvent``: the fields every later step needs."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from stripe_webhook.errors import InvalidPayload

EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
"""``evt_…``: what may become a table key, a message attribute and a Stripe API path."""
EVENT_TYPE = re.compile(r"(?=.{1,255}$)[a-z0-9_]+(?:\.[a-z0-9_]+)*")
OBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=~-]{0,254}")
"""Stripe's ids (``pi_…``) and the ids a user may choose (coupons, products): bounded (DynamoDB
keys hold 2,048 bytes) and starting with a letter or digit (so never ``..`` in a URL path)."""
OBJECT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
ACCOUNT = re.compile(r"[A-Za-z0-9_]{1,255}")
CONTEXT = re.compile(r"[A-Za-z0-9_]{1,255}(?:/[A-Za-z0-9_]{1,255}){0,4}")
"""A thin event's ``context``: an account, or a path of them (``acct_1/acct_2``) for organizations."""
API_VERSION = re.compile(r"[0-9A-Za-z._-]{1,64}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
MAX_CREATED = 4_102_444_800
"""2100-01-01T00:00:00Z: a ``created`` beyond it is no Stripe event (and overflows ``gmtime``)."""
UNKNOWN_OBJECT_TYPE = "unknown"
THIN_EVENT_OBJECT = "v2.core.event"
V1_THIN_PREFIX = "v1."
"""A thin notification about an API v1 resource: ``v1.<the snapshot event's type>``."""
THIN_NOTIFICATION = "thin_notification"
"""Where a thin delivery's business event keeps the notification Stripe sent (``as_business_event``)."""
RECONCILIATION = "reconciliation"
"""Where an event rebuilt from Stripe's health notice keeps the notice (``health``)."""
HEALTH_NOTICE = "v2.core.health.event_generation_failure.resolved"
"""Stripe's notice of an event it failed to generate (``health``)."""


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
    snapshot_event: str | None = None
    """A thin notification's snapshot twin (Stripe's migration runs both styles side by side)."""
    state_at: int | None = None
    """When ``data_object`` was fetched (a thin delivery): records are ordered by it, not by
    ``created``, because the object is its state at that time, not at the event's."""
    reconciliation: bool = False
    """Made from Stripe's notice of an event it never generated, or that notice (``health``)."""

    @property
    def ordered_at(self) -> int:
        """The second that orders this event's records (``records.watermark``)."""
        return self.created if self.state_at is None else self.state_at

    @property
    def v1_resource_type(self) -> str | None:
        """For a thin notification about a v1 resource (``v1.invoice.paid``), its snapshot type."""
        if not self.thin or not self.type.startswith(V1_THIN_PREFIX) or self.object_id is None:
            return None
        return self.type[len(V1_THIN_PREFIX) :]

    @property
    def object_type(self) -> str:
        value = self.data_object.get("object")
        return value if isinstance(value, str) and value else UNKNOWN_OBJECT_TYPE

    @property
    def object_id(self) -> str | None:
        value = self.data_object.get("id")
        return value if isinstance(value, str) and value else None


def compact_json(value: Any) -> bytes:
    """JSON as the stack keeps a body it built itself: compact UTF-8, no ASCII escapes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Python reads infinity, other parsers reject it
        raise ValueError("a number out of range")
    return value


def strict_json(raw: bytes) -> Any:
    """RFC 8259 JSON, as every consumer's parser reads it: UTF-8, no ``NaN``/``Infinity``, no
    number out of a double's range, no lone surrogate (``"\\ud800"``, which no UTF-8 encoder
    writes back). ``InvalidPayload`` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("invalid_payload", "body is not UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except ValueError:
        raise InvalidPayload("invalid_payload", "body is not JSON") from None
    except RecursionError:  # nesting deeper than the parser's limit: no Stripe event is
        raise InvalidPayload("invalid_payload", "body is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(raw):  # rare: only then pay for the exact check
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPayload("invalid_payload", "body has a lone surrogate") from None
    return body


def _json_object(raw: bytes) -> dict[str, Any]:
    body = strict_json(raw)
    if not isinstance(body, dict):
        raise InvalidPayload("not_an_event", "body is not a JSON object")
    return body


def is_id(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _optional(body: dict[str, Any], name: str, pattern: re.Pattern[str], code: str) -> str | None:
    """A field that is absent, null, or a string ``pattern`` matches; ``InvalidPayload`` else."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if not is_id(pattern, value):
        raise InvalidPayload(code, f"event {name} is not a valid Stripe value")
    return str(value)


def _check_object(data_object: dict[str, Any], code: str) -> None:
    """The object's ``id`` and ``object`` become keys, attributes and URL paths: bounded here."""
    _optional(data_object, "id", OBJECT_ID, code)
    _optional(data_object, "object", OBJECT_TYPE, code)


def _check_ids(body: dict[str, Any], code: str) -> tuple[str, str]:
    event_id, event_type = body.get("id"), body.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise InvalidPayload(code, "event needs a string id and type")
    if not is_id(EVENT_ID, event_id) or not is_id(EVENT_TYPE, event_type):
        raise InvalidPayload(code, "event id or type is not a valid Stripe value")
    return event_id, event_type


def parse_thin_event(raw: bytes) -> StripeEvent:
    """A v2 thin event notification: ``{"object": "v2.core.event", "related_object": …}``."""
    body = _json_object(raw)
    if body.get("object") != THIN_EVENT_OBJECT:
        raise InvalidPayload("not_a_thin_event", "body is not a Stripe v2 event notification")
    event_id, event_type = _check_ids(body, "not_a_thin_event")
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
    if related is not None:
        if not isinstance(related, dict):
            raise InvalidPayload("not_a_thin_event", "event related_object is not an object")
        for name, key in (("id", "id"), ("object", "type"), ("url", "url")):
            if isinstance(related.get(key), str):
                reference[name] = related[key]
        _check_object(reference, "not_a_thin_event")
    context = _optional(body, "context", CONTEXT, "not_a_thin_event")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=timestamp,
        livemode=body.get("livemode") is True,
        api_version=None,
        account=context,
        data_object=reference,
        raw=raw,
        thin=True,
        snapshot_event=_optional(body, "snapshot_event", EVENT_ID, "not_a_thin_event"),
        reconciliation=event_type == HEALTH_NOTICE,
    )


def as_business_event(
    notification: StripeEvent, fetched: dict[str, Any], *, fetched_at: int, api_version: str
) -> StripeEvent:
    """A thin v1 notification with its object fetched, as the snapshot event it stands for: the
    snapshot type, the object as ``data.object``, and the id of its snapshot twin when it names
    one (so the business event is claimed, recorded and published once, whichever style comes
    first). The body keeps the notification as Stripe sent it under ``thin_notification``."""
    resource_type = notification.v1_resource_type
    if resource_type is None:
        raise ValueError("not a thin notification about a v1 resource")
    event_id = notification.snapshot_event or notification.id
    body: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "type": resource_type,
        "created": notification.created,
        "livemode": notification.livemode,
        "api_version": api_version,
        "data": {"object": fetched},
        THIN_NOTIFICATION: json.loads(notification.raw),
    }
    if notification.account and is_id(ACCOUNT, notification.account):
        body["account"] = notification.account
    return StripeEvent(
        id=event_id,
        type=resource_type,
        created=notification.created,
        livemode=notification.livemode,
        api_version=api_version,
        account=notification.account,
        data_object=fetched,
        raw=compact_json(body),
        thin=True,
        snapshot_event=notification.snapshot_event,
        state_at=fetched_at,
    )


def parse_event(raw: bytes) -> StripeEvent:
    """Decode and validate the shape of a Stripe event; raise ``InvalidPayload`` otherwise."""
    body = _json_object(raw)
    kind = body.get("object", "event")
    if kind != "event":
        # e.g. a v2 thin event notification ("v2.core.event") sent to the v1 endpoint
        raise InvalidPayload("not_an_event", "body is not a Stripe v1 event object")
    event_id, event_type = _check_ids(body, "not_an_event")
    created = body.get("created")
    if created is not None and (not isinstance(created, int) or isinstance(created, bool)):
        raise InvalidPayload("not_an_event", "event created must be an integer")
    if created is not None and not 0 <= created <= MAX_CREATED:
        raise InvalidPayload("not_an_event", "event created is out of range")
    data = body.get("data")
    data_object = data.get("object") if isinstance(data, dict) else None
    if not isinstance(data_object, dict):
        raise InvalidPayload("not_an_event", "event has no data.object")
    _check_object(data_object, "not_an_event")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created or 0,
        livemode=body.get("livemode") is True,
        api_version=_optional(body, "api_version", API_VERSION, "not_an_event"),
        account=_optional(body, "account", ACCOUNT, "not_an_event"),
        data_object=data_object,
        raw=raw,
        thin=isinstance(body.get(THIN_NOTIFICATION), dict),  # a thin delivery's stored business event
        reconciliation=isinstance(body.get(RECONCILIATION), dict),  # rebuilt from a health notice
    )


def parse_stored_event(raw: bytes) -> StripeEvent:
    """A body as the event log keeps it: a v1 snapshot event, or a v2 thin notification (one that
    no handler turned into the snapshot event it stands for)."""
    return parse_thin_event(raw) if _json_object(raw).get("object") == THIN_EVENT_OBJECT else parse_event(raw)
