"""``enable-endpoint``: turn the stack's endpoints back on after Stripe disabled them (asks first).

Stripe disables an endpoint after repeated failed deliveries, and sends nothing to it while it is
disabled: not even the events created meanwhile, later. The stack's reconciler raises
``StripeEndpointDisabledAlarm`` within one interval and keeps recovering those events from the
Events API; once the cause is fixed (the secret, a deploy, a network rule), this command turns
each disabled endpoint ``ops register`` recorded for the stack back on, one question each.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from infra.cli import Problem
from infra.ops.deployed import Context


def _status(ctx: Context, endpoint: Any) -> str:
    if endpoint.kind == "event_destination":
        found = ctx.stripe.v2.core.event_destinations.retrieve(endpoint.id)
    else:
        found = ctx.stripe.v1.webhook_endpoints.retrieve(endpoint.id)
    return str(found.status)


def _enable(ctx: Context, endpoint: Any) -> None:
    if endpoint.kind == "event_destination":
        ctx.stripe.v2.core.event_destinations.enable(endpoint.id)
    else:
        ctx.stripe.v1.webhook_endpoints.update(endpoint.id, params={"disabled": False})


def ask_on_terminal(question: str) -> bool:
    if not sys.stdin.isatty():
        raise Problem("enable-endpoint asks before it changes anything: run it in a terminal, or pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def enable_endpoints(ctx: Context, *, yes: bool, ask: Callable[[str], bool] | None = None) -> int:
    import stripe

    ask = ask or ask_on_terminal
    recorded = ctx.components.ledger.endpoints()
    if not recorded:
        raise Problem("no endpoint is recorded for this stack: run ops register (it records them)")
    turned_on = 0
    for endpoint in recorded:
        try:
            status = _status(ctx, endpoint)
        except stripe.InvalidRequestError:
            ctx.say(f"{endpoint.id} ({endpoint.url}): Stripe no longer has it; run ops register")
            continue
        ctx.say(f"{endpoint.id} ({endpoint.url}): {status}")
        if status != "disabled":
            continue
        if ctx.dry_run:
            ctx.say("  dry run: would turn it on")
            continue
        if not yes and not ask(
            f"  turn {endpoint.id} back on? Do it once the cause of its failures is fixed"
        ):
            ctx.say("  left disabled")
            continue
        _enable(ctx, endpoint)
        turned_on += 1
        ctx.say(f"  turned on: Stripe delivers to {endpoint.url} again")
    if turned_on:
        ctx.say(
            "what Stripe did not send while it was off is recovered by the reconciler's next run"
            " (within ReconcileIntervalMinutes, up to 30 days back); older history: ops backfill --since"
        )
    return 0
