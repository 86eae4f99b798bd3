"""What an action is, where actions are registered, and which actions an event type triggers.

An action is a small class, registered where it is defined with ``@register_action``: its ``name``, the
event ``types`` it listens to (exact types or families such as ``customer.subscription.*``,
matched as the webhook's router matches them), a constructor that takes what it needs from the
function's ``Ports`` (asking for a port is what the action needs; the template's ``Uses`` grants
it, and a test ties the two), ``reads_records = True`` when it reads the webhook's records, a
``decide`` step that says whether it applies now and under which business key, and ``perform``,
the effect itself, which runs at most once per (name, business key) while its record is kept.

``decide`` must be free of effects: it runs for every delivery, duplicates included. Return
``Wait(reason)`` when the fact has not happened yet (a Checkout Session completed but unpaid):
nothing is recorded, so a later event for the same object can still run the action.

An action whose whole effect is one write to its own table defines ``write`` instead of
``perform`` (a ``WriteAction``): it returns the ``Write`` (``ActionsTable.write_new`` or
``write_if_newer``), and the kit makes it in one transaction with its note that the message was
handled: one call for a new message and one for a repeat (two and one when the record it decides
on is not in the message and is read first: ``handled``). Any other action runs ``perform`` under
Powertools' idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from contract import matches
from stripe_actions.messages import ActionEvent

if TYPE_CHECKING:
    from stripe_actions.adapters import ActionsTable, AlertTopic, ReceiptMailer
    from stripe_actions.effects import EffectLedger


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


@dataclass(frozen=True)
class Write:
    """A write action's effect: one conditional put to its own table, made by the kit."""

    put: dict[str, Any]
    """The ``TransactWriteItems`` ``Put``: table, item, and the condition that makes it once."""
    done: str
    """What was done, in a few words, when it is written."""
    refused: str = "already done"
    """What its condition refusing it means (an item as new or newer is stored)."""


class WriteAction(Protocol):
    """An action whose whole effect is one conditional write (``Write``) the kit makes."""

    @property
    def name(self) -> str: ...

    @property
    def types(self) -> tuple[str, ...]: ...

    def decide(self, event: ActionEvent) -> Run | Wait: ...

    def write(self, event: ActionEvent, key: str) -> Write:
        """The write that performs the action for ``key``: computed, not made (no AWS call)."""
        ...


AnyAction = Action | WriteAction


def writes_only(action: AnyAction) -> WriteAction | None:
    """The action as a ``WriteAction`` when its effect is one write (it defines ``write``)."""
    return action if callable(getattr(action, "write", None)) else None  # type: ignore[return-value]


class Ports(Protocol):
    """What an action's constructor may ask its function for (``composition.Components``). Each
    port is granted by the action's template instance (``Uses``): an action asking for one its
    instance does not grant fails when its function starts, naming the setting."""

    def actions_table(self) -> ActionsTable:
        """The kit's table for the action's own items (``Uses: keys=PREFIX#``)."""
        ...

    def mailer(self) -> ReceiptMailer | None:
        """SES, from the stack's receipt sender (``Uses: email``); None when none is set."""
        ...

    def alert_topic(self) -> AlertTopic:
        """The stack's alert topic (``Uses: alerts``)."""
        ...

    def effects(self) -> EffectLedger:
        """The ledger of this action's effects outside our tables (always granted)."""
        ...


Builds = TypeVar("Builds", bound=type[Any])
REGISTERED: dict[str, Callable[[Ports], AnyAction]] = {}
"""Every registered action by name: its class, built with the function's ports."""


def register_action(cls: Builds) -> Builds:
    """Register the action class ``cls`` under its ``name``: an ``ACTIONS`` setting and a
    template instance name it. Two classes with one name are refused at import."""
    name = cls.name
    if not isinstance(name, str) or not name or not isinstance(cls.types, tuple) or not cls.types:
        raise TypeError(f"{cls.__qualname__}: an action needs a name and a tuple of types")
    if callable(getattr(cls, "perform", None)) == callable(getattr(cls, "write", None)):
        raise TypeError(
            f"{cls.__qualname__}: an action defines perform (any effect) or write (its one write),"
            " one of the two"
        )
    other = REGISTERED.get(name)
    if other is not None and other is not cls and getattr(other, "__qualname__", "") != cls.__qualname__:
        raise ValueError(
            f"two actions are named {name!r}: {getattr(other, '__qualname__', other)} and {cls.__qualname__}"
        )
    REGISTERED[name] = cls
    return cls


def reads_records(action: Callable[[Ports], AnyAction] | AnyAction) -> bool:
    """Whether the action reads the webhook's records (its class says ``reads_records = True``)."""
    return bool(getattr(action, "reads_records", False))


class ActionRegistry:
    """Event type → the actions it triggers, in registration order. Names are unique."""

    def __init__(self, actions: Iterable[AnyAction]) -> None:
        self.actions = list(actions)
        names = [action.name for action in self.actions]
        if len(set(names)) < len(names):
            raise ValueError(f"action names must be unique: {names}")

    def for_type(self, event_type: str) -> list[AnyAction]:
        return [
            action for action in self.actions if any(matches(pattern, event_type) for pattern in action.types)
        ]
