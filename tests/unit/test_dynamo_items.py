from __future__ import annotations

import pytest

from stripe_webhook.adapters.dynamo_items import from_item, to_item


def test_round_trip_of_the_shapes_records_use() -> None:
    values = {
        "s": "text",
        "n": 4999,
        "big": 10**20,
        "f": 0.5,
        "b": True,
        "none": None,
        "raw": b"\x00\x01",
        "list": [{"amount": 1, "currency": "usd"}],
        "map": {"nested": {"deep": False}},
    }
    assert from_item(to_item(values)) == values


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, object()])
def test_values_dynamodb_cannot_hold_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_item({"x": value})
