"""``register``: create or update the Stripe endpoint for the stack's WebhookUrl; store its secret.

Also the endpoint and secret helpers ``rotate-secret`` shares.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from infra.cli import Problem
from infra.ops.deployed import MANAGED_BY, Context, handled_event_types


def read_secrets(ctx: Context) -> list[str]:
    from stripe_webhook.errors import ConfigurationError
    from stripe_webhook.settings import parse_secrets

    value = ctx.aws("secretsmanager").get_secret_value(SecretId=ctx.stack.secret_arn).get("SecretString", "")
    try:
        return list(parse_secrets(value, "the stack's secret"))
    except ConfigurationError:
        return []  # the placeholder the stack created, not yet a whsec_ value


def write_secrets(ctx: Context, secrets: list[str]) -> None:
    ctx.aws("secretsmanager").put_secret_value(SecretId=ctx.stack.secret_arn, SecretString=",".join(secrets))


def endpoints_for(ctx: Context) -> list[Any]:
    """Webhook endpoints pointing at this stack, oldest first."""
    listed = ctx.stripe.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter()
    mine = [endpoint for endpoint in listed if endpoint.url == ctx.stack.webhook_url]
    return sorted(mine, key=lambda endpoint: endpoint.created)


def create_endpoint(
    ctx: Context, events: list[str], api_version: str, *, connect: bool = False, **metadata: str
) -> Any:
    """A webhook endpoint for this stack's URL, tagged as ours; the response carries its secret."""
    params: dict[str, Any] = {
        "url": ctx.stack.webhook_url,
        "enabled_events": events,
        "api_version": api_version,
        "description": f"{ctx.stack.name} (AWS)",
        "metadata": {"stack": ctx.stack.name, "managed_by": MANAGED_BY, **metadata},
    }
    if connect:
        params["connect"] = True
    return ctx.stripe.v1.webhook_endpoints.create(params=params)


def _created(value: object) -> int:
    """An endpoint's ``created``: a unix time (v1) or an ISO time (v2)."""
    if isinstance(value, int):
        return value
    try:
        return int(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def stack_endpoints(ctx: Context) -> list[Any]:
    """What Stripe delivers this stack's events to: its webhook endpoints and the event destinations
    tagged for it (``stripe_webhook.recovery.reconciler.Endpoint``), as the reconciler checks them."""
    from stripe_webhook.recovery.reconciliation import Endpoint

    found = [
        Endpoint(e.id, "webhook_endpoint", e.url, tuple(e.enabled_events), _created(e.created))
        for e in endpoints_for(ctx)
    ]
    listed = ctx.stripe.v2.core.event_destinations.list(params={"include": ["webhook_endpoint.url"]})
    for destination in listed.auto_paging_iter():
        metadata = destination.metadata.to_dict() if destination.metadata is not None else {}
        if metadata.get("stack") != ctx.stack.name or metadata.get("managed_by") != MANAGED_BY:
            continue
        endpoint = destination.webhook_endpoint
        url = (endpoint.url if endpoint is not None else None) or destination.type
        events = tuple(destination.enabled_events)
        found.append(
            Endpoint(destination.id, "event_destination", url, events, _created(destination.created))
        )
    return found


def record_endpoints(ctx: Context) -> None:
    """Tell the stack's reconciler which endpoints are its own (it checks each one every run)."""
    if ctx.dry_run:
        return
    found = stack_endpoints(ctx)
    ctx.components.ledger.record_endpoints(found)
    ctx.say(f"recorded {len(found)} endpoint(s) in the stack for the reconciler's health check")


def say_type_changes(ctx: Context, wanted: list[str], enabled: list[str]) -> bool:
    """Say how the enabled event types differ from the handled ones; True if they do."""
    added, removed = set(wanted) - set(enabled), set(enabled) - set(wanted)
    ctx.say(f"  event types: {len(wanted)} ({len(added)} to add, {len(removed)} to remove)")
    return bool(added or removed)


def register(ctx: Context, connect: bool) -> int:
    events = handled_event_types()
    existing = endpoints_for(ctx)
    if len(existing) > 1:
        raise Problem(
            "two endpoints point at this stack: a secret rotation is in progress (rotate-secret --finish)"
        )
    if existing:
        endpoint = existing[0]
        ctx.say(f"endpoint {endpoint.id} already delivers to {ctx.stack.webhook_url}")
        say_type_changes(ctx, events, endpoint.enabled_events)
        if endpoint.api_version and endpoint.api_version != ctx.stack.api_version:
            ctx.say(
                f"note: the endpoint sends API version {endpoint.api_version}, the stack's "
                f"StripeApiVersion is {ctx.stack.api_version}; Stripe fixes it when an endpoint is created: "
                "rotate-secret creates its replacement (the handlers read both)"
            )
        if ctx.dry_run:
            ctx.say("dry run: nothing changed")
            return 0
        ctx.stripe.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": events})
        ctx.say("updated; its signing secret is unchanged")
        if not read_secrets(ctx):
            ctx.say("warning: the stack's secret holds no whsec_ value; run rotate-secret to set a fresh one")
        record_endpoints(ctx)
        return 0
    ctx.say(f"no endpoint delivers to {ctx.stack.webhook_url} yet: creating one")
    ctx.say(f"  {len(events)} event types, API version {ctx.stack.api_version}, connect={connect}")
    if ctx.dry_run:
        ctx.say("dry run: nothing created")
        return 0
    endpoint = create_endpoint(ctx, events, ctx.stack.api_version, connect=connect)
    write_secrets(ctx, [endpoint.secret])
    ctx.say(f"created {endpoint.id}; its signing secret is stored in {ctx.stack.secret_arn}")
    record_endpoints(ctx)
    return 0
