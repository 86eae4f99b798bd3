"""The console's live updates on the local stack (its Requests tab; the Events tab reads again):
Server-Sent Events, so the page fetches only when something changed.

``Changes`` remembers the last changes (a request recorded, an action's outcome) with a version
number; ``stream`` writes them to one page as ``text/event-stream`` until the page goes away or
the stack stops, with a comment line as a heartbeat. The page reads the stream with ``fetch``
rather than ``EventSource``, so a public console's token travels in its header, never in a URL.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable

KEPT_CHANGES = 1000
"""How many changes are remembered; a page further behind than that is told to reload its list."""
HEARTBEAT_SECONDS = 15.0
"""A comment line this often: a dead connection shows on both sides, and no proxy times it out."""
STREAM_PATH = "/api/stream"
STREAM_HEADERS = (("Content-Type", "text/event-stream; charset=utf-8"), ("Connection", "close"))

Change = tuple[str, str]
"""``("request", "47")``, ``("outcome", "evt_…")``, or ``("reset", "")`` (reload the list)."""


class Changes:
    """What changed in the inbox, numbered, for any number of waiting streams."""

    def __init__(self, kept: int = KEPT_CHANGES) -> None:
        self._changed = threading.Condition()
        self._log: deque[tuple[int, Change]] = deque(maxlen=kept)
        self._version = 0
        self._closed = False

    @property
    def version(self) -> int:
        with self._changed:
            return self._version

    def note(self, kind: str, value: str) -> None:
        with self._changed:
            self._version += 1
            self._log.append((self._version, (kind, value)))
            self._changed.notify_all()

    def since(self, after: int, timeout: float) -> tuple[int, list[Change]] | None:
        """The changes after version ``after``, waiting up to ``timeout`` s for one: (newest version,
        changes), with no changes if none came in time; None once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._version > after, timeout)
            if self._closed:
                return None
            if self._version <= after:
                return self._version, []
            if after < self._log[0][0] - 1:  # some were forgotten: the page reloads its list
                return self._version, [("reset", "")]
            return self._version, [change for version, change in self._log if version > after]

    def close(self) -> None:
        """End every stream (the stack is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


def frame(kind: str, data: dict[str, object]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def stream(changes: Changes, write: Callable[[bytes], object], heartbeat: float = HEARTBEAT_SECONDS) -> None:
    """Write ``changes`` as Server-Sent Events until the stack stops; a page that went away ends it
    with ``ConnectionError`` from ``write``."""
    version = changes.version
    write(frame("hello", {"version": version}))
    while (found := changes.since(version, heartbeat)) is not None:
        version, news = found
        if not news:
            write(b": still here\n\n")
        for kind, value in news:
            write(frame(kind, {"value": value, "version": version}))
