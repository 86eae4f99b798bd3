"""The inbox groups every delivery of one business event: Stripe's retries and a thin twin."""

from __future__ import annotations

import json
from typing import Any

from infra.fixtures.payloads import encode, fresh_event, v1_thin_notification
from infra.local.inbox import Inbox
from infra.local.inbox_api import InboxApi


class NoTable:
    def get_event(self, event_id: str) -> dict[str, Any] | None:
        return None

    def get_record(self, object_id: str) -> dict[str, Any] | None:
        return None


def _record(inbox: Inbox, path: str, body: bytes, answer: dict[str, Any]) -> int:
    entry = inbox.record(
        method="POST",
        path=path,
        headers={},
        body=body,
        status=200,
        response_body=json.dumps(answer),
        latency_ms=1.0,
    )
    return entry.seq


def test_a_thin_twin_and_a_retry_are_listed_with_the_snapshot_delivery() -> None:
    inbox = Inbox(10)
    snapshot = fresh_event("invoice.paid")
    twin = v1_thin_notification(snapshot, twin=True)
    first = _record(inbox, "/webhook", encode(snapshot), {"status": "processed", "handler": "billing"})
    _record(inbox, "/webhook/thin", json.dumps(twin).encode(), {"status": "duplicate"})
    _record(inbox, "/webhook", encode(snapshot), {"status": "duplicate"})
    _record(inbox, "/webhook", encode(fresh_event("invoice.paid")), {"status": "processed"})  # another event
    api = InboxApi(inbox, NoTable(), None, None, secret=lambda: "whsec_x", deliver=lambda *a: None)  # type: ignore[arg-type]

    attempts = api.detail(first)["attempts"]

    assert [(attempt["path"], attempt["verdict"]) for attempt in attempts] == [
        ("/webhook", "processed"),
        ("/webhook/thin", "duplicate"),
        ("/webhook", "duplicate"),
    ]
