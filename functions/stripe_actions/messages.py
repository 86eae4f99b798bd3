"""One SQS message from the events topic → an ``ActionEvent``, or ``PoisonMessage``.

Both ways SNS delivers to SQS are read: raw delivery (the body is the message, the attributes are
SQS message attributes) and the SNS envelope (a JSON ``Notification`` carrying ``Message`` and
``MessageAttributes``). The result is checked against the published contract, and a large event's
pointer (the AWS extended client libraries' ``PayloadS3Pointer``) is replaced by the stored event,
whose id and size must match the message's attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import contract
from contract import EXTENDED_PAYLOAD_SIZE, RECORD
from contract.records import WRITE_MARKS, object_key

ReadPayload = Callable[[str, str], bytes]
"""(bucket, key) → the stored event's bytes."""
ReadRecord = Callable[[str], "dict[str, Any] | None"]
"""Stripe object id → its current record in the webhook's table (``webhook_data.RecordReader``)."""


class PoisonMessage(ValueError):
    """A message no retry can make valid: it fails until SQS moves it to the dead-letter queue."""


@dataclass
class ActionEvent:
    """A Stripe event as a consumer receives it: the event, the message's attributes, and the
    current record of any Stripe object, read from the webhook's table when asked for."""

    event: Mapping[str, Any]
    attributes: Mapping[str, str]
    message_id: str
    receive_count: int = 1
    read_record: ReadRecord | None = field(default=None, repr=False)
    carried: dict[str, Any] | None = field(default=None, repr=False)
    """The event's object's record as its delivery wrote it, when the message carries it
    (``contract.RECORD``); the stored one may be newer since (``handled`` checks)."""
    carried_problem: str | None = None
    """Why a ``record`` attribute the message has was left out (it is read instead)."""
    _records: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def object(self) -> Mapping[str, Any]:
        """``data.object``: the Stripe object as of the event."""
        value = self.event["data"]["object"]
        return value if isinstance(value, Mapping) else {}

    @property
    def object_id(self) -> str | None:
        value = self.object.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def livemode(self) -> bool:
        return self.attributes.get("livemode") == "true"

    @property
    def redriven(self) -> bool:
        """Republished by the operator's redrive command (``redrive`` attribute)."""
        return self.attributes.get("redrive") == "true"

    def record(self, object_id: str | None = None) -> dict[str, Any] | None:
        """The current record of ``object_id`` (default: the event's object) from the webhook's
        table: newer than or as new as this event, whatever order messages arrive in. Read once."""
        wanted = object_id or self.object_id
        if wanted is None or self.read_record is None:
            return None
        if wanted not in self._records:
            self._records[wanted] = self.read_record(wanted)
        return self._records[wanted]

    def keep_record(self, object_id: str, record: dict[str, Any] | None) -> None:
        """``object_id``'s record, read by the kit with something else (``handled``): ``record``
        gives it without another read."""
        self._records[object_id] = record


def _raw_attributes(record: Mapping[str, Any]) -> dict[str, str]:
    attributes = record.get("messageAttributes") or {}
    return {
        str(name): str(value.get("stringValue", value.get("StringValue", "")))
        for name, value in attributes.items()
        if isinstance(value, Mapping)
    }


def _envelope(body: str) -> tuple[str, dict[str, str]] | None:
    """An SNS notification's message and attributes, or None for a raw-delivery body."""
    if not body.lstrip().startswith("{"):
        return None
    document = _json(body, "the body", envelope=True)
    if not isinstance(document, dict) or document.get("Type") != "Notification" or "Message" not in document:
        return None
    attributes = document.get("MessageAttributes") or {}
    return str(document["Message"]), {
        str(name): str(value.get("Value", ""))
        for name, value in attributes.items()
        if isinstance(value, Mapping)
    }


def parse_record(
    record: Mapping[str, Any],
    *,
    read_payload: ReadPayload | None = None,
    read_record: ReadRecord | None = None,
) -> ActionEvent:
    """The ``ActionEvent`` in one record of an SQS Lambda event, or ``PoisonMessage``."""
    body = str(record.get("body", ""))
    unwrapped = _envelope(body)
    message, attributes = unwrapped if unwrapped else (body, _raw_attributes(record))
    document = _valid_body(message, attributes, "the body")
    if isinstance(document, list):
        document = _resolve_pointer(document[1], attributes, read_payload)
    if document["id"] != attributes["event_id"] or document["type"] != attributes["event_type"]:
        raise PoisonMessage("the body's id or type differs from the message attributes")
    event = ActionEvent(
        event=document,
        attributes={name: value for name, value in attributes.items() if name not in KIT_ATTRIBUTES},
        message_id=str(record.get("messageId", "")),
        receive_count=receive_count(record),
        read_record=read_record,
    )
    if RECORD in attributes:
        event.carried, event.carried_problem = carried_record(attributes[RECORD], event)
    return event


KIT_ATTRIBUTES = frozenset({EXTENDED_PAYLOAD_SIZE, RECORD})
"""Attributes the kit reads for itself and does not hand to actions."""


def carried_record(text: str, event: ActionEvent) -> tuple[dict[str, Any] | None, str | None]:
    """The record a message carries, if it is the event's object's, as this event's write left it;
    else None and why (the record is then read, as for a message without one)."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return None, "the record attribute is not JSON"
    if event.object_id is None or not isinstance(record, dict):
        return None, "the record attribute is not an object's record"
    pk, sk = object_key(event.object_id)
    if (record.get("pk"), record.get("sk"), record.get("last_event_id")) != (pk, sk, event.id):
        return None, "the record attribute is not this event's object's, as this event wrote it"
    if not all(isinstance(record.get(name), str | int) for name in WRITE_MARKS):
        return None, "the record attribute lacks what tells its write apart"
    return record, None


def receive_count(record: Mapping[str, Any]) -> int:
    """The record's ``ApproximateReceiveCount`` (1 when absent or not a number)."""
    count = str((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    return int(count) if count.isdigit() else 1


def _valid_body(text: str | bytes, attributes: Mapping[str, str], what: str) -> Any:
    """The JSON in ``text``, valid with ``attributes`` as a contract message, or ``PoisonMessage``."""
    body = _json(text, what)
    try:
        contract.validate({"attributes": dict(attributes), "body": body})
    except contract.ContractViolation as error:
        raise PoisonMessage(f"{what}: {error}") from None
    except RecursionError:  # the validator walks what the parser let through
        raise PoisonMessage(f"{what} nests deeper than the validator reads") from None
    return body


def _json(text: str | bytes, what: str, *, envelope: bool = False) -> Any:
    """``text`` parsed; a parser limit (nesting past the recursion limit, a number too long) is
    poison like any other unreadable body: it fails every receive, so it must be named. Not JSON at
    all is ``None`` when looking for an SNS envelope (a raw body is no envelope)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise PoisonMessage(f"{what} nests deeper than the parser reads") from None
    except ValueError:
        if envelope:
            return None
        raise PoisonMessage(f"{what} is not JSON") from None


def _resolve_pointer(
    pointer: Mapping[str, str], attributes: Mapping[str, str], read_payload: ReadPayload | None
) -> dict[str, Any]:
    """The stored event a pointer names (a read failure propagates: retried, not poison)."""
    if read_payload is None:
        raise PoisonMessage("a large-payload pointer arrived and this consumer has no S3 reader")
    stored = read_payload(pointer["s3BucketName"], pointer["s3Key"])
    expected = attributes.get(EXTENDED_PAYLOAD_SIZE)
    if expected is not None and int(expected) != len(stored):
        raise PoisonMessage(f"the stored event has {len(stored)} bytes, the message says {expected}")
    event = _valid_body(stored, attributes, "the stored event")
    if not isinstance(event, dict):
        raise PoisonMessage("the stored event is not an object")
    return event
