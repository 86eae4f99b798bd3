"""Operator commands for a deployed stack: register, rotate-secret, enable-endpoint, backfill, redrive,
verify, status, effects, reindex, rebuild. (The console, which uses these, is ``python -m infra.console``.)

    python -m infra.ops register      --stack stripe-webhooks-prod [--style snapshot|thin [--eventbridge]]
    python -m infra.ops rotate-secret --stack …            # start the overlap; later: --finish
    python -m infra.ops enable-endpoint --stack …          # after Stripe disabled it (asks first)
    python -m infra.ops backfill      --stack … --since 2026-11-01 [--all] [--resume]
    python -m infra.ops redrive       --stack … --type invoice.paid --since 2026-11-01 [--queue-url …]
    python -m infra.ops verify        --stack … [--since 24h] [--type invoice.paid] [--recover] [--resume]
    python -m infra.ops verify        --stack … --records [--sample 500] [--fix]   # records vs Stripe
    python -m infra.ops status        --stack …
    python -m infra.ops effects       --stack … [--settle EFFECT --happened | --not-happened]
    python -m infra.ops reindex       --stack … [--rate 50] [--dry-run]   # once, after upgrading
    python -m infra.ops rebuild       --stack … --since 7d [--type invoice.] [--object in_…] [--dry-run]

Stripe calls use the ``stripe`` library with the key in ``STRIPE_API_KEY`` (never a command-line
argument); AWS calls use your usual AWS credentials. Every command that writes has ``--dry-run``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from infra.ops import (
    backfill,
    destinations,
    effects,
    endpoints,
    rebuild,
    redrive,
    register,
    reindex,
    rotate_secret,
    status,
    verify,
    verify_records,
)
from infra.ops.deployed import (
    Context,
    aws_factory,
    default_stack_name,
    load_stack,
    local_aws,
    local_stack,
    local_stripe_client,
    stripe_client,
)
from infra.ops.progress import parse_time
from infra.stripe_types import known_type
from stripe_webhook.core.events import OBJECT_ID, is_id

LOCAL_COMMANDS = ("status", "redrive", "effects", "verify", "reindex", "rebuild")
STRIPE_COMMANDS = ("register", "rotate-secret", "enable-endpoint", "backfill", "verify")
"""The commands that call Stripe (with the key in STRIPE_API_KEY; ``--local``: the stand-in)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.ops",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="register, rotate-secret, enable-endpoint and backfill call Stripe with the key in"
        " STRIPE_API_KEY; status, redrive and effects need only AWS credentials, and rehearse on the"
        " running local stack with --local.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack", default=None, help="CloudFormation stack (default: samconfig.toml's dev stack)"
    )
    common.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    rehearsal = argparse.ArgumentParser(add_help=False)
    rehearsal.add_argument(
        "--local",
        action="store_true",
        help="rehearse on the running local stack (make run) instead of a deployed one",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        """A command; only those the local stack can answer offer --local."""
        parents = [common, rehearsal] if name in LOCAL_COMMANDS else [common]
        stripe = " Calls Stripe with the key in STRIPE_API_KEY." if name in STRIPE_COMMANDS else ""
        if name in STRIPE_COMMANDS and name in LOCAL_COMMANDS:
            stripe = " Calls Stripe with the key in STRIPE_API_KEY;"
            stripe += " with --local, the local stack's stand-in (no key)."
        described = f"{summary[0].upper()}{summary[1:]}.{stripe}"
        return commands.add_parser(name, help=summary, description=described, parents=parents)

    _stripe_commands(command)
    _stack_commands(command)
    args = parser.parse_args(argv)
    _check(parser, args)
    return args


Command = Callable[[str, str], argparse.ArgumentParser]


def _stripe_commands(command: Command) -> None:
    """The commands that change Stripe's side: register, rotate-secret, enable-endpoint, backfill."""
    reg = command("register", "create or update the Stripe endpoint for the stack's WebhookUrl")
    reg.add_argument(
        "--connect", action="store_true", help="receive events from connected accounts (Connect)"
    )
    reg.add_argument(
        "--style",
        choices=("snapshot", "thin"),
        help="create an event destination (Stripe's v2 API) with this payload style instead of a v1 "
        "webhook endpoint: snapshot to WebhookUrl, thin to ThinWebhookUrl",
    )
    reg.add_argument(
        "--eventbridge", action="store_true", help="with --style: deliver to Amazon EventBridge instead"
    )
    reg.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    rot = command("rotate-secret", "roll the signing secret with an overlap (then --finish)")
    rot.add_argument(
        "--finish", action="store_true", help="end the overlap: drop the old endpoint and secret"
    )
    rot.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    ena = command(
        "enable-endpoint", "turn the stack's endpoints back on after Stripe disabled them (asks first)"
    )
    ena.add_argument("--yes", action="store_true", help="do not ask before turning each one on")
    ena.add_argument("--dry-run", action="store_true", help="say what is disabled, change nothing")

    back = command(
        "backfill", "process events Stripe has that we missed (Events API, 30 days; the reconciler's history)"
    )
    back.add_argument("--since", type=parse_time, help="2026-11-01, an ISO time, a unix time, or 48h / 7d")
    back.add_argument("--until", type=parse_time, default=None, help="the same forms (default: now)")
    back.add_argument(
        "--all", action="store_true", help="every event, not only those Stripe failed to deliver"
    )
    back.add_argument("--resume", action="store_true", help="continue the last backfill of this stack")
    back.add_argument("--dry-run", action="store_true", help="count what is missing, process nothing")

    verify.add_arguments(
        command(
            "verify",
            "prove the event log complete: every event Stripe holds for a window, checked against the log",
        )
    )


def _stack_commands(command: Command) -> None:
    """The commands that read or change the stack's own state: redrive, status, effects, reindex."""
    red = command("redrive", "republish stored events of some types to the topic (or a queue)")
    red.add_argument(
        "--type",
        dest="types",
        action="append",
        required=True,
        type=known_type,
        help="event type (repeatable)",
    )
    red.add_argument(
        "--since", type=parse_time, required=True, help="2026-11-01, an ISO time, a unix time, or 48h / 7d"
    )
    red.add_argument("--until", type=parse_time, default=None, help="the same forms (default: now)")
    red.add_argument("--queue-url", help="send only to this SQS queue instead of every topic subscriber")
    red.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")

    sta = command("status", "recent events by type, failures, last event, alarm states")
    sta.add_argument("--hours", type=int, default=24, help="window (default 24)")

    eff = command("effects", "the actions' uncertain effects (an email, an alert): list them, settle one")
    eff.add_argument(
        "--all", action="store_true", help="list every recorded effect, not only those to settle"
    )
    eff.add_argument(
        "--settle", metavar="EFFECT", help="the effect to settle, as listed (fulfil_order#receipt:in_…)"
    )
    verdict = eff.add_mutually_exclusive_group()
    verdict.add_argument("--happened", action="store_true", help="it did happen: do not attempt it again")
    verdict.add_argument(
        "--not-happened", action="store_true", help="it did not: the redrive attempts it once"
    )
    eff.add_argument("--dry-run", action="store_true", help="say what would be recorded, record nothing")

    rei = command(
        "reindex", "list the events stored before the by-time index in it (once, after upgrading; resumable)"
    )
    rei.add_argument(
        "--rate",
        type=float,
        default=reindex.DEFAULT_RATE,
        help=f"items a second, read and written (default {reindex.DEFAULT_RATE:g})",
    )
    rei.add_argument("--dry-run", action="store_true", help="count the events to index, change nothing")
    _rebuild_command(command)


def _rebuild_command(command: Command) -> None:
    """``rebuild``: its window (time, type prefix, object), pace, resume and dry run."""
    reb = command(
        "rebuild",
        "re-derive records from the stored events with today's handlers (order-safe, publishes nothing)",
    )
    reb.add_argument("--since", type=parse_time, help="2026-11-01, an ISO time, a unix time, or 48h / 7d")
    reb.add_argument("--until", type=parse_time, default=None, help="the same forms (default: now)")
    reb.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        help="an event type or its start (invoice.); repeatable (default: every type)",
    )
    reb.add_argument("--object", dest="object_id", help="only the events about this Stripe object")
    reb.add_argument(
        "--rate",
        type=float,
        default=rebuild.DEFAULT_RATE,
        help=f"events a second, read and rebuilt (default {rebuild.DEFAULT_RATE:g})",
    )
    reb.add_argument(
        "--resume", action="store_true", help="go on where the last rebuild of this stack stopped"
    )
    reb.add_argument(
        "--dry-run", action="store_true", help="say what would change (fields, a few records), write nothing"
    )


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot say alone: options that need or exclude each other (usage errors)."""
    if args.command == "register" and args.eventbridge and not args.style:
        parser.error("--eventbridge needs --style snapshot or --style thin (an event destination)")
    if args.command == "effects" and args.settle and not (args.happened or args.not_happened):
        parser.error("--settle needs --happened or --not-happened: what did you find out?")
    if args.command == "effects" and not args.settle and (args.happened or args.not_happened):
        parser.error("--happened/--not-happened need --settle EFFECT")
    if args.command in ("reindex", "rebuild") and args.rate <= 0:
        parser.error("--rate must be above 0")
    if args.command == "rebuild":
        _check_rebuild(parser, args)
    if args.command == "backfill" and not args.resume and args.since is None:
        parser.error("backfill needs --since (or --resume)")
    if args.command == "verify":
        _check_verify(parser, args)


def _check_verify(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """verify's options that need or exclude each other, and its bounds."""
    if (args.sample is not None or args.fix) and not args.records:
        parser.error("--sample and --fix go with --records")
    if args.records and args.recover:
        parser.error("--recover recovers missing events; --records checks records (--fix): choose one")
    if args.sample is not None and args.sample <= 0:
        parser.error("--sample must be above 0")
    if not 0 < args.rate <= verify.MAX_RATE:
        parser.error(
            f"--rate must be above 0 and at most {verify.MAX_RATE:g} (Stripe's live-mode read limit)"
        )


def _check_rebuild(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.resume and args.since is None:
        parser.error("rebuild needs --since (or --resume)")
    if args.object_id and not is_id(OBJECT_ID, args.object_id):
        parser.error(f"--object: {args.object_id[:80]!r} is not a Stripe object id")


def run(
    args: argparse.Namespace, aws: Callable[[str], Any], stripe: Any = None, out: TextIO = sys.stdout
) -> int:
    stack = (
        local_stack()
        if getattr(args, "local", False)
        else load_stack(aws("cloudformation"), args.stack or default_stack_name())
    )
    ctx = Context(stack, aws, stripe, out, dry_run=getattr(args, "dry_run", False))
    if args.command in STRIPE_COMMANDS and ctx.stripe is None:
        ctx.stripe = local_stripe_client() if stack.local else stripe_client(stack.api_version)
    if args.command == "register" and args.style:
        return destinations.register_destination(ctx, args.style, eventbridge=args.eventbridge)
    if args.command == "register":
        return register.register(ctx, args.connect)
    if args.command == "rotate-secret":
        return rotate_secret.rotate_secret(ctx, args.finish)
    if args.command == "enable-endpoint":
        return endpoints.enable_endpoints(ctx, yes=args.yes)
    if args.command == "backfill":
        if args.resume:
            state = backfill.BackfillState.load(stack.name)
        else:
            state = backfill.BackfillState(
                args.since, args.until or int(time.time()), undelivered_only=not args.all
            )
        return backfill.backfill(ctx, state)
    if args.command == "verify" and args.records:
        if args.resume:
            checked = verify_records.RecordsState.load(stack.name)
        else:
            checked = verify_records.RecordsState(args.since, list(args.types), args.sample)
        return verify_records.verify_records(ctx, checked, rate=args.rate, fix=args.fix)
    if args.command == "verify":
        return verify.verify(ctx, verify.state_of(args, stack.name), rate=args.rate, recover=args.recover)
    return _stack_command(ctx, args)


def _stack_command(ctx: Context, args: argparse.Namespace) -> int:
    """The commands that read or republish the stack's own state."""
    if args.command == "effects":
        if args.settle:
            return effects.settle(ctx, args.settle, happened=args.happened)
        return effects.list_effects(ctx, everything=args.all)
    if args.command == "reindex":
        return reindex.reindex(ctx, args.rate)
    if args.command == "rebuild":
        if args.resume:
            state = rebuild.RebuildState.load(ctx.stack.name)
        else:
            until = args.until or int(time.time())
            state = rebuild.RebuildState(args.since, until, args.types, args.object_id)
        return rebuild.rebuild(ctx, state, args.rate)
    if args.command == "redrive":
        return redrive.redrive(ctx, args.types, args.since, args.until or int(time.time()), args.queue_url)
    return status.status(ctx, args.hours)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    local = getattr(args, "local", False)
    return run(args, local_aws() if local else aws_factory(args.region))
