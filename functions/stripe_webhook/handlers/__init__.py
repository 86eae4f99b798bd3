"""One module per Stripe resource family, and ``FAMILIES``: the one list of them.

To add a family, write ``handlers/<family>.py`` with ``family = Family("<name>")`` and its
``@family.handles(...)`` functions, then add it to ``FAMILIES`` below.
"""

from __future__ import annotations

from stripe_webhook.handlers import billing, checkout, customers, disputes, money_movement, payments
from stripe_webhook.routing import Registry

FAMILIES = (
    payments.family,
    checkout.family,
    billing.family,
    customers.family,
    disputes.family,
    money_movement.family,
)


def build_registry() -> Registry:
    """The router the function, the tooling and the tests use: every family above."""
    return Registry.of(FAMILIES)
