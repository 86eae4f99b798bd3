"""DynamoDB's attribute values and plain Python values, with boto3's own converters (Powertools'
idempotency layer has loaded them already): whole numbers come back as ``int``, others as
``float``, never as ``Decimal``, so what the kit reads prints as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


class _PlainNumbers(TypeDeserializer):
    def _deserialize_n(self, value: str) -> int | float:
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)


_SERIALIZER = TypeSerializer()
_DESERIALIZER = _PlainNumbers()


def to_item(values: Mapping[str, object]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}
