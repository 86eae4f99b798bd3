"""Convert plain Python values to DynamoDB's attribute-value JSON and back.

A few lines of our own instead of ``boto3.dynamodb.types``: importing boto3 for
them would add ~0.2 s to every cold start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

AttributeValue = dict[str, Any]


def to_attribute(value: object) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("DynamoDB cannot store NaN or infinity")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(entry) for entry in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def to_item(values: Mapping[str, object]) -> dict[str, AttributeValue]:
    return {name: to_attribute(value) for name, value in values.items()}


def from_attribute(attribute: AttributeValue) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "N":
        try:
            return int(value)
        except ValueError:
            return float(value)
    if kind in ("S", "B", "BOOL"):
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return from_item(value)
    if kind == "L":
        return [from_attribute(entry) for entry in value]
    if kind in ("SS", "NS", "BS"):
        return [from_attribute({kind[0]: entry}) for entry in value]
    raise TypeError(f"unknown DynamoDB attribute type {kind}")


def from_item(item: Mapping[str, AttributeValue]) -> dict[str, Any]:
    return {name: from_attribute(value) for name, value in item.items()}
