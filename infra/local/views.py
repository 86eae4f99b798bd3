"""How the tools show what the local stack stored: a record on one line, an event's records, times
as people read them, counts in the right number, and one word for an event no handler takes."""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from contract.records import CUSTOMER_KEY, CUSTOMER_SORT, object_key
from infra.fixtures.payloads import is_unix_time

if TYPE_CHECKING:
    from infra.local.inbox import Entry
    from stripe_webhook.adapters.queries import TableQueries

_RECORD_META = {
    "pk",
    "sk",
    "object_id",
    "object_type",
    "livemode",
    CUSTOMER_KEY,
    CUSTOMER_SORT,
    "last_event_id",
    "last_event_type",
    "last_event_watermark",
    "updated_at",
}


def human_time(timestamp: int, now: float | None = None) -> str:
    """``2026-12-02 18:07:11 UTC, 2 min ago``."""
    moment = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
    delta = int((time.time() if now is None else now) - timestamp)
    ago, span = delta >= 0, abs(delta)
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86_400, "h", 3600), (None, "days", 86_400)):
        if limit is None or span < limit:
            amount = f"{span // size} {unit}"
            break
    return f"{moment}, {'just now' if span < 5 else (f'{amount} ago' if ago else f'in {amount}')}"


def shown(name: str, value: Any) -> str:
    """A stored value as the tools print it: a Unix time with its date and how long ago."""
    return f"{value} ({human_time(value)})" if is_unix_time(name, value) else str(value)


def count(number: int, noun: str) -> str:
    """``1 delivery``, ``3 deliveries``, ``2 messages``."""
    if number == 1:
        return f"1 {noun}"
    return f"{number:,} {noun[:-1] + 'ies' if noun.endswith('y') and noun[-2] not in 'aeiou' else noun + 's'}"


def aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as lines whose columns line up however long each value is (the last one runs on)."""
    if not rows:
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return [
        "  ".join(
            [*(value.ljust(width) for value, width in zip(row[:-1], widths, strict=True)), row[-1]]
        ).rstrip()
        for row in rows
    ]


def handler_label(handler: str | None) -> str:
    """``handler=billing``, or ``unhandled``: stored and published, no handler keeps a record."""
    return f"handler={handler}" if handler and handler != "none" else "unhandled"


def summarize(record: dict[str, Any]) -> str:
    """The interesting fields of a record on one line."""
    fields = [f"{name}={shown(name, value)}" for name, value in record.items() if name not in _RECORD_META]
    return " ".join(fields)


def record_line(object_id: str, record: dict[str, Any]) -> str:
    """``OBJECT#<id>: status=… amount=…``: a record as the tools print it."""
    return f"{object_key(object_id)[0]}: {summarize(record)}"


def event_records(
    table: TableQueries, payload: str, event_id: str
) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """Every item the event's handler writes, whatever its key (``OBJECT#…``, ``BALANCE#…``, links),
    as stored now: (pk, sk, the item or None, whether this event wrote it last)."""
    from stripe_webhook.composition import registry
    from stripe_webhook.core.events import parse_stored_event

    event = parse_stored_event(payload.encode("utf-8"))
    route = registry().resolve(event.type)
    found = []
    for record in route.handler(event) if route else []:
        stored = table.get_item(record.pk, record.sk)
        found.append(
            (record.pk, record.sk, stored, stored is not None and stored.get("last_event_id") == event_id)
        )
    return found


def console_line(entry: Entry) -> str:
    """The stack's one line per request: time, status, verdict, type, event id, records, latency."""
    parts = [time.strftime("%H:%M:%S", time.localtime(entry.time)), str(entry.status), entry.verdict]
    parts += [value for value in (entry.event_type, entry.event_id) if value]
    if entry.status == 200:
        parts.append(f"records={entry.records_written} stale={entry.records_stale}")
    if entry.status != 200 or not entry.event_id:
        parts.append(f"{entry.method} {entry.path}")
    parts.append(f"{entry.latency_ms:.0f} ms")
    return "  ".join(parts)


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Item values as JSON can carry them (bytes as their length)."""
    return {name: plain_value(value) for name, value in sorted(values.items())}


def plain_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return plain(value)
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    return value


CAPTURED = threading.local()
"""The traceback of a failure the function logged while serving this thread's request
(``stack.print_tracebacks_readably`` keeps it here): the inbox shows it with the request."""


def take_traceback() -> str | None:
    text: str | None = getattr(CAPTURED, "text", None)
    CAPTURED.text = None
    return text


def print_tracebacks_readably(verbose: bool) -> None:
    """A failure with a traceback (a handler's bug) prints it as Python does, to the console,
    instead of one escaped JSON line; the function's JSON logs stay for ``--verbose``."""
    from stripe_webhook.observability import logger

    class Readable(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[0] is not None:
                code = getattr(record, "error", "")
                event = getattr(record, "event_id", "")
                print(f"-- {record.getMessage()} [{code}] {event}: traceback", file=sys.stderr, flush=True)
                traceback.print_exception(*record.exc_info)
                CAPTURED.text = "".join(traceback.format_exception(*record.exc_info))  # for the inbox

    if not verbose:
        logger.registered_handler.setLevel(logging.CRITICAL)
    logger.addHandler(Readable(logging.ERROR))
