"""Run the webhook locally without Docker or an AWS account.

Starts an embedded moto server as the AWS endpoint (DynamoDB, SNS, SQS, S3, SES,
Secrets Manager), creates the table, topic and bucket from template.yaml, subscribes
an SQS queue standing in for a downstream consumer, runs the consumer kit's example actions on
their own queues (``infra.local.action_runners``; ``--no-actions``), and serves ``POST /webhook``
on 127.0.0.1, turning each request into the API Gateway proxy event
``sam local start-api`` would send to the real handler (reloaded when a file under
``functions/`` changes), with the inbox at ``/``. Its addresses go to
``.local-stack.json`` for the other tools.

    python -m infra.local [--port 3000] [--aws-port 5000]       (make run)
    stripe listen --all-snapshot --latest --forward-to localhost:3000/webhook   # STRIPE_WEBHOOK_SECRET set
    stripe listen --all-thin --forward-to localhost:3000/webhook/thin          # thin events
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import secrets
import socket
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import FUNCTIONS_DIR
from infra.cli import Problem, exit_with
from infra.fixtures.signing import generate_secret
from infra.local import persist
from infra.local.action_runners import ActionRunner, print_outcome, start_actions
from infra.local.connect import REGION, SECRET_NAME, client, queries
from infra.local.guard import DOCKER_HOST_NAME, HostPolicy
from infra.local.inbox import DEFAULT_SIZE, Inbox, MessageTap
from infra.local.inbox_api import InboxApi, deliver_over_http
from infra.local.moto_server import docker_bridge_address, start_aws
from infra.local.reload import Reloader
from infra.local.resources import ActionResources, LocalResources, create_resources, subscribe_queue
from infra.local.server import WEBHOOK_PATH, Front, LocalHTTPServer
from infra.local.state import StackState, remove_state, write_state
from infra.local.stripe_cli import listen_snapshot, listen_thin
from infra.local.stripe_standin import API_KEY as STRIPE_STANDIN_KEY
from infra.local.stripe_standin import DEFAULT_PORT as STRIPE_STANDIN_PORT
from infra.local.stripe_standin import LocalStripeApi, latest_object
from infra.local.views import record_line

if TYPE_CHECKING:
    from stripe_actions.consumer import Outcome
    from stripe_webhook.queries import TableQueries


ENV_JSON_AWS_PORT = 5000
"""The AWS endpoint port env.json gives ``sam local`` (a test keeps the two equal)."""
INBOX_QUEUE_NAME = "stripe-webhooks-inbox"
"""The inbox's own queue on the topic (raw delivery, no filter): what a consumer queue receives."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description=(
            "Run the Stripe webhook function locally: moto as the AWS endpoint, the table and topic "
            "from template.yaml, an SQS consumer queue, and POST /webhook on an HTTP port. "
            "Uses STRIPE_WEBHOOK_SECRET when set (e.g. the secret `stripe listen` prints), "
            "else generates one."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="webhook HTTP port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=5000, help="local AWS endpoint port (default 5000)")
    parser.add_argument(
        "--stripe-port",
        type=int,
        default=STRIPE_STANDIN_PORT,
        help="the local Stripe API stand-in's port, which answers thin events' fetches with what "
        f"make trigger --thin sent (default {STRIPE_STANDIN_PORT}; loopback only)",
    )
    parser.add_argument(
        "--aws-host",
        default="127.0.0.1",
        help="address the local AWS endpoint listens on (default 127.0.0.1); 'docker': loopback and "
        "Docker's bridge (docker0) only, so that `sam local` containers reach it as "
        "host.docker.internal and nothing else on the network does",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name the inbox and the local AWS endpoint answer besides 127.0.0.1, localhost "
        "and [::1] (repeatable; e.g. a name your /etc/hosts gives this machine)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print the stored record and the function's own logs"
    )
    parser.add_argument(
        "--inbox-size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"requests the inbox keeps, the oldest dropped first (default {DEFAULT_SIZE})",
    )
    parser.add_argument(
        "--inbox-public",
        action="store_true",
        help="let other machines open the inbox too (with --host 0.0.0.0); it shows bodies and can "
        "replay, so its JSON then needs the random token in the link the banner prints",
    )
    parser.add_argument(
        "--no-reload",
        action="store_true",
        help="do not reload the function's code when a file under functions/ changes",
    )
    parser.add_argument(
        "--persist",
        action="store_true",
        help="keep the table, bucket, consumer queue and inbox across restarts (.local-stack/; make reset)",
    )
    parser.add_argument(
        "--no-actions",
        action="store_true",
        help="do not run the consumer kit's example actions (fulfil_order, entitlement, dispute_alert)",
    )
    parser.add_argument("--functions-dir", type=Path, help=argparse.SUPPRESS)  # tests: a copy to edit
    parser.add_argument(
        "--aws-only",
        action="store_true",
        help="only the AWS side (for `sam local start-api`, which serves the webhook itself)",
    )
    return parser.parse_args(argv)


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


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise Problem(
                f"cannot use {host}:{port} for the {what}: {error.strerror}. "
                f"Stop whatever is using it, or pick another port with {option}."
            ) from None


def resolve_secret() -> tuple[str, bool]:
    """The signing secret(s) to use, and whether they came from the environment."""
    from stripe_webhook.errors import ConfigurationError
    from stripe_webhook.settings import parse_secrets

    value = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
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


def use_stripe_standin(base_url: str) -> bool:
    """Send the function's Stripe API reads to the local stand-in, unless you set your own
    (``STRIPE_API_BASE``/``STRIPE_API_KEY``: a test-mode key fetches from your account instead)."""
    if os.environ.get("STRIPE_API_BASE") or os.environ.get("STRIPE_API_KEY"):
        return False
    os.environ.update({"STRIPE_API_BASE": base_url, "STRIPE_API_KEY": STRIPE_STANDIN_KEY})
    return True


def configure_environment(endpoint: str, secret: str, verbose: bool) -> None:
    """Point every AWS client in this process at the local endpoint, with throwaway credentials."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "STRIPE_WEBHOOK_SECRET": secret,
            # a second `stripe listen --all-thin` (to …/webhook/thin) signs with the same secret
            "STRIPE_THIN_WEBHOOK_SECRET": os.environ.get("STRIPE_THIN_WEBHOOK_SECRET") or secret,
            "POWERTOOLS_SERVICE_NAME": "stripe-webhooks-local",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "ERROR",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)


def provision(endpoint: str, secret: str) -> tuple[LocalResources, str]:
    resources = create_resources(
        client("dynamodb", endpoint),
        client("sns", endpoint),
        client("sqs", endpoint),
        s3=client("s3", endpoint),
    )
    secret_arn = client("secretsmanager", endpoint).create_secret(Name=SECRET_NAME, SecretString=secret)[
        "ARN"
    ]
    os.environ["TABLE_NAME"] = resources.table_name
    os.environ["TOPIC_ARN"] = resources.topic_arn
    os.environ["PAYLOAD_BUCKET"] = resources.bucket or ""
    return resources, str(secret_arn)


def print_tracebacks_readably(verbose: bool) -> None:
    """A failure with a traceback (a handler's bug) prints it as Python does, to the console,
    instead of one escaped JSON line; the function's JSON logs stay for ``--verbose``."""
    from stripe_webhook.observability import logger

    class Readable(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[0] is not None:
                code = getattr(record, "error", "")
                event = getattr(record, "event_id", "")
                print(f"-- {record.getMessage()} [{code}] {event}: traceback", file=sys.stderr, flush=True)
                traceback.print_exception(*record.exc_info)

    if not verbose:
        logger.registered_handler.setLevel(logging.CRITICAL)
    logger.addHandler(Readable(logging.ERROR))


def stored_records(table: TableQueries, body: bytes) -> list[str]:
    """What the function stored for this request's object, one line (for --verbose)."""
    try:
        object_id = json.loads(body)["data"]["object"]["id"]
    except (ValueError, KeyError, TypeError):
        return []
    record = table.get_record(object_id) if isinstance(object_id, str) else None
    return [f"    record {record_line(object_id, record)}"] if record else []


def check_ports(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Every port the stack needs is free; where the AWS endpoint listens (``aws_addresses``)."""
    if not args.aws_only:
        check_port_free(args.host, args.port, "webhook", "--port")
        check_port_free("127.0.0.1", args.stripe_port, "local Stripe API stand-in", "--stripe-port")
    aws_hosts, aws_names = aws_addresses(args.aws_host)
    for host in aws_hosts:
        check_port_free(host, args.aws_port, "local AWS endpoint", "--aws-port")
    return aws_hosts, aws_names


@dataclass
class Services:
    """What a running stack started, stopped in reverse order (``--persist`` saves first)."""

    endpoint: str
    server: LocalHTTPServer | None = None
    resources: LocalResources | None = None
    inbox: Inbox | None = None
    actions: ActionResources | None = None
    runners: list[ActionRunner] = field(default_factory=list)
    stripe_api: LocalStripeApi | None = None

    def aws_client(self, service: str) -> Any:
        return client(service, self.endpoint)

    def stop(self, args: argparse.Namespace) -> None:
        remove_state(os.getpid())
        for runner in self.runners:
            runner.stop()
        if args.persist and self.resources is not None:
            tables = persisted_tables(self.actions)
            saved = persist.save(persist.state_dir(), self.aws_client, self.resources, self.inbox, tables)
            print(
                f"saved {saved} items, objects, messages and requests for the next --persist run", flush=True
            )
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.stripe_api is not None:
            self.stripe_api.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    aws_hosts, aws_names = check_ports(args)
    secret, from_env = resolve_secret()

    reachable_host = "127.0.0.1" if args.aws_host in ("0.0.0.0", "::", "docker") else args.aws_host
    endpoint = f"http://{reachable_host}:{args.aws_port}"
    aws = start_aws(aws_hosts, args.aws_port, HostPolicy.of(args.aws_port, [*aws_names, *args.allow_host]))
    inbox_token = secrets.token_urlsafe(18) if args.inbox_public else None
    running = Services(endpoint)
    try:
        configure_environment(endpoint, secret, args.verbose)
        running.resources, secret_arn = provision(endpoint, secret)
        if not args.aws_only:
            latest = latest_object(queries(endpoint, running.resources.table_name))
            running.stripe_api = LocalStripeApi(
                client("s3", endpoint), args.stripe_port, latest=latest
            ).start()
            use_stripe_standin(running.stripe_api.base_url)
            running.inbox = Inbox(args.inbox_size)
        if not args.no_actions:
            running.actions, running.runners = start_actions(
                endpoint, running.resources, report=functools.partial(report_outcome, running.inbox)
            )
        if running.inbox is not None:
            running.server = serve_webhook(
                args,
                endpoint,
                running.resources,
                secret,
                running.runners,
                inbox=running.inbox,
                inbox_token=inbox_token,
                stripe_api=running.stripe_api,
            )
        if args.persist:
            tables = persisted_tables(running.actions)
            restored = persist.restore(
                persist.state_dir(), running.aws_client, running.resources, running.inbox, tables
            )
            print(
                f"restored {restored} saved items, objects, messages and requests (.local-stack/)", flush=True
            )
        webhook_url = None if args.aws_only else f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}"
        write_state(StackState(os.getpid(), webhook_url, endpoint, SECRET_NAME))
        print_banner(
            args=args,
            endpoint=endpoint,
            secret=secret,
            from_env=from_env,
            resources=running.resources,
            secret_arn=secret_arn,
            actions=running.actions,
            aws_hosts=aws_hosts,
            inbox_token=inbox_token,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        running.stop(args)
        aws.stop()
    return 0


def persisted_tables(actions: ActionResources | None) -> tuple[str, ...]:
    """The tables ``--persist`` keeps besides the events table: what the actions did and wrote."""
    return (actions.idempotency_table, actions.actions_table) if actions else ()


def report_outcome(inbox: Inbox | None, outcome: Outcome) -> None:
    """An action's outcome: its console line, and beside its event in the inbox."""
    print_outcome(outcome)
    if inbox is not None:
        inbox.record_outcome(outcome)


def serve_webhook(
    args: argparse.Namespace,
    endpoint: str,
    resources: LocalResources,
    secret: str,
    runners: list[ActionRunner],
    *,
    inbox: Inbox,
    inbox_token: str | None,
    stripe_api: LocalStripeApi | None = None,
) -> LocalHTTPServer:
    """The HTTP front: the function (reloaded on save, the actions with it), and the inbox with its
    own queue on the topic."""
    if args.functions_dir is not None:
        sys.path.insert(0, str(args.functions_dir))

    def reload_actions() -> None:
        for runner in runners:
            runner.reload()

    reloader = Reloader(args.functions_dir or FUNCTIONS_DIR, on_reload=reload_actions)
    if not args.no_reload:
        reloader.start()
    print_tracebacks_readably(args.verbose)
    table = queries(endpoint, resources.table_name)
    show = (lambda body: stored_records(table, body)) if args.verbose else None
    sqs = client("sqs", endpoint)
    tap_queue = subscribe_queue(client("sns", endpoint), sqs, resources.topic_arn, INBOX_QUEUE_NAME)
    api = InboxApi(
        inbox,
        table,
        sqs,
        resources.queue_url,
        secret=lambda: secret.split(",", maxsplit=1)[0],
        deliver=deliver_over_http(f"http://127.0.0.1:{args.port}"),
        tap=MessageTap(sqs, tap_queue, args.inbox_size).start(),
        stripe_api=stripe_api,
    )
    front = Front(
        reloader.invoke,
        show,
        api=api,
        policy=HostPolicy.of(args.port, args.allow_host),
        allow_remote_inbox=args.inbox_public,
        token=inbox_token,
        any_host=args.host not in ("127.0.0.1", "localhost", "::1"),
    )
    server = LocalHTTPServer((args.host, args.port), front)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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
    webhook = (
        "served by `sam local start-api`"
        if args.aws_only
        else f"http://{args.host}:{args.port}{WEBHOOK_PATH}"
    )
    lines = [
        "Stripe webhook local stack is running",
        *(
            []
            if args.aws_only
            else [
                f"  inbox           http://127.0.0.1:{args.port}/"
                + (f"#token={inbox_token}   (public: share this link only)" if inbox_token else "")
                + "   (every request, replay; in a browser)"
            ]
        ),
        f"  webhook URL     {webhook}",
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
        f"  Stripe API      {os.environ.get('STRIPE_API_BASE', '-')}   (thin events' fetches;"
        " the local stand-in answers what make trigger --thin invoice.paid sent)",
    ]
    if args.aws_host in ("0.0.0.0", "::", "docker"):
        lines.append(
            f"  sam local       reaches the AWS endpoint as http://host.docker.internal:{args.aws_port}"
            f" (see env.json); listening on {', '.join(aws_hosts)}"
        )
        if args.aws_host != "docker":
            lines.append(
                f"  warning         the AWS endpoint (the signing secret, every event) listens on "
                f"{args.aws_host}: every machine that reaches this one can read it; "
                "--aws-host docker opens it to containers only"
            )
        if args.aws_port != ENV_JSON_AWS_PORT:
            lines.append(
                f"  note            env.json points sam local at port {ENV_JSON_AWS_PORT}: set its "
                f"AWS_ENDPOINT_URL to http://host.docker.internal:{args.aws_port}"
            )
    if not args.aws_only and not args.no_reload:
        lines.append(
            "  reload          on: saving a file under functions/ reloads the function (--no-reload)"
        )
    lines.append("Press Ctrl-C to stop. One line per request follows.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    exit_with(main)
