"""What only the local stack knows, for the console's local mode: the requests the webhook answered.

``InboxApi`` answers the list (filtered, and ``after`` a number: what the live stream said is new), one
request in detail (with the event-log entry, the object's record and the message as published, and
what the example actions did with it: ``done``, ``uncertain``…), an object's timeline, and three
actions: replay the stored body signed anew, resend it as a new event, redrive the stored event to
the consumer queue (``infra.console.routes`` maps HTTP to it; ``page_http`` decides who may ask)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.fixtures.delivery import Answer, post
from infra.fixtures.payloads import new_event_id
from infra.local.inbox import Entry, Inbox
from infra.local.message_tap import MessageTap
from infra.local.views import event_records, plain
from stripe_webhook.adapters.bodies import UnreadableBody

if TYPE_CHECKING:
    from infra.local.stripe_standin import LocalStripeApi
    from stripe_webhook.adapters.queries import TableQueries

Deliver = Callable[[str, bytes, str], Answer]
"""POST ``body`` to ``path`` on this stack, signed now with ``secret``."""


def deliver_over_http(base_url: str) -> Deliver:
    def deliver(path: str, body: bytes, secret: str) -> Answer:
        return post(base_url + path, body, secret=secret, timeout=35)

    return deliver


@dataclass
class InboxApi:
    """The JSON the console's Requests tab reads, and its actions; errors are ``ValueError``."""

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
        return {
            "size": self.inbox.size,
            "max_bytes": self.inbox.max_bytes,
            "recorded": self.inbox.recorded,
            "held": len(held := self.inbox.entries()),
            "oldest": held[0].seq if held else 0,
            "requests": [entry.summary() for entry in entries],
        }

    def detail(self, seq: int) -> dict[str, Any]:
        entry = self._entry(seq)
        detail: dict[str, Any] = {**entry.summary(), "headers": entry.headers, "body": entry.body}
        detail["response"] = entry.response
        detail["traceback"] = entry.traceback
        detail["why"] = why_refused(entry)
        if entry.event_id:  # every delivery of this event: Stripe's retries, replays, the thin twin
            detail["attempts"] = [
                other.summary()
                for other in self.inbox.entries()
                if entry.event_id in (other.event_id, other.twin)
            ]
        refusal = _refusal(entry)
        detail["available"] = {"replay": refusal, "resend": refusal, "redrive": None}
        if entry.status != 200 or not entry.event_id:
            detail["available"]["redrive"] = "only an accepted event, stored by the stack, can be redriven"
        if entry.status == 200 and entry.event_id:
            try:
                stored = self.table.get_event(entry.event_id)
            except UnreadableBody as error:  # shown, not a dropped connection
                stored, detail["event_log_problem"] = None, str(error)
            if stored is not None and "payload" in stored:  # kept by the mark or a release
                received = self.tap.get(entry.event_id) if self.tap else []
                detail["message"] = received[-1] if received else self._message(stored)
                detail["message"]["copies"] = len(received)
                detail["records"] = self._records(stored.pop("payload"), entry.event_id)
            if stored is not None:
                detail["event_log"] = plain(stored)
        if entry.object_id:
            record = self.table.get_record(entry.object_id)
            detail["record"] = plain(record) if record else None
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
            "record": plain(record) if record else None,
        }

    def outcomes(self, event_id: str) -> dict[str, Any]:
        """What the example actions did with an event's message, each with its wall-clock ``time``
        (``make bench``'s latency from the webhook's 200 to the action's effect reads it)."""
        return {"event_id": event_id, "outcomes": self.inbox.outcomes(event_id)}

    def replay(self, seq: int) -> dict[str, Any]:
        """The stored raw body, signed anew with the current secret: the same event again. Only
        for a request the stack accepted: signing a body it refused would let a forged one in."""
        entry = self._allowed(seq)
        answer = self._result(self.deliver(entry.path, entry.body.encode("utf-8"), self.secret()))
        return {**answer, "seq": self._newest(entry.event_id)}

    def resend(self, seq: int) -> dict[str, Any]:
        """The stored body as a new event: a fresh id, and ``created`` now (a second after the
        original at least), so it is its object's newest state and rewrites the record, as after a
        change to the handler. Only for a request the stack accepted."""
        entry = self._allowed(seq)
        try:
            event = json.loads(entry.body)
        except ValueError:
            raise ValueError("the stored body is not JSON, so it cannot be resent as a new event") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise ValueError("the stored body is not an event with an id")
        event["id"] = new_event_id()
        created = event.get("created")
        if isinstance(created, int) and not isinstance(created, bool):
            event["created"] = max(int(time.time()), created + 1, self._last_written(entry) + 1)
        body = json.dumps(event, indent=2).encode("utf-8")
        note = "a new event id, created now: the newest state of its object, so its record is rewritten"
        answer = self._result(self.deliver(entry.path, body, self.secret()))
        return {**answer, "event_id": event["id"], "note": note, "seq": self._newest(event["id"])}

    def redrive(self, seq: int) -> dict[str, Any]:
        """Publish the stored event to the consumer queue only (as ``ops redrive --queue-url``)."""
        from stripe_webhook.adapters.publisher import stored_message

        entry = self._entry(seq)
        stored = self.table.get_event(entry.event_id) if entry.event_id else None
        if stored is None or "payload" not in stored:
            raise ValueError("this request stored no event: only accepted events can be redriven")
        if self.queue_url is None:
            raise ValueError("this stack has no consumer queue")
        body, attributes = stored_message(stored, {"redrive": "true"})
        sent = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)
        return {"status": "sent", "message_id": sent["MessageId"], "queue": self.queue_url.rsplit("/", 1)[-1]}

    def _last_written(self, entry: Entry) -> int:
        """The ``created`` second of the event that last wrote the entry's object's record (0: none)."""
        from stripe_webhook.core.records import RANK_SLOTS

        record = self.table.get_record(entry.object_id) if entry.object_id else None
        mark = record.get("last_event_watermark") if record else None
        return int(mark) // RANK_SLOTS if isinstance(mark, int) else 0

    def _newest(self, event_id: str | None) -> int | None:
        """The request an action just made (recorded before it was answered): its number."""
        return next(
            (e.seq for e in reversed(self.inbox.entries()) if event_id and e.event_id == event_id), None
        )

    def _allowed(self, seq: int) -> Entry:
        entry = self._entry(seq)
        refusal = _refusal(entry)
        if refusal is not None:
            raise ValueError(refusal)
        return entry

    def _entry(self, seq: int) -> Entry:
        entry = self.inbox.get(seq)
        if entry is None:
            raise ValueError(f"request #{seq} is not in the inbox (it keeps the last {self.inbox.size})")
        return entry

    def _message(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The message as the publisher builds it (when the tap has not seen it, e.g. filtered out)."""
        from stripe_webhook.adapters.publisher import stored_message

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
                "stored": plain(stored) if stored else None,
            }
            for pk, sk, stored, ours in event_records(self.table, payload, event_id)
        ]

    @staticmethod
    def _result(answer: Answer) -> dict[str, Any]:
        return {"status": answer.status, "response": answer.json}


WHY = {
    "missing_signature_header": "no Stripe-Signature header: not sent by Stripe, or a proxy dropped it",
    "malformed_signature_header": "the Stripe-Signature header is not t=<time>,v1=<signature>",
    "signature_mismatch": "no v1 signature matches the signing secret: another secret signed it, or the body"
    " changed after signing (STRIPE_WEBHOOK_SECRET must be the secret `stripe listen` printed)",
    "timestamp_out_of_tolerance": "the signature's time is more than 5 minutes from now: a replay of an old"
    " delivery, or a clock that is off",
    "invalid_payload": "the body is signed but is not UTF-8 JSON",
    "not_an_event": "the body is signed but is not a Stripe event (a thin notification sent to /webhook?)",
    "payload_too_large": "the body is larger than the function accepts",
    "forbidden": "the local stack refuses browsers and foreign Host headers here",
    "not_found": "no such path: the webhook is POST /webhook",
    "method_not_allowed": "the webhook takes POST only",
}
"""Why a request was refused, in words, by the error code the stack answered with."""


def why_refused(entry: Entry) -> str | None:
    """A refused request's reason in words, with the signature's age when that is the reason."""
    if not 400 <= entry.status < 500:
        return None
    try:
        code = str(json.loads(entry.response).get("error", ""))
    except (ValueError, AttributeError):
        code = ""
    why = WHY.get(code, f"refused ({code or entry.status})")
    stamps = [
        part[2:] for part in entry.headers.get("Stripe-Signature", "").split(",") if part.startswith("t=")
    ]
    if code == "timestamp_out_of_tolerance" and stamps and stamps[0].isdigit():
        why += f"; it was signed {int(entry.time) - int(stamps[0])} s before it arrived"
    return why


def _refusal(entry: Entry) -> str | None:
    """Why a request cannot be replayed or resent, or None: only what the stack accepted can be."""
    if entry.method != "POST" or not entry.path.startswith("/webhook"):
        return "only a delivery to the webhook can be sent again"
    if 400 <= entry.status < 500:
        return (
            f"the stack refused this request ({entry.verdict}); sending it again would sign with the"
            " current secret what was refused, so it stays refused"
        )
    return None


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
