"""The inbox groups every delivery of one business event: Stripe's retries and a thin twin."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from infra.fixtures.payloads import encode, fresh_event, v1_thin_notification
from infra.local.inbox import Inbox
from infra.local.inbox_api import InboxApi
from infra.local.inbox_stream import Changes, stream


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


def test_the_live_stream_sends_each_change_once_and_ends_when_the_stack_stops() -> None:
    inbox = Inbox(size=5)
    written: list[bytes] = []
    seen = threading.Event()

    def write(frame: bytes) -> None:
        written.append(frame)
        if b"event: request" in frame:
            seen.set()

    streaming = threading.Thread(target=stream, args=(inbox.live, write, 0.05))
    streaming.start()
    time.sleep(0.2)  # a few heartbeats while nothing happens
    seq = _record(inbox, "/webhook", encode(fresh_event("charge.refunded")), {"status": "processed"})
    assert seen.wait(2)
    inbox.live.close()
    streaming.join(2)

    assert not streaming.is_alive()  # the stack stopping ends the stream
    frames = b"".join(written).decode()
    assert frames.startswith('event: hello\ndata: {"version": 0}\n\n')
    assert ": still here\n\n" in frames
    assert frames.count("event: request") == 1 and f'"value": "{seq}"' in frames


def test_a_page_too_far_behind_is_told_to_reload_its_list() -> None:
    changes = Changes(kept=3)
    for number in range(5):
        changes.note("request", str(number + 1))
    assert changes.since(3, 0) == (5, [("request", "4"), ("request", "5")])
    assert changes.since(0, 0) == (5, [("reset", "")])  # changes 1 and 2 are forgotten
    assert changes.since(5, 0.01) == (5, [])  # nothing new in time: a heartbeat
    changes.close()
    assert changes.since(5, 10) is None  # closed: returns at once


def api_on(inbox: Inbox, table: NoTable) -> InboxApi:
    return InboxApi(inbox, table, None, None, secret=lambda: "whsec_x", deliver=lambda *a: None)  # type: ignore[arg-type]


def test_the_inbox_keeps_at_most_its_bytes_dropping_the_oldest_and_the_page_is_told() -> None:
    inbox = Inbox(size=100, max_bytes=3 * 1024 * 1024)
    heavy = b'{"id": "evt_heavy", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    seqs = [_record(inbox, "/webhook", heavy, {"status": "processed"}) for _ in range(10)]

    held = inbox.entries()
    assert [entry.seq for entry in held] == seqs[-2:]  # two of about 1 MiB each fit under 3 MiB
    assert inbox.held_bytes <= inbox.max_bytes
    listed = api_on(inbox, NoTable()).requests({})
    shown = (listed["held"], listed["oldest"], listed["max_bytes"], listed["recorded"])
    assert shown == (2, 9, 3 * 2**20, 10)


def test_a_stored_event_that_cannot_be_read_is_said_in_the_detail_not_a_dropped_connection() -> None:
    from stripe_webhook.adapters.bodies import UnreadableBody

    class DamagedTable(NoTable):
        def get_event(self, event_id: str) -> dict[str, Any] | None:
            raise UnreadableBody("the stored body does not inflate (Error -3 while decompressing data)")

    inbox = Inbox()
    event = fresh_event("customer.created")
    seq = _record(inbox, "/webhook", encode(event), {"status": "processed", "event_id": event["id"]})

    detail = api_on(inbox, DamagedTable()).detail(seq)

    assert "does not inflate" in detail["event_log_problem"]
    assert "event_log" not in detail and detail["event_id"] == event["id"]
