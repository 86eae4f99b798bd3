"""What the two composition roots share (``stripe_webhook.composition``, ``stripe_actions.composition``).

Each builds its function's objects once, on first use, from its settings and AWS clients: the
settings given, else the environment's, read on first use (a missing variable is raised inside the
edge, which answers it like any error); and each client given (a test's, the local stack's), else
``None``, so the adapter makes it lazily with ``contract.aws``. Only the settings type and the
objects built differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

S = TypeVar("S")


class Root(Generic[S]):
    """Settings (given, or loaded on first use) and the injected AWS clients, by service name."""

    def __init__(self, settings: S | None, load: Callable[[], S], clients: dict[str, Any | None]) -> None:
        self._settings = settings
        self._load = load
        self._clients = clients

    @property
    def settings(self) -> S:
        """The settings given, else ``load()``'s, read once, on first use."""
        if self._settings is None:
            self._settings = self._load()
        return self._settings

    def given(self, service: str) -> Any | None:
        """The client given for ``service``, or None: its adapter then makes its own (``contract.aws``)."""
        return self._clients.get(service)
