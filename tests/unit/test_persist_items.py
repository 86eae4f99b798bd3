"""``--persist`` keeps items as DynamoDB's JSON: a binary value (an event's deflated body) survives."""

from __future__ import annotations

import json
from typing import Any

from infra.local.persist import as_json_value, from_json_value
from stripe_webhook import bodies


def test_binary_values_round_trip_through_the_snapshot_s_json() -> None:
    packed = bodies.pack(b'{\n  "id": "evt_1"\n}')
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": "EVENT#evt_1"},
        "payload_z": {"B": packed},
        "nested": {"M": {"list": {"L": [{"B": b"\x00\xff"}, {"N": "1"}]}, "set": {"BS": [b"a", b"b"]}}},
    }

    saved = json.loads(json.dumps({name: as_json_value(value) for name, value in item.items()}))
    restored = {name: from_json_value(value) for name, value in saved.items()}

    assert restored == item
    assert saved["payload_z"]["B"].isascii()
