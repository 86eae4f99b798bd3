"""How an event's body is kept in its event-log item: deflated against a preset dictionary of
Stripe's JSON, byte-exact.

A pretty-printed event of 2.3 KB deflates to about 880 bytes alone and to about 390 against the
dictionary (its field names, enum values and indentation are already in it), which keeps most
event-log items under DynamoDB's 1 KB write unit: the claim, the mark and a duplicate's refused
claim each pay for the item's size (docs/performance.md, "Cost"). CPU: ~30 µs to deflate a
1.6 KB event, ~0.2 ms a 12 KB one; reading one back, a few µs.

The stored value is one version byte, then a raw deflate stream made with that version's
dictionary. A dictionary is never edited once released: items written with it must stay readable
for the event log's whole retention; a better one is a new version (``tests/unit/test_bodies.py``
pins each one's digest). Older items hold ``payload`` (text) or ``payload_gz`` (gzip); ``read``
reads all three.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from contract import MAX_BODY_BYTES

ATTRIBUTE = "payload_z"
VERSION = 1


class UnreadableBody(ValueError):
    """A stored body that cannot be read back: damaged, cut short, not UTF-8, or inflating past
    ``MAX_BODY_BYTES`` (``contract``; no reason to hold gigabytes). Every reader of stored bodies
    skips and counts it, and goes on."""


"""The dictionary new bodies are written with."""
_LEVEL = 6
"""zlib's default: ~30 µs for a 1.6 KB event; level 9 saves 3 % of the bytes for 2.5 times the CPU."""
_WINDOW = -15
"""A raw deflate stream (no zlib header or checksum: the version byte says how to read it)."""


@cache
def dictionary(version: int) -> bytes:
    path = Path(__file__).with_name(f"stripe-json.v{version}.zdict")
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise ValueError(f"no payload dictionary version {version}") from error


def pack(raw: bytes) -> bytes:
    """The stored form of ``raw``: the version byte and the deflated body."""
    deflate = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, _WINDOW, 8, zlib.Z_DEFAULT_STRATEGY, dictionary(VERSION)
    )
    return bytes([VERSION]) + deflate.compress(raw) + deflate.flush()


def unpack(stored: bytes, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body ``pack`` stored, byte for byte; ``UnreadableBody`` if it is not one, or would
    inflate past ``limit`` bytes (never more than ``limit`` + 1 are made)."""
    if not stored:
        raise UnreadableBody("an empty stored payload")
    try:
        dictionary_bytes = dictionary(stored[0])
    except ValueError as error:
        raise UnreadableBody(str(error)) from None
    return _inflate(zlib.decompressobj(_WINDOW, zdict=dictionary_bytes), stored[1:], limit)


def _inflate(inflate: Any, stored: bytes, limit: int) -> bytes:
    """``stored`` through ``inflate`` (a zlib decompressor), stopping at ``limit`` + 1 bytes."""
    try:
        raw: bytes = inflate.decompress(stored, limit + 1)
    except zlib.error as error:
        raise UnreadableBody(f"a stored payload does not inflate: {error}") from None
    if len(raw) > limit or inflate.unconsumed_tail:
        raise UnreadableBody(f"a stored payload inflates past {limit:,} bytes")
    if not inflate.eof:
        raise UnreadableBody("a stored payload is cut short")
    return raw


def read(item: Mapping[str, Any], limit: int = MAX_BODY_BYTES) -> str | None:
    """The body an event-log item (as plain values) holds, whichever way it was written; None when
    it holds none (the body is in S3: ``payload_s3``); ``UnreadableBody`` when it cannot be read."""
    if ATTRIBUTE in item:
        raw = unpack(bytes(item[ATTRIBUTE]), limit)
    elif "payload_gz" in item:  # only items written before the dictionary hold it (gzip)
        raw = _inflate(zlib.decompressobj(16 + zlib.MAX_WBITS), bytes(item["payload_gz"]), limit)
    else:
        payload = item.get("payload")
        return str(payload) if payload is not None else None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableBody("a stored payload is not UTF-8") from None
