"""The ``--persist`` snapshot is read whole and checked before anything is restored (``snapshot``),
and written whole: a kill during a save leaves the snapshot saved before."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.local import snapshot
from infra.local.inbox import Entry
from infra.local.snapshot import Unrestorable, as_json_value, parse
from stripe_webhook.adapters import bodies

ENTRY = {
    "seq": 1,
    "time": 1796300000.5,
    "method": "POST",
    "path": "/webhook",
    "status": 200,
    "verdict": "processed",
    "latency_ms": 12.5,
    "headers": {"Content-Type": "application/json"},
    "body": "{}",
    "response": '{"status": "processed"}',
}


def a_snapshot(**parts: Any) -> str:
    return json.dumps({"items": [], "objects": [], "messages": [], "inbox": [], **parts})


def test_binary_values_round_trip_through_the_snapshot_s_json() -> None:
    packed = bodies.pack(b'{\n  "id": "evt_1"\n}')
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": "EVENT#evt_1"},
        "payload_z": {"B": packed},
        "nested": {"M": {"list": {"L": [{"B": b"\x00\xff"}, {"N": "1"}]}, "set": {"BS": [b"a", b"b"]}}},
    }

    saved = json.loads(json.dumps({name: as_json_value(value) for name, value in item.items()}))

    assert parse(a_snapshot(items=[saved])).items == [item]
    assert saved["payload_z"]["B"].isascii()


def test_every_field_of_an_inbox_entry_has_a_known_json_type() -> None:
    for field in dataclasses.fields(Entry):
        assert str(field.type) in snapshot._FIELD_TYPES, field.name
    assert parse(a_snapshot(inbox=[ENTRY])).inbox == [Entry(**ENTRY)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        (
            {"inbox": [ENTRY, ENTRY | {"delivery_attempts": 2}]},
            "inbox[1]: fields this checkout does",
        ),
        ({"inbox": [{k: v for k, v in ENTRY.items() if k != "status"}]}, "inbox[0]: fields missing: status"),
        ({"inbox": [ENTRY | {"status": "200"}]}, "inbox[0].status: not of type int"),
        ({"inbox": [ENTRY | {"headers": {"a": 1}}]}, "inbox[0].headers"),
        ({"items": [{"pk": {"S": "a"}}, "not an item"]}, "items[1]: an item is not a map"),
        ({"items": [{"pk": {"B": "%%%"}}]}, "items[0].pk: not valid base64"),
        ({"items": [{"pk": {"N": "twelve"}}]}, "items[0].pk: not a number"),
        ({"items": [{"pk": {"X": "a"}}]}, "items[0].pk: not an attribute value"),
        ({"objects": [{"key": "k", "body": "!!"}]}, "objects[0].body: not valid base64"),
        ({"messages": [{"MessageBody": ""}]}, "messages[0]: not a queue message"),
        ({"tables": {"t": [{"a": {"S": 1}}]}}, "tables.t[0].a: not a string"),
        ({"queues": {"q": [{"Body": "x"}]}}, "queues.q[0]: not a queue message"),
        ({"tables": []}, "tables: not a map"),
    ],
)
def test_the_first_thing_it_cannot_restore_is_named(parts: dict[str, Any], named: str) -> None:
    with pytest.raises(Unrestorable) as raised:
        parse(a_snapshot(**parts))
    assert named in str(raised.value)


def test_values_nested_deeper_than_dynamodb_allows_or_than_python_parses_are_refused() -> None:
    deep: dict[str, Any] = {"S": "leaf"}
    for _ in range(40):
        deep = {"L": [deep]}
    with pytest.raises(Unrestorable, match="nested deeper"):
        parse(a_snapshot(items=[{"pk": deep}]))
    with pytest.raises(Unrestorable, match="not JSON"):
        parse("[" * 100_000)


def test_a_part_a_newer_checkout_added_is_not_an_error() -> None:
    read = parse(a_snapshot(schedules=[{"id": "sched_1"}]))
    assert read.raw["schedules"] == [{"id": "sched_1"}]


def test_a_binary_message_attribute_survives_the_snapshot() -> None:
    kept = snapshot.message_json("{}", {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    (message,) = parse(a_snapshot(messages=[json.loads(json.dumps(kept))])).messages
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"


KILLED_WHILE_SAVING = """
import os, sys, time
from pathlib import Path
from infra.local import persist
def stall(descriptor):  # the new snapshot is written, not yet renamed: the kill lands here
    Path(sys.argv[2]).write_text("writing")
    time.sleep(60)
os.fsync = stall
persist._write_whole(Path(sys.argv[1]), '{"items": [], "inbox": [], "new": true}')
"""


def test_a_kill_during_a_save_leaves_the_snapshot_saved_before(tmp_path: Path) -> None:
    old = json.dumps({"items": [], "inbox": [], "old": True})
    (tmp_path / "snapshot.json").write_text(old)
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_SAVING, str(tmp_path / "snapshot.json"), str(marker)],
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    assert (tmp_path / "snapshot.json").read_text() == old
    assert parse(old).raw["old"] is True
