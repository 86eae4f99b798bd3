"""What an action is, and which actions an event type triggers.

An action is a small class: its ``name``, the event ``types`` it listens to (exact types or
families such as ``customer.subscription.*``, matched as the webhook's router matches them), a
``decide`` step that says whether it applies now and under which business key, and ``perform``,
the effect itself, which runs at most once per (name, business key) while its record is kept.

``decide`` must be free of effects: it runs for every delivery, duplicates included. Return
``Wait(reason)`` when the fact has not happened yet (a Checkout Session completed but unpaid):
nothing is recorded, so a later event for the same object can still run the action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from contract import matches
from stripe_actions.messages import ActionEvent


@dataclass(frozen=True)
class Run:
    """Perform the action for this business fact (once per key)."""

    key: str


@dataclass(frozen=True)
class Wait:
    """Not now, and nothing recorded: ``reason`` says why (printed and logged)."""

    reason: str


class Action(Protocol):
    @property
    def name(self) -> str:
        """Unique, stable: part of the idempotency key (renaming one runs its facts again)."""
        ...

    @property
    def types(self) -> tuple[str, ...]:
        """Event types or families (``customer.subscription.*``); the queue's filter policy matches."""
        ...

    def decide(self, event: ActionEvent) -> Run | Wait: ...

    def perform(self, event: ActionEvent, key: str) -> str:
        """Do it; return what was done, in a few words (``email to a@b.example``)."""
        ...


class ActionRegistry:
    """Event type → the actions it triggers, in registration order. Names are unique."""

    def __init__(self, actions: Iterable[Action]) -> None:
        self.actions = list(actions)
        names = [action.name for action in self.actions]
        if len(set(names)) < len(names):
            raise ValueError(f"action names must be unique: {names}")

    def for_type(self, event_type: str) -> list[Action]:
        return [
            action for action in self.actions if any(matches(pattern, event_type) for pattern in action.types)
        ]
