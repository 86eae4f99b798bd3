"""The local stack's command line, and what it checks before it starts anything.

Every option is one row of ``OPTIONS``; ``check_ports`` and ``resolve_secret`` fail with a
``Problem`` that says what to do, before a port is taken or a file written.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from infra.cli import Problem
from infra.fixtures.signing import generate_secret
from infra.local.guard import DOCKER_HOST_NAME
from infra.local.inbox import DEFAULT_SIZE, MAX_BYTES
from infra.local.moto_server import docker_bridge_address
from infra.local.stripe_standin import DEFAULT_PORT as STRIPE_STANDIN_PORT

DESCRIPTION = (
    "Run the Stripe webhook function locally: moto as the AWS endpoint, the table and topic "
    "from template.yaml, an SQS consumer queue, and POST /webhook on an HTTP port. "
    "Uses STRIPE_WEBHOOK_SECRET when set (e.g. the secret `stripe listen` prints), "
    "else generates one."
)
OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--host", {"default": "127.0.0.1", "help": "address to listen on (default 127.0.0.1)"}),
    (
        "--port",
        {
            "type": int,
            "default": 3000,
            "help": "webhook HTTP port (default 3000); with --aws-only, the port sam local start-api serves",
        },
    ),
    (
        "--aws-port",
        {"type": int, "help": "local AWS endpoint port (default 5000, or --port + 2000: 3100 → 5100)"},
    ),
    (
        "--stripe-port",
        {
            "type": int,
            "help": "the local Stripe API stand-in's port, which answers thin events' fetches with what "
            f"make trigger --thin sent (default {STRIPE_STANDIN_PORT}, or as far from it as --port is from"
            " 3000; loopback only)",
        },
    ),
    (
        "--aws-host",
        {
            "default": "127.0.0.1",
            "help": "address the local AWS endpoint listens on (default 127.0.0.1); 'docker': loopback and "
            "Docker's bridge (docker0) only, so that `sam local` containers reach it as "
            "host.docker.internal and nothing else on the network does",
        },
    ),
    (
        "--allow-host",
        {
            "action": "append",
            "default": [],
            "metavar": "NAME",
            "help": "a Host name the console and the local AWS endpoint answer besides 127.0.0.1, localhost "
            "and [::1] (repeatable; e.g. a name your /etc/hosts gives this machine)",
        },
    ),
    (
        "--reconcile-every",
        {
            "type": float,
            "default": 10.0,
            "metavar": "SECONDS",
            "help": "run the reconciler this often against the local Stripe API stand-in, recovering what "
            "make trigger ARGS=--undelivered kept (default 10; 0 turns it off)",
        },
    ),
    (
        "--verbose",
        {"action": "store_true", "help": "also print the stored record and the function's own logs"},
    ),
    (
        "--inbox-size",
        {
            "type": int,
            "default": DEFAULT_SIZE,
            "help": f"requests the console's requests view keeps, the oldest dropped first (default"
            f" {DEFAULT_SIZE}; and at most {MAX_BYTES // 2**20} MiB of them)",
        },
    ),
    (
        "--inbox-public",
        {
            "action": "store_true",
            "help": "let other machines open the console too (with --host 0.0.0.0); it shows bodies and can "
            "replay, so its JSON then needs the random token in the link the banner prints",
        },
    ),
    (
        "--no-reload",
        {
            "action": "store_true",
            "help": "do not reload the function's code when a file under functions/ changes",
        },
    ),
    (
        "--persist",
        {
            "action": "store_true",
            "help": "keep the table, bucket, consumer queue and inbox across restarts"
            " (.local-stack/; make reset)",
        },
    ),
    (
        "--no-actions",
        {
            "action": "store_true",
            "help": "do not run the consumer kit's example actions"
            " (fulfil_order, entitlement, dispute_alert)",
        },
    ),
    ("--functions-dir", {"type": Path, "help": argparse.SUPPRESS}),  # tests: a copy to edit
    (
        "--aws-only",
        {
            "action": "store_true",
            "help": "only the AWS side (for `sam local start-api`, which serves the webhook itself)",
        },
    ),
)


WEBHOOK_PORT, AWS_PORT = 3000, 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=DESCRIPTION)
    for flag, options in OPTIONS:
        parser.add_argument(flag, **options)
    args = parser.parse_args(argv)
    args.chosen = {  # what the user set, kept in the hint for a stack beside a busy one
        option: value
        for option, value in (("--aws-port", args.aws_port), ("--stripe-port", args.stripe_port))
        if value is not None
    }
    neighbours = ports_beside(args.port)  # a second stack: --port 3100 is enough
    args.aws_port = neighbours[1] if args.aws_port is None else args.aws_port
    args.stripe_port = neighbours[2] if args.stripe_port is None else args.stripe_port
    return args


def ports_beside(port: int) -> tuple[int, int, int]:
    """The webhook, AWS and Stripe stand-in ports of a stack whose webhook is on ``port``: each as far
    from its default as ``port`` is from 3000 (3100 → 5100 and 12211)."""
    shift = port - WEBHOOK_PORT
    aws, stripe = AWS_PORT + shift, STRIPE_STANDIN_PORT + shift
    if not 1024 <= min(aws, stripe) <= max(aws, stripe) <= 65535:  # far from 3000: the defaults
        return port, AWS_PORT, STRIPE_STANDIN_PORT
    return port, aws, stripe


def aws_addresses(aws_host: str) -> tuple[list[str], list[str]]:
    """Where the local AWS endpoint listens, and the extra ``Host`` names it answers there."""
    if aws_host == "docker":
        bridge = docker_bridge_address()
        if bridge is None and sys.platform != "linux":  # Docker Desktop: containers reach loopback
            return ["127.0.0.1"], [DOCKER_HOST_NAME]
        if bridge is None:
            raise Problem(
                "no Docker bridge (docker0) on this machine: start Docker first, or name the address "
                "with --aws-host ADDRESS"
            )
        return ["127.0.0.1", bridge], [DOCKER_HOST_NAME, bridge]
    if aws_host in ("0.0.0.0", "::"):
        return [aws_host], [DOCKER_HOST_NAME]
    return [aws_host], [] if aws_host == "127.0.0.1" else [aws_host]


def bind_error(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (``Address already in use``), or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def beside_hint(args: argparse.Namespace, busy: list[str]) -> str:
    """A ``make run`` whose ports are all free now, keeping the ports the user chose that are free."""
    chosen: dict[str, int] = getattr(args, "chosen", {})
    kept = {option: port for option, port in chosen.items() if not any(f"{option})" in line for line in busy)}
    free = free_stack_ports(args.host, kept)
    if free is None:
        return "Stop whatever is using them, or pick free ports with --port, --aws-port and --stripe-port."
    _, aws, stripe = ports_beside(free)
    following = [
        str(port) for option, port in (("--aws-port", aws), ("--stripe-port", stripe)) if option not in kept
    ]
    options = " ".join([f"--port {free}", *(f"{option} {port}" for option, port in kept.items())])
    follow = (
        f" (its other ports follow: {', '.join(following)}; all free now)" if following else " (all free now)"
    )
    return f'A stack beside it: make run ARGS="{options}"{follow}.'


def free_stack_ports(host: str, kept: dict[str, int] | None = None) -> int | None:
    """A webhook port whose neighbours (``ports_beside``, but the ``kept`` ``--aws-port`` and
    ``--stripe-port``) are all free: 3100, 3200, … 3900."""
    kept = kept or {}
    for port in range(WEBHOOK_PORT + 100, WEBHOOK_PORT + 1000, 100):
        webhook, aws, stripe = ports_beside(port)
        aws, stripe = kept.get("--aws-port", aws), kept.get("--stripe-port", stripe)
        wanted = ((host, webhook), ("127.0.0.1", aws), ("127.0.0.1", stripe))
        if not any(bind_error(address, number) for address, number in wanted):
            return port
    return None


def resolve_secret(persist_dir: Path | None = None) -> tuple[str, bool]:
    """The signing secret(s) to use, and whether they came from the environment. Generated when
    unset; with ``--persist`` (``persist_dir``), generated once and kept there."""
    from infra.local import persist
    from stripe_webhook.errors import ConfigurationError
    from stripe_webhook.settings import parse_secrets

    value = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    if not value and persist_dir is not None:
        saved = persist.saved_secret(persist_dir)
        if saved is None and (persist_dir / persist.SECRET_FILE).exists():
            print(
                f"warning: the saved signing secret {persist_dir / persist.SECRET_FILE} is damaged (not a"
                " whsec_ secret); replaced it with a new one: exported secrets, .sam-events/ files and"
                " Stripe CLI setups need the new one (the banner shows it)",
                file=sys.stderr,
                flush=True,
            )
        value = saved or generate_secret()
        persist.keep_secret(persist_dir, value)
        return value, False
    if not value:
        return generate_secret(), False
    try:
        parse_secrets(value, "STRIPE_WEBHOOK_SECRET")
    except ConfigurationError as error:
        raise Problem(
            f"{error.message}. Set it to the whsec_... value that `stripe listen` prints, or unset it "
            "to have one generated."
        ) from None
    return value, True


def check_ports(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Every port the stack needs is free, or one ``Problem`` naming each busy one and a command
    that works; where the AWS endpoint listens (``aws_addresses``)."""
    aws_hosts, aws_names = aws_addresses(args.aws_host)
    wanted = [(host, args.aws_port, "local AWS endpoint", "--aws-port") for host in aws_hosts]
    if not args.aws_only:
        wanted.insert(0, (args.host, args.port, "webhook", "--port"))
        wanted.append(("127.0.0.1", args.stripe_port, "local Stripe API stand-in", "--stripe-port"))
    busy = [
        f"{host}:{port} ({what}, {option}): {error}"
        for host, port, what, option in wanted
        if (error := bind_error(host, port))
    ]
    if busy:
        raise Problem(
            "ports in use: " + "; ".join(busy) + ". Another local stack? " + beside_hint(args, busy)
        )
    return aws_hosts, aws_names
