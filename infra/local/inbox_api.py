"""The inbox's JSON API and its HTTP routes: what the page (``inbox_ui/``) reads, and its actions.

``InboxApi`` answers the list (filtered, and ``after`` a sequence number for live updates), one
request in detail (with the event-log entry, the object's record and the message as published, and
what the example actions did with it: ``done``, ``uncertain``…), an object's timeline, and three
actions: replay the stored body signed anew, resend it as a new event, redrive the stored event to
the consumer queue. ``inbox_response`` routes a request to it; ``server.py`` decides who may ask.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.fixtures.delivery import Answer, post
from infra.fixtures.payloads import new_event_id
from infra.local.inbox import Entry, Inbox, MessageTap
from infra.local.views import event_records

if TYPE_CHECKING:
    from infra.local.stripe_standin import LocalStripeApi
    from stripe_webhook.queries import TableQueries

UI_DIR = Path(__file__).with_name("inbox_ui")
API_PREFIX = "/api/"
STATIC_PREFIX = "/static/"
STATIC_TYPES = {"inbox.js": "text/javascript; charset=utf-8", "inbox.css": "text/css; charset=utf-8"}
ACTIONS = ("replay", "resend", "redrive")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""No inline script or style, nothing from elsewhere: a body can never run code in the page; and
no other page may frame it."""
INBOX_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
)
"""Every inbox answer's headers; none grants CORS (``guard``)."""


Deliver = Callable[[str, bytes, str], Answer]
"""POST ``body`` to ``path`` on this stack, signed now with ``secret``."""


def deliver_over_http(base_url: str) -> Deliver:
    def deliver(path: str, body: bytes, secret: str) -> Answer:
        return post(base_url + path, body, secret=secret, timeout=35)

    return deliver


@dataclass
class InboxApi:
    """The JSON the inbox page reads, and its actions; errors are ``ValueError`` with a message."""

    inbox: Inbox
    table: TableQueries
    sqs: Any
    queue_url: str | None
    secret: Callable[[], str]
    deliver: Deliver
    tap: MessageTap | None = None
    stripe_api: LocalStripeApi | None = None
    """The local Stripe API stand-in: a thin request's detail shows the fetches of its object."""

    def requests(self, query: dict[str, str]) -> dict[str, Any]:
        entries = self.inbox.find(
            after=int(query.get("after") or 0),
            event_type=query.get("type", ""),
            status=query.get("status", ""),
            object_id=query.get("object", ""),
            text=query.get("q", ""),
        )
        return {"size": self.inbox.size, "requests": [entry.summary() for entry in entries]}

    def detail(self, seq: int) -> dict[str, Any]:
        entry = self._entry(seq)
        detail: dict[str, Any] = {**entry.summary(), "headers": entry.headers, "body": entry.body}
        detail["response"] = entry.response
        if entry.status == 200 and entry.event_id:
            stored = self.table.get_event(entry.event_id)
            if stored is not None:
                received = self.tap.get(entry.event_id) if self.tap else []
                detail["message"] = received[-1] if received else self._message(stored)
                detail["message"]["copies"] = len(received)
                detail["records"] = self._records(stored["payload"], entry.event_id)
                stored.pop("payload", None)
                detail["event_log"] = _plain(stored)
        if entry.object_id:
            record = self.table.get_record(entry.object_id)
            detail["record"] = _plain(record) if record else None
        if entry.event_id:
            detail["actions"] = self.inbox.outcomes(entry.event_id)
        url = (
            _related_url(entry.body) if self.stripe_api is not None and entry.path.endswith("/thin") else None
        )
        if url is not None and self.stripe_api is not None:
            detail["fetches"] = [
                {"time": fetch.time, "path": fetch.path, "status": fetch.status, "context": fetch.context}
                for fetch in self.stripe_api.fetches(url)
            ]
        return detail

    def timeline(self, object_id: str) -> dict[str, Any]:
        """Every request about ``object_id`` the inbox holds, in arrival and in ``created`` order."""
        rows = [
            {**entry.summary(), "effect": _effect(entry)}
            for entry in self.inbox.entries()
            if entry.object_id == object_id and entry.event_id
        ]
        record = self.table.get_record(object_id)
        return {
            "object_id": object_id,
            "arrival": rows,
            "created": sorted(rows, key=lambda row: (row.get("created") or 0, row["seq"])),
            "record": _plain(record) if record else None,
        }

    def replay(self, seq: int) -> dict[str, Any]:
        """The stored raw body, signed anew with the current secret: the same event again."""
        entry = self._entry(seq)
        return self._result(self.deliver(entry.path, entry.body.encode("utf-8"), self.secret()))

    def resend(self, seq: int) -> dict[str, Any]:
        """The stored body with a fresh event id: processed as a new event."""
        entry = self._entry(seq)
        try:
            event = json.loads(entry.body)
        except ValueError:
            raise ValueError("the stored body is not JSON, so it cannot be resent as a new event") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise ValueError("the stored body is not an event with an id")
        event["id"] = new_event_id()
        body = json.dumps(event, indent=2).encode("utf-8")
        return {**self._result(self.deliver(entry.path, body, self.secret())), "event_id": event["id"]}

    def redrive(self, seq: int) -> dict[str, Any]:
        """Publish the stored event to the consumer queue only (as ``ops redrive --queue-url``)."""
        from stripe_webhook.publisher import stored_message

        entry = self._entry(seq)
        stored = self.table.get_event(entry.event_id) if entry.event_id else None
        if stored is None or "payload" not in stored:
            raise ValueError("this request stored no event: only accepted events can be redriven")
        if self.queue_url is None:
            raise ValueError("this stack has no consumer queue")
        body, attributes = stored_message(stored, {"redrive": "true"})
        sent = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)
        return {"status": "sent", "message_id": sent["MessageId"], "queue": self.queue_url.rsplit("/", 1)[-1]}

    def _entry(self, seq: int) -> Entry:
        entry = self.inbox.get(seq)
        if entry is None:
            raise ValueError(f"request #{seq} is not in the inbox (it keeps the last {self.inbox.size})")
        return entry

    def _message(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The message as the publisher builds it (when the tap has not seen it, e.g. filtered out)."""
        from stripe_webhook.publisher import stored_message

        body, attributes = stored_message(stored)
        return {
            "sns_message_id": stored.get("sns_message_id"),
            "attributes": {name: value["StringValue"] for name, value in attributes.items()},
            "body": body,
        }

    def _records(self, payload: str, event_id: str) -> list[dict[str, Any]]:
        """Every record the event's handler asks for, as stored now: written by this event, or not
        (found stale, or replaced since by a newer event)."""
        return [
            {
                "key": f"{pk} / {sk}",
                "effect": "written by this event" if ours else "not this event's (stale, or replaced since)",
                "stored": _plain(stored) if stored else None,
            }
            for pk, sk, stored, ours in event_records(self.table, payload, event_id)
        ]

    @staticmethod
    def _result(answer: Answer) -> dict[str, Any]:
        return {"status": answer.status, "response": answer.json}


def _related_url(body: str) -> str | None:
    """A thin notification's ``related_object.url`` (untrusted: any body reaches the inbox)."""
    try:
        related = json.loads(body).get("related_object")
    except (ValueError, AttributeError):
        return None
    url = related.get("url") if isinstance(related, dict) else None
    return url if isinstance(url, str) and url.startswith("/v1/") else None


def _effect(entry: Entry) -> str:
    if entry.status != 200:
        return entry.verdict
    if entry.verdict == "duplicate":
        return "duplicate"
    if entry.records_written:
        return "written"
    return "stale" if entry.records_stale else "no record"


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Item values as JSON can carry them (bytes as their length)."""
    return {name: _plain_value(value) for name, value in sorted(values.items())}


def _plain_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return _plain(value)
    if isinstance(value, list):
        return [_plain_value(item) for item in value]
    return value


def inbox_response(api: InboxApi, method: str, target: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for a request to the inbox page, its files or its JSON."""
    parsed = urllib.parse.urlsplit(target)
    path = parsed.path
    if method == "GET" and path in ("/", "/index.html"):
        return 200, "text/html; charset=utf-8", (UI_DIR / "index.html").read_bytes()
    if method == "GET" and path.startswith(STATIC_PREFIX):
        name = path[len(STATIC_PREFIX) :]
        if name in STATIC_TYPES:
            return 200, STATIC_TYPES[name], (UI_DIR / name).read_bytes()
        return json_answer(404, {"error": "not_found", "message": f"no file {name}"})
    parts = path[len(API_PREFIX) :].strip("/").split("/")
    query = {name: values[-1] for name, values in urllib.parse.parse_qs(parsed.query).items()}
    try:
        if method == "GET" and parts == ["requests"]:
            return json_answer(200, api.requests(query))
        if method == "GET" and len(parts) == 2 and parts[0] == "requests":
            return json_answer(200, api.detail(_seq(parts[1])))
        if method == "GET" and len(parts) == 2 and parts[0] == "objects":
            return json_answer(200, api.timeline(urllib.parse.unquote(parts[1])))
        if method == "POST" and len(parts) == 3 and parts[0] == "requests" and parts[2] in ACTIONS:
            action = getattr(api, parts[2])
            return json_answer(200, action(_seq(parts[1])))
    except ValueError as error:
        return json_answer(400, {"error": "invalid_request", "message": str(error)})
    return json_answer(404, {"error": "not_found", "message": f"no inbox route for {method} {path}"})


def _seq(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{value!r} is not a request number")
    return int(value)


def json_answer(status: int, content: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(content).encode("utf-8")
