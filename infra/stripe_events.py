"""Realistic Stripe event payloads (tests/events/*.json), fresh ids, and signing.

One source of payloads for the tests, the local stack and the trigger tooling.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from functools import cache
from typing import Any

from infra import REPO_ROOT
from stripe_webhook.signature import sign_header

EVENTS_DIR = REPO_ROOT / "tests" / "events"


def available_events() -> list[str]:
    """Event types with a stored payload (file ``tests/events/<type>.json``)."""
    return sorted(path.stem for path in EVENTS_DIR.glob("*.json"))


@cache
def _load(event_type: str) -> dict[str, Any]:
    path = EVENTS_DIR / f"{event_type}.json"
    if not path.is_file():
        known = ", ".join(available_events())
        raise LookupError(f"no stored payload for {event_type!r}; known: {known}")
    event: dict[str, Any] = json.loads(path.read_text())
    return event


def load_event(event_type: str) -> dict[str, Any]:
    """A deep copy of the stored payload, exactly as stored."""
    return copy.deepcopy(_load(event_type))


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def fresh_event(event_type: str, *, created: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The stored payload with a new event id and ``created``; top-level fields may be overridden."""
    event = load_event(event_type)
    event["id"] = new_event_id()
    event["created"] = int(time.time()) if created is None else created
    event.update(overrides)
    return event


def encode(event: dict[str, Any]) -> bytes:
    """Serialise like Stripe does (pretty-printed, 2-space indent)."""
    return json.dumps(event, indent=2).encode("utf-8")


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    return sign_header(body, secret, int(time.time()) if timestamp is None else timestamp)


def generate_secret() -> str:
    return "whsec_" + secrets.token_hex(24)
