"""The local stack's webhook inbox: every request it answered, what it did, and actions on it.

``Inbox`` keeps the last N requests in memory (oldest dropped), each with its headers (the
``Stripe-Signature`` parsed, its signatures redacted), raw body, response and timing. ``InboxApi``
answers the browser page's JSON calls (``inbox_ui/``): the list (filtered, and ``after`` a sequence
number for live updates), one request in detail (with the event-log entry, the object's record and
the message as published, and what the example actions did with it: ``done``, ``uncertain``…),
an object's timeline, and three actions: replay the stored body signed anew, resend it as a new
event, redrive the stored event to the consumer queue.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from infra.fixtures.delivery import Answer, post
from infra.fixtures.payloads import new_event_id
from infra.local.endpoint import event_records

if TYPE_CHECKING:
    from infra.local.stripe_standin import LocalStripeApi
    from stripe_actions.consumer import Outcome
    from stripe_webhook.queries import TableQueries

DEFAULT_SIZE = 2000
STATUS_CLASSES = ("2xx", "4xx", "5xx")
POLL_SECONDS = 0.5
"""The tap short-polls: the local moto answers one request at a time, so a long poll would stall it."""


@dataclass(frozen=True)
class Entry:
    """One request the stack answered, as the inbox shows it."""

    seq: int
    time: float
    method: str
    path: str
    status: int
    verdict: str
    latency_ms: float
    headers: dict[str, str]
    body: str
    response: str
    event_id: str | None = None
    event_type: str | None = None
    object_id: str | None = None
    account: str | None = None
    created: int | None = None
    records_written: int = 0
    records_stale: int = 0

    def summary(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("headers", "body", "response"):
            values.pop(name)
        return values


def signature_summary(header: str) -> str:
    """``t=…, v1: 2 signatures (redacted)``: what the header says, without the signatures themselves."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    schemes: dict[str, int] = {}
    for key, _ in parts:
        if key.strip() != "t":
            schemes[key.strip()] = schemes.get(key.strip(), 0) + 1
    shown = [f"t={timestamps[0]}" if timestamps else "no t"]
    shown += [
        f"{scheme}: {count} signature{'s' if count > 1 else ''} (redacted)"
        for scheme, count in sorted(schemes.items())
    ]
    return ", ".join(shown)


def verdict_of(status: int, response: dict[str, Any]) -> str:
    if status == 200:
        outcome = str(response.get("status", "processed"))
        return "unhandled" if outcome == "processed" and response.get("handler") is None else outcome
    if status == 409:
        return "409 in progress"
    code = response.get("error") or response.get("message") or "error"
    return f"{'rejected' if status < 500 else 'failed'}: {code}"


MAX_SHOWN_ID = 255


def shown_text(value: object) -> str | None:
    """A value from a request, as the inbox may show, filter and print it: a string (bounded), or
    None for any other type (``"type": 5``, ``"id": []`` from an unsigned body)."""
    if not isinstance(value, str) or not value:
        return None
    return value[:MAX_SHOWN_ID].encode("utf-8", "replace").decode("utf-8")


def shown_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else None


def _event_fields(body: bytes) -> dict[str, Any]:
    """Ids from the body, best effort: shown for rejected requests too, never trusted."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(event, dict):
        return {}
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    related = event.get("related_object")
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if object_id is None and isinstance(related, dict):
        object_id = related.get("id")
    return trusted_fields(
        {
            "event_id": event.get("id"),
            "event_type": event.get("type"),
            "object_id": object_id,
            "account": event.get("account") or event.get("context"),
            "created": event.get("created"),
        }
    )


def trusted_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The entry's request-derived fields with only the types the inbox handles (and persists)."""
    fields: dict[str, Any] = {
        name: shown_text(values.get(name)) for name in ("event_id", "event_type", "object_id", "account")
    }
    fields["created"] = shown_int(values.get("created"))
    return {name: value for name, value in fields.items() if value is not None}


@dataclass
class Inbox:
    size: int = DEFAULT_SIZE
    _entries: deque[Entry] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _seq: int = field(default=0, init=False)
    _outcomes: OrderedDict[str, list[dict[str, Any]]] = field(default_factory=OrderedDict, init=False)

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.size)

    def record_outcome(self, outcome: Outcome) -> None:
        """What an example action did with an event's message (``done``, ``uncertain``, …), kept for
        as many events as the inbox holds requests."""
        if not outcome.event_id:
            return
        with self._lock:
            shown = self._outcomes.setdefault(outcome.event_id, [])
            shown.append(
                {
                    "time": time.time(),
                    "action": outcome.action,
                    "key": outcome.key,
                    "status": outcome.status,
                    "detail": outcome.detail,
                }
            )
            self._outcomes.move_to_end(outcome.event_id)
            while len(self._outcomes) > self.size:
                self._outcomes.popitem(last=False)

    def outcomes(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._outcomes.get(event_id, []))

    def record(
        self,
        *,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        status: int,
        response_body: str,
        latency_ms: float,
    ) -> Entry:
        try:
            response = json.loads(response_body or "{}")
        except ValueError:
            response = {}
        response = response if isinstance(response, dict) else {}
        shown = {
            name: (signature_summary(value) if name.lower() == "stripe-signature" else value)
            for name, value in headers.items()
        }
        with self._lock:
            self._seq += 1
            entry = Entry(
                seq=self._seq,
                time=time.time(),
                method=method,
                path=path,
                status=status,
                verdict=verdict_of(status, response),
                latency_ms=round(latency_ms, 1),
                headers=shown,
                body=body.decode("utf-8", "replace"),
                response=response_body,
                records_written=int(response.get("records_written") or 0),
                records_stale=int(response.get("records_stale") or 0),
                **_event_fields(body),
            )
            self._entries.append(entry)
        return entry

    def restore(self, entry: Entry) -> None:
        """Put back an entry saved by an earlier run (``persist``); numbering continues after it.
        Its request-derived fields are checked again: an older run may have saved anything."""
        cleared = dict.fromkeys(("event_id", "event_type", "object_id", "account", "created"))
        entry = replace(entry, **{**cleared, **trusted_fields(asdict(entry))})
        with self._lock:
            self._entries.append(entry)
            self._seq = max(self._seq, entry.seq)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def get(self, seq: int) -> Entry | None:
        return next((entry for entry in self.entries() if entry.seq == seq), None)

    def find(
        self,
        *,
        after: int = 0,
        event_type: str = "",
        status: str = "",
        object_id: str = "",
        text: str = "",
    ) -> list[Entry]:
        """Newest first, filtered: type prefix, status class (2xx/4xx/5xx), object id, text on ids."""
        found = []
        for entry in reversed(self.entries()):
            if entry.seq <= after:
                continue
            if event_type and not (entry.event_type or "").startswith(event_type):
                continue
            if status in STATUS_CLASSES and str(entry.status)[0] != status[0]:
                continue
            if object_id and entry.object_id != object_id:
                continue
            ids = " ".join(str(value or "") for value in (entry.event_id, entry.object_id, entry.account))
            if text and text not in ids:
                continue
            found.append(entry)
        return found


class MessageTap:
    """The messages a queue of the inbox's own receives from the topic, by event id (the last
    ``size``): what a consumer queue got, read without taking anything from the user's queue."""

    def __init__(self, sqs: Any, queue_url: str, size: int = DEFAULT_SIZE) -> None:
        self._sqs, self._queue_url, self._size = sqs, queue_url, size
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> MessageTap:
        threading.Thread(target=self._run, name="inbox-message-tap", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def get(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages.get(event_id, []))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                received = self.poll()
            except Exception:  # the stack is stopping, or moto hiccuped: try again
                received = 0
            if not received:
                self._stop.wait(POLL_SECONDS)

    def poll(self) -> int:
        received = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        for message in received:
            attributes = {
                name: value.get("StringValue") for name, value in message.get("MessageAttributes", {}).items()
            }
            with self._lock:
                self._messages.setdefault(str(attributes.get("event_id")), []).append(
                    {"attributes": attributes, "body": message["Body"], "received_at": time.time()}
                )
                while len(self._messages) > self._size:
                    self._messages.pop(next(iter(self._messages)))
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received)


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
