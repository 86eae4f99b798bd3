"""How the local stack stops without losing a delivery it answered 200.

``stripe listen`` (and the burst tool) never send again what got a 200, so a stack that saves and
then answers one more delivery loses it. On Ctrl-C the stack first **stops accepting**: a delivery
that arrives then is answered 503, which its sender sends again once a stack runs; then it waits
for the deliveries in flight to finish, and only then stops what writes on its own and saves
(``stack.Services.stop``). A second Ctrl-C does not cut the save short (``infra.cli.ctrl_c_ignored``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

DRAIN_SECONDS = 30.0
"""How long a stop waits for the deliveries in flight (one takes well under a second)."""


class Deliveries:
    """The deliveries the HTTP front is answering, and whether it still takes new ones."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def one(self) -> Iterator[bool]:
        """Around one delivery: whether it is taken (False once the stack is stopping)."""
        with self._idle:
            self._in_flight += 1
        try:
            yield not self._stopping.is_set()
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def stop(self, timeout: float = DRAIN_SECONDS) -> int:
        """Take no new delivery and wait (at most ``timeout``) for those in flight; how many were
        still running at the end (0: every one was answered)."""
        self._stopping.set()
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout)
            return self._in_flight
