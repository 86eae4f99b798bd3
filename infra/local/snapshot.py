"""The ``--persist`` snapshot's format, read whole and checked before anything is restored.

A snapshot is one JSON document: ``items`` (the events table, DynamoDB's JSON with binaries in
base64), ``objects`` (the payload bucket), ``messages`` (the consumer queue), ``queues`` (the
actions' queues and dead-letter queues, by name), ``inbox`` (the requests) and ``tables`` (the
actions' tables, by name). ``parse`` checks every part, every item and every value, and names
the first thing it cannot restore (``inbox[3]: fields this checkout does not know: …``): either
all of it can be put back, or none of it is (``persist.restore`` then moves the file aside).
A part this checkout does not know (a newer one saved it) is not an error: it is carried over.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from infra.local.inbox import Entry

SNAPSHOT = "snapshot.json"
MAX_BYTES = 512 * 1024 * 1024
"""A larger file is not read (moved aside): the inbox is bounded, so only damage makes one."""
MAX_DEPTH = 32
"""DynamoDB's own limit on nested attribute values."""

Item = dict[str, dict[str, Any]]
Message = dict[str, Any]


class Unrestorable(ValueError):
    """The snapshot holds something this checkout cannot put back; the message says where."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot, decoded: what botocore and the inbox take, and the JSON it came from."""

    raw: dict[str, Any]
    items: list[Item]
    objects: list[tuple[str, bytes]]
    messages: list[Message]
    inbox: list[Entry]
    tables: dict[str, list[Item]]
    queues: dict[str, list[Message]]


def parse(text: str) -> Snapshot:
    """``text`` decoded whole, or ``Unrestorable`` naming the first thing that is not right."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise Unrestorable(f"it is not JSON ({str(error)[:120]})") from None
    if not isinstance(raw, dict) or not all(isinstance(raw.get(name), list) for name in ("items", "inbox")):
        raise Unrestorable("it is not a snapshot of the local stack")
    return Snapshot(
        raw=raw,
        items=[item_of(value, f"items[{n}]") for n, value in enumerate(raw["items"])],
        objects=[_object_of(value, f"objects[{n}]") for n, value in enumerate(_list(raw, "objects"))],
        messages=[message_of(value, f"messages[{n}]") for n, value in enumerate(_list(raw, "messages"))],
        inbox=[entry_of(value, f"inbox[{n}]") for n, value in enumerate(raw["inbox"])],
        tables={
            name: [item_of(value, f"tables.{name}[{n}]") for n, value in enumerate(items)]
            for name, items in _named_lists(raw, "tables").items()
        },
        queues={
            name: [message_of(value, f"queues.{name}[{n}]") for n, value in enumerate(messages)]
            for name, messages in _named_lists(raw, "queues").items()
        },
    )


def _list(raw: dict[str, Any], part: str) -> list[Any]:
    value = raw.get(part, [])
    if not isinstance(value, list):
        raise Unrestorable(f"{part}: not a list")
    return value


def _named_lists(raw: dict[str, Any], part: str) -> dict[str, list[Any]]:
    value = raw.get(part, {})
    if not isinstance(value, dict) or not all(isinstance(entries, list) for entries in value.values()):
        raise Unrestorable(f"{part}: not a map of names to lists")
    return value


def _binary(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise Unrestorable(f"{where}: a binary value is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unrestorable(f"{where}: not valid base64") from None


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise Unrestorable(f"{where}: not a string")
    return value


def _number(value: Any, where: str) -> str:
    try:
        Decimal(_string(value, where))
    except InvalidOperation:
        raise Unrestorable(f"{where}: not a number") from None
    return str(value)


def item_of(value: Any, where: str) -> Item:
    """A table item in DynamoDB's JSON → what botocore's ``put_item`` takes (binaries as bytes)."""
    if not isinstance(value, dict) or not value:
        raise Unrestorable(f"{where}: an item is not a map of attributes")
    return {_string(name, where): attribute_of(entry, f"{where}.{name}") for name, entry in value.items()}


def attribute_of(value: Any, where: str, depth: int = 0) -> dict[str, Any]:
    """One attribute value, checked as DynamoDB would and decoded (base64 → bytes)."""
    if depth > MAX_DEPTH:
        raise Unrestorable(f"{where}: nested deeper than DynamoDB allows")
    if not isinstance(value, dict) or len(value) != 1:
        raise Unrestorable(f"{where}: not an attribute value")
    ((kind, content),) = value.items()
    if kind == "S":
        return {"S": _string(content, where)}
    if kind == "N":
        return {"N": _number(content, where)}
    if kind == "B":
        return {"B": _binary(content, where)}
    if kind == "BOOL" and isinstance(content, bool):
        return value
    if kind == "NULL" and content is True:
        return value
    if kind in ("SS", "NS", "BS") and isinstance(content, list) and content:
        convert = {"SS": _string, "NS": _number, "BS": _binary}[kind]
        return {kind: [convert(entry, where) for entry in content]}
    if kind == "M" and isinstance(content, dict):
        members = content.items()
        return {"M": {name: attribute_of(entry, f"{where}.{name}", depth + 1) for name, entry in members}}
    if kind == "L" and isinstance(content, list):
        return {"L": [attribute_of(entry, f"{where}[{n}]", depth + 1) for n, entry in enumerate(content)]}
    raise Unrestorable(f"{where}: not an attribute value ({str(kind)[:20]})")


def _object_of(value: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(value, dict) or set(value) != {"key", "body"} or not value["key"]:
        raise Unrestorable(f"{where}: not a stored object (key, body)")
    return _string(value["key"], where), _binary(value["body"], f"{where}.body")


def message_of(value: Any, where: str) -> Message:
    """A saved queue message → what ``send_message`` takes (a binary attribute's value as bytes)."""
    if not isinstance(value, dict) or not set(value) <= {"MessageBody", "MessageAttributes"}:
        raise Unrestorable(f"{where}: not a queue message (MessageBody, MessageAttributes)")
    body = _string(value.get("MessageBody"), f"{where}.MessageBody")
    attributes = value.get("MessageAttributes", {})
    if not body or not isinstance(attributes, dict):
        raise Unrestorable(f"{where}: not a queue message (MessageBody, MessageAttributes)")
    decoded = {}
    for name, attribute in attributes.items():
        if not isinstance(attribute, dict) or not isinstance(attribute.get("DataType"), str):
            raise Unrestorable(f"{where}.MessageAttributes.{name}: not a message attribute")
        if "BinaryValue" in attribute:
            binary = _binary(attribute["BinaryValue"], f"{where}.MessageAttributes.{name}")
            decoded[name] = {"DataType": attribute["DataType"], "BinaryValue": binary}
        else:
            text = _string(attribute.get("StringValue"), f"{where}.MessageAttributes.{name}")
            decoded[name] = {"DataType": attribute["DataType"], "StringValue": text}
    return {"MessageBody": body, "MessageAttributes": decoded}


def base64_text(raw: bytes) -> str:
    """Bytes as the snapshot's JSON keeps them."""
    return base64.b64encode(raw).decode("ascii")


def as_json_value(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value as botocore gives it → as DynamoDB's JSON spells it (bytes as base64);
    ``attribute_of`` is the way back."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": base64_text(content)}
    if kind == "BS":
        return {"BS": [base64_text(entry) for entry in content]}
    if kind == "M":
        return {"M": {name: as_json_value(entry) for name, entry in content.items()}}
    if kind == "L":
        return {"L": [as_json_value(entry) for entry in content]}
    return value


def message_json(body: str, attributes: dict[str, dict[str, Any]]) -> Message:
    """A queue message as the snapshot keeps it (a binary attribute's value in base64)."""
    kept = {
        name: {
            key: base64_text(entry) if isinstance(entry, bytes) else entry
            for key, entry in attribute.items()
            if key in ("DataType", "StringValue", "BinaryValue")
        }
        for name, attribute in attributes.items()
    }
    return {"MessageBody": body, "MessageAttributes": kept}


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "dict[str, str]": (dict,),
    "str | None": (str, type(None)),
    "int | None": (int, type(None)),
}
"""What each annotation of ``Entry`` admits in JSON (``test_snapshot`` fails on one it lacks)."""


def entry_of(value: Any, where: str) -> Entry:
    """A saved inbox entry, every field present, known and of its type."""
    if not isinstance(value, dict):
        raise Unrestorable(f"{where}: an inbox entry is not a map")
    fields = {field.name: field for field in dataclasses.fields(Entry)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        shown = ", ".join(str(name)[:40] for name in unknown[:5])
        raise Unrestorable(f"{where}: fields this checkout does not know: {shown} (a newer checkout's?)")
    missing = [name for name, field in fields.items() if name not in value and _required(field)]
    if missing:
        raise Unrestorable(f"{where}: fields missing: {', '.join(missing)}")
    for name, entry in value.items():
        admitted = _FIELD_TYPES[str(fields[name].type)]
        if isinstance(entry, bool) or not isinstance(entry, admitted):
            raise Unrestorable(f"{where}.{name}: not of type {fields[name].type}")
    if not all(isinstance(header, str) for header in value["headers"].values()):
        raise Unrestorable(f"{where}.headers: not a map of strings")
    return Entry(**value)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
