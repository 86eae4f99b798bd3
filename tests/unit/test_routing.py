from __future__ import annotations

import importlib
import pkgutil

import pytest

from stripe_webhook import handlers
from stripe_webhook.composition import registry as deployed_registry
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.core.routing import Registry


def _handler(event: StripeEvent) -> list[Record]:
    return []


def _other(event: StripeEvent) -> list[Record]:
    return []


def test_exact_type_wins_over_family_and_longer_family_over_shorter() -> None:
    routes = Registry()
    routes.add("charge.*", "charges", _handler)
    routes.add("charge.dispute.*", "disputes", _other)
    routes.add("charge.dispute.closed", "closed", _handler)

    assert routes.resolve("charge.succeeded").family == "charges"  # type: ignore[union-attr]
    assert routes.resolve("charge.dispute.created").family == "disputes"  # type: ignore[union-attr]
    assert routes.resolve("charge.dispute.closed").family == "closed"  # type: ignore[union-attr]
    assert routes.resolve("charged") is None
    assert routes.resolve("customer.created") is None


def test_registering_a_type_twice_is_an_error() -> None:
    routes = Registry()
    routes.add("charge.succeeded", "a", _handler)
    with pytest.raises(ValueError, match="twice"):
        routes.add("charge.succeeded", "b", _other)


def test_the_deployed_registry_covers_the_core_types() -> None:
    assert {
        "payment_intent.succeeded",
        "payment_method.attached",
        "charge.dispute.created",
        "balance.available",
    } <= set(deployed_registry().patterns())
    assert deployed_registry().resolve("charge.dispute.funds_withdrawn").family == "disputes"  # type: ignore[union-attr]


def test_every_handler_module_is_in_the_one_registration_list() -> None:
    modules = [
        importlib.import_module(f"stripe_webhook.handlers.{module.name}")
        for module in pkgutil.iter_modules(handlers.__path__)
    ]

    assert modules, "no handler modules found"
    assert [module.family for module in modules if module.family not in handlers.FAMILIES] == []
    assert len(handlers.FAMILIES) == len(modules)


def test_the_router_is_built_from_that_list_and_never_empty() -> None:
    router = Registry.of(handlers.FAMILIES)

    assert router.patterns() == deployed_registry().patterns()
    for family in handlers.FAMILIES:
        assert family.routes, f"{family.name} handles nothing"
        assert all(router.resolve(route.pattern) == route for route in family.routes)


def test_each_handled_type_s_object_is_owned_by_the_family_that_handles_it() -> None:
    """A family writes the records of the object types it owns, and only those: read from every
    handled type's payload (``data.object.object``), as Stripe sends it."""
    from infra.fixtures.payloads import available_events, load_event

    owned = {family.name: set(family.owns) for family in handlers.FAMILIES}
    checked = 0
    for event_type in available_events():
        route = deployed_registry().resolve(event_type)
        if route is None:
            continue
        obj = load_event(event_type)["data"]["object"]["object"]
        assert obj in owned[route.family], (event_type, route.family, obj)
        assert handlers.OWNERS[obj] == route.family
        checked += 1
    assert checked >= len(handlers.FAMILIES)


def test_two_families_owning_one_object_type_are_refused_with_the_owner_named() -> None:
    from stripe_webhook.core.routing import Family, owners

    billing, invoices = Family("billing", owns=("invoice",)), Family("invoices", owns=("invoice",))

    with pytest.raises(ValueError, match="invoice records are written by two families, billing and invoices"):
        owners([billing, invoices])
    with pytest.raises(ValueError, match="Handle the new event types in billing"):
        Registry.of([billing, invoices])
