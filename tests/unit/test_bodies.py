"""The event log's stored body: byte-exact, compact, and readable in every form ever written."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from infra.bench.dictionary import build, path_of, project_bodies
from infra.fixtures.payloads import available_events, encode, fresh_event
from stripe_webhook.adapters import bodies

RELEASED = {1: "cfd6f375add45be4bccca9bd6d6a9da99bbf9a4ce57123df9ab6221ee2f6d797"}
"""Every released dictionary's digest: stored bodies need it as it was (a new one is a new version)."""


def test_released_dictionaries_are_unchanged() -> None:
    for version, digest in RELEASED.items():
        assert hashlib.sha256(path_of(version).read_bytes()).hexdigest() == digest
    assert bodies.VERSION in RELEASED


def test_every_payload_round_trips_byte_for_byte_and_shrinks() -> None:
    for event_type in available_events():
        raw = encode(fresh_event(event_type))
        stored = bodies.pack(raw)
        assert stored[0] == bodies.VERSION
        assert bodies.unpack(stored) == raw
        assert len(stored) < len(raw) / 3, event_type


def test_odd_bytes_round_trip_too() -> None:
    for raw in (
        b"",
        b"\x00\xff" * 300,
        "caf\u00e9 \U0001f600".encode(),
        json.dumps({"k": "v" * 90_000}).encode(),
    ):
        assert bodies.unpack(bodies.pack(raw)) == raw


def test_items_written_before_the_dictionary_still_read() -> None:
    raw = encode(fresh_event("charge.succeeded"))
    assert bodies.read({"payload": raw.decode()}) == raw.decode()
    assert bodies.read({"payload_gz": gzip.compress(raw)}) == raw.decode()
    assert bodies.read({bodies.ATTRIBUTE: bodies.pack(raw)}) == raw.decode()
    assert bodies.read({"payload_s3": {"bucket": "b", "key": "k", "bytes": 1}}) is None


def test_a_damaged_or_unknown_body_is_an_error_not_wrong_bytes() -> None:
    stored = bodies.pack(encode(fresh_event("charge.succeeded")))
    with pytest.raises(ValueError, match="cut short"):
        bodies.unpack(stored[: len(stored) // 2])
    with pytest.raises(ValueError, match="no payload dictionary version 99"):
        bodies.unpack(bytes([99]) + stored[1:])
    with pytest.raises(ValueError, match="empty"):
        bodies.unpack(b"")


def test_the_dictionary_keeps_shared_lines_most_common_last() -> None:
    built = build([b"a\nshared\nrare\n", b"shared\nb\na\n", b"shared\n"], size=100)
    assert built == b"a\nshared\n"
    assert len(build(project_bodies(), size=500)) == 500


def test_a_damaged_or_cut_or_foreign_body_is_one_typed_error() -> None:
    stored = bodies.pack(b'{"id": "evt_1", "object": "event"}')
    damaged = stored[:1] + bytes(byte ^ 0x5A for byte in stored[1:])
    for value in (damaged, stored[:-3], b"", bytes([99]) + stored[1:]):
        with pytest.raises(bodies.UnreadableBody):
            bodies.unpack(value)
    with pytest.raises(bodies.UnreadableBody, match="UTF-8"):
        bodies.read({bodies.ATTRIBUTE: bodies.pack(b"\xff\xfe not text")})
    with pytest.raises(bodies.UnreadableBody):
        bodies.read({"payload_gz": b"\x1f\x8b not gzip"})


def test_inflation_is_bounded_whatever_the_stored_value_says() -> None:
    """A 20 MiB body of zeros stores in a few KiB; reading it stops at the bound, not at 20 MiB."""
    bomb = bodies.pack(b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024
    with pytest.raises(bodies.UnreadableBody, match="inflates past 10,485,760 bytes"):
        bodies.unpack(bomb)
    with pytest.raises(bodies.UnreadableBody, match="inflates past 1,000 bytes"):
        bodies.read({"payload_gz": gzip.compress(b"{" * 5000)}, limit=1000)
    raw = b'{"id": "evt_1"}' * 50
    assert bodies.unpack(bodies.pack(raw), limit=len(raw)) == raw  # exactly the bound is readable
