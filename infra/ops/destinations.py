"""``register --style snapshot|thin [--eventbridge]``: a Stripe event destination, through the v2 API.

Stripe's event destinations (``/v2/core/event_destinations``) carry snapshot or thin events to a
webhook endpoint or to Amazon EventBridge. This creates the one for the stack, subscribed to
exactly the types a handler keeps (``v1.``-prefixed in the thin style), and stores the webhook
destination's signing secret where the stack reads it (``SecretArn`` for snapshot events,
``ThinSecretArn`` for thin ones). Run again, it finds the destination by its metadata (stack and
style) and brings its event types up to date; the secret Stripe shows only at creation stays.

Shapes and rules as stripe-python 16.1.0's generated ``EventDestinationCreateParams`` and
``EventDestination`` (generated from Stripe's OpenAPI spec): ``snapshot_api_version`` only for
snapshot events, the signing secret only in the create response and only with
``include=["webhook_endpoint.signing_secret"]``.
"""

from __future__ import annotations

from typing import Any

from infra.cli import Problem
from infra.ops.deployed import MANAGED_BY, Context, handled_event_types
from infra.ops.register import record_endpoints, say_type_changes, write_secrets
from stripe_webhook.core.events import HEALTH_NOTICE


def enabled_events(style: str) -> list[str]:
    """The handled types, as a destination of ``style`` names them; a thin destination also takes
    Stripe's notice of an event it never generated (``stripe_webhook.core.health``)."""
    types = handled_event_types()
    return [*(f"v1.{event_type}" for event_type in types), HEALTH_NOTICE] if style == "thin" else types


def _mine(ctx: Context, style: str, transport: str) -> list[Any]:
    listed = ctx.stripe.v2.core.event_destinations.list(params={"include": ["webhook_endpoint.url"]})
    return [
        destination
        for destination in listed.auto_paging_iter()
        if _tag(destination, "stack") == ctx.stack.name
        and _tag(destination, "managed_by") == MANAGED_BY
        and destination.event_payload == style
        and destination.type == transport
    ]


def _tag(destination: Any, name: str) -> str | None:
    metadata = destination.metadata.to_dict() if destination.metadata is not None else {}
    value = metadata.get(name)
    return value if isinstance(value, str) else None


def _target(ctx: Context, style: str) -> tuple[str, str]:
    """The URL Stripe delivers to and the secret the stack verifies it with."""
    if style == "snapshot":
        return ctx.stack.webhook_url, ctx.stack.secret_arn
    if not ctx.stack.thin_webhook_url or not ctx.stack.thin_secret_arn:
        raise Problem(
            f"stack {ctx.stack.name!r} has no ThinWebhookUrl output:"
            " deploy it with EnableThinEvents=true first"
        )
    return ctx.stack.thin_webhook_url, ctx.stack.thin_secret_arn


def register_destination(ctx: Context, style: str, *, eventbridge: bool = False) -> int:
    events = enabled_events(style)
    transport = "amazon_eventbridge" if eventbridge else "webhook_endpoint"
    existing = _mine(ctx, style, transport)
    if len(existing) > 1:
        ids = ", ".join(destination.id for destination in existing)
        raise Problem(f"several {style} destinations are tagged for this stack ({ids}): delete all but one")
    if existing:
        return _update(ctx, existing[0], style, transport, events)
    params: dict[str, Any] = {
        "name": f"{ctx.stack.name} {style}",
        "description": f"{ctx.stack.name} (AWS): {style} events",
        "type": transport,
        "event_payload": style,
        "enabled_events": events,
        "metadata": {"stack": ctx.stack.name, "managed_by": MANAGED_BY, "style": style},
    }
    if style == "snapshot":
        params["snapshot_api_version"] = ctx.stack.api_version
    secret_arn = None
    if eventbridge:
        identity = ctx.aws("sts").get_caller_identity()
        params["amazon_eventbridge"] = {
            "aws_account_id": identity["Account"],
            "aws_region": ctx.aws("sts").meta.region_name,
        }
        where = f"EventBridge in {identity['Account']}/{params['amazon_eventbridge']['aws_region']}"
    else:
        url, secret_arn = _target(ctx, style)
        params["webhook_endpoint"] = {"url": url}
        params["include"] = ["webhook_endpoint.signing_secret"]
        where = url
    ctx.say(f"no {style} destination for {ctx.stack.name} yet: creating one to {where}")
    version = f", API version {ctx.stack.api_version}" if style == "snapshot" else ""
    ctx.say(f"  {len(events)} event types{version}")
    if ctx.dry_run:
        ctx.say("dry run: nothing created")
        return 0
    destination = ctx.stripe.v2.core.event_destinations.create(params=params)
    if secret_arn is not None:
        endpoint = destination.webhook_endpoint
        signing_secret = endpoint.signing_secret if endpoint is not None else None
        if not signing_secret:
            raise Problem(
                f"Stripe created {destination.id} but returned no signing secret; roll it in the Dashboard"
            )
        write_secrets_to(ctx, secret_arn, signing_secret)
        ctx.say(f"created {destination.id}; its signing secret is stored in {secret_arn}")
        record_endpoints(ctx)
    else:
        ctx.say(
            f"created {destination.id}: associate its partner event source in EventBridge, then deploy"
            " with StripeEventBusName=<the bus> (see docs/delivery.md, Stripe's EventBridge destination)"
        )
        record_endpoints(ctx)
    return 0


def _update(ctx: Context, destination: Any, style: str, transport: str, events: list[str]) -> int:
    """Bring an existing destination's event types up to date (its secret stays)."""
    ctx.say(f"{style} destination {destination.id} ({transport}) already exists for {ctx.stack.name}")
    if not say_type_changes(ctx, events, destination.enabled_events):
        ctx.say("up to date: nothing to change")
        record_endpoints(ctx)
        return 0
    if ctx.dry_run:
        ctx.say("dry run: nothing changed")
        return 0
    ctx.stripe.v2.core.event_destinations.update(destination.id, params={"enabled_events": events})
    ctx.say("updated; its signing secret is unchanged")
    record_endpoints(ctx)
    return 0


def write_secrets_to(ctx: Context, secret_arn: str, secret: str) -> None:
    if secret_arn == ctx.stack.secret_arn:
        write_secrets(ctx, [secret])
    else:
        ctx.aws("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=secret)
