"""Map Stripe event types to handlers: exact types, or families such as ``charge.dispute.*``.

Each handler module declares one ``Family``, with the Stripe object types whose records it owns
(``owns``), and decorates its handlers with ``family.handles``; ``handlers/__init__.py`` lists the
families, and ``Registry.of`` builds the router from that list. There is no global registry to
forget to fill.

**One owner per record.** Records are whole-item writes: two families writing one object's
record would each drop the other's fields. So each object type has one family (``owners``
refuses two, when ``handlers`` is imported); a new event type of an owned object goes into its
owner's table of types (``make handler`` puts it there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record

Handler = Callable[[StripeEvent], list[Record]]


@dataclass(frozen=True)
class Route:
    pattern: str
    family: str
    handler: Handler
    needs_full_event: bool = False
    """For thin events: fetch the full event from the Stripe API before calling the handler."""


class Family:
    """The routes one handler module declares, under the family name it is reported as, and the
    object types (``data.object.object``: ``invoice``, ``checkout.session``) whose records it owns."""

    def __init__(self, name: str, *, owns: tuple[str, ...]) -> None:
        self.name = name
        self.owns = owns
        self.routes: list[Route] = []

    def handles(self, *patterns: str, needs_full_event: bool = False) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.routes += [Route(pattern, self.name, handler, needs_full_event) for pattern in patterns]
            return handler

        return declare


def owners(families: Iterable[Family]) -> dict[str, str]:
    """Object type → the one family that owns its records; two owners are refused (``ValueError``)."""
    found: dict[str, str] = {}
    for family in families:
        for object_type in family.owns:
            if object_type in found and found[object_type] != family.name:
                raise ValueError(
                    f"{object_type} records are written by two families, {found[object_type]} and"
                    f" {family.name}: each would drop the other's fields. Handle the new event types in"
                    f" {found[object_type]} (make handler puts them in its table of types)"
                )
            found[object_type] = family.name
    return found


class Registry:
    """Event type → handler. An exact type wins over a family; a longer family wins over a shorter."""

    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._families: dict[str, Route] = {}

    @classmethod
    def of(cls, families: Iterable[Family]) -> Registry:
        families = list(families)
        owners(families)
        registry = cls()
        for family in families:
            for route in family.routes:
                registry.add(route.pattern, route.family, route.handler, route.needs_full_event)
        return registry

    def add(self, pattern: str, family: str, handler: Handler, needs_full_event: bool = False) -> None:
        route = Route(pattern, family, handler, needs_full_event)
        if pattern.endswith(".*"):
            table, key = self._families, pattern[:-1]
        else:
            table, key = self._exact, pattern
        if key in table:
            raise ValueError(f"{pattern} is registered twice")
        table[key] = route

    def resolve(self, event_type: str) -> Route | None:
        route = self._exact.get(event_type)
        if route is not None:
            return route
        prefixes = [prefix for prefix in self._families if event_type.startswith(prefix)]
        return self._families[max(prefixes, key=len)] if prefixes else None

    def patterns(self) -> list[str]:
        """Every registered type or family, sorted (for endpoint registration and docs)."""
        return sorted([route.pattern for route in (*self._exact.values(), *self._families.values())])
