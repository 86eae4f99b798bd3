"""The local stack's webhook inbox: every request it answered, and what the actions did.

``Inbox`` keeps the last N requests in memory (oldest dropped), each with its headers (the
``Stripe-Signature`` parsed, its signatures redacted), raw body, response and timing, and the
example actions' outcomes by event. What the topic delivered is ``message_tap.py``'s; what the
page reads and does with them is ``inbox_api.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from infra.local.inbox_stream import Changes

if TYPE_CHECKING:
    from stripe_actions.outcomes import ActionOutcome

DEFAULT_SIZE = 2000
MAX_BYTES = 64 * 1024 * 1024
"""What all the kept requests may weigh together (bodies, responses, tracebacks, headers): at the
front's 10 MiB a request, ``DEFAULT_SIZE`` of them could otherwise hold gigabytes."""
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
    twin: str | None = None
    """A thin notification's ``snapshot_event``: its twin's id, the same business event."""
    traceback: str | None = None
    """What the function raised while answering it (a handler's bug): local only, never deployed."""

    def summary(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("headers", "body", "response", "traceback"):
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
            "twin": event.get("snapshot_event"),
        }
    )


def trusted_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The entry's request-derived fields with only the types the inbox handles (and persists)."""
    fields: dict[str, Any] = {
        name: shown_text(values.get(name))
        for name in ("event_id", "event_type", "object_id", "account", "twin")
    }
    fields["created"] = shown_int(values.get("created"))
    return {name: value for name, value in fields.items() if value is not None}


def weight(entry: Entry) -> int:
    """What an entry costs the inbox, near enough: its texts' lengths."""
    texts = (
        entry.body,
        entry.response,
        entry.traceback or "",
        *entry.headers.keys(),
        *entry.headers.values(),
    )
    return sum(map(len, texts))


@dataclass
class Inbox:
    size: int = DEFAULT_SIZE
    max_bytes: int = MAX_BYTES
    _entries: deque[Entry] = field(default_factory=deque, init=False)
    _bytes: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _seq: int = field(default=0, init=False)
    _outcomes: OrderedDict[str, list[dict[str, Any]]] = field(default_factory=OrderedDict, init=False)
    live: Changes = field(default_factory=Changes, init=False)
    """What changed, for the page's live stream (``inbox_stream``)."""

    def _keep(self, entry: Entry) -> None:
        """Append ``entry``, then drop the oldest while over ``size`` entries or ``max_bytes`` (the
        newest is kept whatever it weighs: the front already capped it). Under the lock."""
        self._entries.append(entry)
        self._bytes += weight(entry)
        while len(self._entries) > 1 and (len(self._entries) > self.size or self._bytes > self.max_bytes):
            self._bytes -= weight(self._entries.popleft())

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def record_outcome(self, outcome: ActionOutcome) -> None:
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
        self.live.note("outcome", outcome.event_id)

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
        traceback: str | None = None,
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
                traceback=traceback,
                **_event_fields(body),
            )
            self._keep(entry)
        self.live.note("request", str(entry.seq))
        return entry

    def restore(self, entry: Entry) -> None:
        """Put back an entry saved by an earlier run (``persist``); numbering continues after it.
        Its request-derived fields are checked again: an older run may have saved anything."""
        cleared = dict.fromkeys(("event_id", "event_type", "object_id", "account", "created"))
        entry = replace(entry, **{**cleared, **trusted_fields(asdict(entry))})
        with self._lock:
            self._keep(entry)
            self._seq = max(self._seq, entry.seq)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def get(self, seq: int) -> Entry | None:
        return next((entry for entry in self.entries() if entry.seq == seq), None)

    @property
    def recorded(self) -> int:
        """How many requests were ever recorded (the newest one's number)."""
        return self._seq

    def find(
        self,
        *,
        after: int = 0,
        event_type: str = "",
        status: str = "",
        object_id: str = "",
        text: str = "",
    ) -> list[Entry]:
        """Newest first, filtered: type prefix, status class (2xx/4xx/5xx), object id, text in the ids
        or anywhere in the body (a customer's email finds their events)."""
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
            if text and text not in ids and text not in entry.body:  # ids, then any field of the body
                continue
            found.append(entry)
        return found
