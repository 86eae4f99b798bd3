"""Convert plain Python values to DynamoDB's attribute-value JSON and back.

A few lines of our own instead of ``boto3.dynamodb.types``: importing boto3 for
them would add ~0.2 s to every cold start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

AttributeValue = dict[str, Any]


def _number(value: float) -> AttributeValue:
    if not math.isfinite(value):
        raise ValueError("DynamoDB cannot store NaN or infinity")
    return {"N": repr(value)}


_SIMPLE: tuple[tuple[Any, Callable[[Any], AttributeValue]], ...] = (
    (bool, lambda value: {"BOOL": value}),  # before int: a bool is an int
    (int, lambda value: {"N": str(value)}),
    (float, _number),
    (str, lambda value: {"S": value}),
    (bytes, lambda value: {"B": value}),
    (Mapping, lambda value: {"M": to_item(value)}),
    ((list, tuple), lambda value: {"L": [to_attribute(entry) for entry in value]}),
)


_EXACT = {kind: convert for kind, convert in _SIMPLE if isinstance(kind, type) and kind is not Mapping}
"""The converters by exact type: most values are a plain str, int or bool, found in one lookup."""


def to_attribute(value: object) -> AttributeValue:
    exact = _EXACT.get(type(value))
    if exact is not None:
        return exact(value)
    if value is None:
        return {"NULL": True}
    for kind, convert in _SIMPLE:
        if isinstance(value, kind):
            return convert(value)
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
