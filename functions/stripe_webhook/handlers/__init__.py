"""One module per Stripe resource family, and ``FAMILIES``: the one list of them.

To add a family, write ``handlers/<family>.py`` with ``family = Family("<name>", owns=(...))``
(the object types whose records it writes) and its ``@family.handles(...)`` functions, then add it
to ``FAMILIES`` below. A family owning an object type another owns is refused at import.
"""

from __future__ import annotations

from stripe_webhook.core.routing import Registry, owners
from stripe_webhook.handlers import billing, checkout, customers, disputes, money_movement, payments

FAMILIES = (
    payments.family,
    checkout.family,
    billing.family,
    customers.family,
    disputes.family,
    money_movement.family,
)


OWNERS = owners(FAMILIES)
"""Object type → the family that owns its records (one each: refused at import otherwise)."""


def build_registry() -> Registry:
    """The router the function, the tooling and the tests use: every family above."""
    return Registry.of(FAMILIES)
