"""``rotate-secret``: roll the signing secret through a second endpoint, then ``--finish``."""

from __future__ import annotations

from infra.cli import Problem
from infra.ops.deployed import Context
from infra.ops.register import create_endpoint, endpoints_for, read_secrets, record_endpoints, write_secrets


def rotate_secret(ctx: Context, finish: bool) -> int:
    """Zero-downtime rotation through a second endpoint; its duplicate deliveries are deduplicated."""
    endpoints = endpoints_for(ctx)
    current = read_secrets(ctx)
    if not finish:
        if len(endpoints) != 1:
            raise Problem(
                "expected exactly one endpoint for this stack "
                f"(found {len(endpoints)}; run register first, or rotate-secret --finish)"
            )
        (old,) = endpoints
        ctx.say(f"creating a second endpoint beside {old.id}; both deliver every event during the overlap")
        if ctx.dry_run:
            ctx.say("dry run: nothing changed")
            return 0
        new = create_endpoint(ctx, list(old.enabled_events), ctx.stack.api_version, rotated_from=old.id)
        write_secrets(ctx, [*current, new.secret])
        ctx.say(f"created {new.id}; the stack's secret now holds {len(current) + 1} values (old and new)")
        ctx.say("duplicates from the two endpoints are processed once (same event ids)")
        ctx.say("when the new endpoint is delivering (Dashboard, or `status`), run: rotate-secret --finish")
        record_endpoints(ctx)
        return 0
    if len(endpoints) != 2 or len(current) < 2:
        raise Problem("no rotation in progress (expected two endpoints and two secret values)")
    old, new = endpoints
    ctx.say(f"deleting the old endpoint {old.id} and its secret; keeping {new.id}")
    if ctx.dry_run:
        ctx.say("dry run: nothing changed")
        return 0
    write_secrets(ctx, [current[-1]])  # the newest value first leaves the old endpoint's retries failing
    ctx.stripe.v1.webhook_endpoints.delete(old.id)
    ctx.say("rotation finished: one endpoint, one secret")
    record_endpoints(ctx)
    return 0
