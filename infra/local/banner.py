"""What the local stack prints when it is ready: where everything is, and what to do next."""

from __future__ import annotations

import argparse
import os

from infra.local.connect import REGION
from infra.local.resources import ActionResources, LocalResources
from infra.local.server import WEBHOOK_PATH
from infra.local.stripe_cli import listen_snapshot, listen_thin, listen_v1


def print_banner(
    *,
    args: argparse.Namespace,
    endpoint: str,
    secret: str,
    from_env: bool,
    resources: LocalResources,
    secret_arn: str,
    actions: ActionResources | None,
    aws_hosts: list[str],
    inbox_token: str | None,
) -> None:
    origin = "from STRIPE_WEBHOOK_SECRET" if from_env else "generated; set STRIPE_WEBHOOK_SECRET to choose"
    if args.persist and not from_env:
        origin = "generated once, kept in .local-stack/ by --persist; make reset forgets it"
    here = "127.0.0.1" if args.aws_only or args.host in WILDCARDS else args.host
    webhook = f"http://{here}:{args.port}{WEBHOOK_PATH}"
    served = "   (served by `sam local start-api`)" if args.aws_only else ""
    elsewhere = network_address() if args.host in WILDCARDS and not args.aws_only else None
    lines = [
        "Stripe webhook local stack is running",
        *([] if args.aws_only else _inbox_lines(here, elsewhere, args.port, inbox_token)),
        f"  webhook URL     {webhook}{served}",
        *(
            [f"                  http://{elsewhere}:{args.port}{WEBHOOK_PATH}   (from other machines)"]
            if elsewhere
            else []
        ),
        *([] if args.aws_only else [f"  thin events     {webhook}/thin"]),
        f"  AWS endpoint    {endpoint}  (region {REGION}, any credentials)",
        f"  signing secret  {secret}  ({origin})",
        f"  secret ARN      {secret_arn}",
        f"  table           {resources.table_name}",
        f"  topic           {resources.topic_arn}",
        f"  consumer queue  {resources.queue_url}",
        *(
            [
                f"  actions         {', '.join(actions.queues)}  (receipts from {actions.receipt_sender};"
                " make inspect ARGS=actions)"
            ]
            if actions
            else []
        ),
        "",
        "  send events     make trigger EVENT=payment_intent.succeeded   (or --flow checkout; --list)",
        '  look inside     make inspect   (ARGS="event <evt_id>" or "tail --follow")',
        f"  Stripe CLI      {listen_snapshot(args.port)}"
        "   (start this stack with STRIPE_WEBHOOK_SECRET set to the secret it prints)",
        f"                  {listen_thin(args.port)}   (thin events, in a second terminal)",
        f"                  {listen_v1(args.port)}   (with Stripe CLI v1.x: `stripe version`)",
        f"  Stripe API      {os.environ.get('STRIPE_API_BASE', '-')}   (thin events' fetches;"
        " the local stand-in answers what make trigger --thin invoice.paid sent)",
    ]
    lines += _sam_local_lines(args, aws_hosts)
    if not args.aws_only and not args.no_reload:
        lines.append(
            "  reload          on: saving a file under functions/ reloads the function (--no-reload)"
        )
    lines.append("Press Ctrl-C to stop. One line per request follows.")
    print("\n".join(lines), flush=True)


WILDCARDS = ("0.0.0.0", "::")
"""``--host`` values that listen on every address: no client uses them in a URL."""


def network_address() -> str:
    """This machine's address on its default route, as other machines reach it (a UDP socket
    ``connect`` picks the route and sends nothing); its host name when there is no route."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never reached
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def _inbox_lines(here: str, elsewhere: str | None, port: int, token: str | None) -> list[str]:
    link = f"#token={token}" if token else ""
    lines = [
        f"  console         http://{here}:{port}/{link}   (every request and event, replay; in a browser)"
    ]
    if elsewhere:
        shared = (
            "share this link only with people who may see your events" if token else "from other machines"
        )
        lines.append(f"                  http://{elsewhere}:{port}/{link}   ({shared})")
    elif token:
        lines.append("                  (public: share this link only)")
    return lines


def _sam_local_lines(args: argparse.Namespace, aws_hosts: list[str]) -> list[str]:
    """Where ``sam local`` containers reach the AWS endpoint, and a warning when it is open wider."""
    lines: list[str] = []
    if args.aws_host in ("0.0.0.0", "::", "docker"):
        lines.append(
            f"  sam local       reaches the AWS endpoint as http://host.docker.internal:{args.aws_port}"
            f" (env.json with this port: .sam-local/env.{args.aws_port}.json, which make events and"
            f" make sam-local write); listening on {', '.join(aws_hosts)}"
        )
        if args.aws_host != "docker":
            lines.append(
                f"  warning         the AWS endpoint (the signing secret, every event) listens on "
                f"{args.aws_host}: every machine that reaches this one can read it; "
                "--aws-host docker opens it to containers only"
            )
    return lines
