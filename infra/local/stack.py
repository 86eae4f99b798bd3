"""Run the webhook locally without Docker or an AWS account.

Starts an embedded moto server as the AWS endpoint (DynamoDB, SNS, SQS, S3, SES, Secrets
Manager), creates the table, topic and bucket from template.yaml, subscribes an SQS queue standing
in for a downstream consumer, runs the example actions on their own queues (``action_runners``),
and serves ``POST /webhook`` on 127.0.0.1 as ``sam local start-api`` would (``server.py``; the code
reloaded on save), with the console at ``/`` (its local mode: the requests the webhook answered as
well; the console itself is ``infra.console``'s, handed in by ``__main__`` as ``console``). Its
addresses go to ``.local-stack.json`` for the tools.

    python -m infra.local [--port 3000] [--aws-port 5000]       (make run)
    stripe listen --all-snapshot --latest --forward-to localhost:3000/webhook   # STRIPE_WEBHOOK_SECRET set
    stripe listen --all-thin --forward-to localhost:3000/webhook/thin          # thin events
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infra import FUNCTIONS_DIR
from infra.cli import Problem, ctrl_c_ignored, wait_for_ctrl_c
from infra.local import persist
from infra.local.action_runners import ActionRunner, build_actions, print_outcome
from infra.local.banner import print_banner
from infra.local.connect import REGION, SECRET_NAME, client, queries
from infra.local.guard import HostPolicy
from infra.local.inbox import Inbox
from infra.local.inbox_api import InboxApi, deliver_over_http
from infra.local.message_tap import MessageTap
from infra.local.moto_server import LocalAws, start_aws
from infra.local.options import check_ports, parse_args, resolve_secret
from infra.local.page_http import PageRules, Respond
from infra.local.reconcile_timer import LOCAL_SETTINGS, ReconcileTimer, start_reconciler
from infra.local.reload import Reloader
from infra.local.resources import ActionResources, LocalResources, create_resources, subscribe_queue
from infra.local.saving import PersistedRun, targets_of
from infra.local.server import WEBHOOK_PATH, Front, LocalHTTPServer
from infra.local.state import StackState, claim_state, hold_saved, remove_state, write_state
from infra.local.stripe_standin import LocalStripeApi, latest_object, use_stripe_standin
from infra.local.views import count, print_tracebacks_readably, record_line

if TYPE_CHECKING:
    from stripe_actions.outcomes import ActionOutcome
    from stripe_webhook.adapters.queries import TableQueries


ConsoleFactory = Callable[[str, InboxApi, str], Respond]
"""(AWS endpoint, the requests' API, the webhook's URL) → the console's answers, in its local mode."""

INBOX_QUEUE_NAME = "stripe-webhooks-inbox"
"""The inbox's own queue on the topic (raw delivery, no filter): what a consumer queue receives."""


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
            **LOCAL_SETTINGS,
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


def stored_records(table: TableQueries, body: bytes) -> list[str]:
    """What the function stored for this request's object, one line (for --verbose)."""
    try:
        object_id = json.loads(body)["data"]["object"]["id"]
    except (ValueError, KeyError, TypeError):
        return []
    record = table.get_record(object_id) if isinstance(object_id, str) else None
    return [f"    record {record_line(object_id, record)}"] if record else []


@dataclass
class Services:
    """What a running stack started, stopped in reverse order (``--persist`` saves first)."""

    endpoint: str
    local_aws: LocalAws
    server: LocalHTTPServer | None = None
    resources: LocalResources | None = None
    inbox: Inbox | None = None
    actions: ActionResources | None = None
    runners: list[ActionRunner] = field(default_factory=list)
    stripe_api: LocalStripeApi | None = None
    reconciler: ReconcileTimer | None = None
    reloader: Reloader | None = None
    persisted: PersistedRun | None = None

    def aws_client(self, service: str) -> Any:
        return client(service, self.endpoint)

    def start(
        self, args: argparse.Namespace, secret: str, inbox_token: str | None, console: ConsoleFactory | None
    ) -> str:
        """Create the resources, put back what ``--persist`` saved, then start the Stripe API
        stand-in and the HTTP front (unless switched off); the secret's ARN. What works on its
        own (the actions, the reconciler) starts after the banner (``start_workers``), so it
        never reads a queue before its saved messages are back."""
        endpoint = self.endpoint
        self.resources, secret_arn = provision(endpoint, secret)
        if not args.aws_only:
            latest = latest_object(queries(endpoint, self.resources.table_name))
            self.stripe_api = LocalStripeApi(client("s3", endpoint), args.stripe_port, latest=latest).start()
            use_stripe_standin(self.stripe_api.base_url)
            self.inbox = Inbox(args.inbox_size)
        if not args.no_actions:
            self.actions, self.runners = build_actions(
                endpoint, self.resources, report=functools.partial(report_outcome, self.inbox)
            )
        if args.persist:
            targets = targets_of(self.resources, self.actions)
            self.persisted = PersistedRun(self.local_aws, self.aws_client, targets, self.inbox, say)
            self.persisted.restore()
        if self.inbox is not None and console is not None:
            self.server, self.reloader = serve_webhook(
                args,
                endpoint,
                self.resources,
                secret,
                self.runners,
                inbox=self.inbox,
                inbox_token=inbox_token,
                console=console,
                stripe_api=self.stripe_api,
            )
        return secret_arn

    def start_workers(self, args: argparse.Namespace) -> None:
        """The example actions and the reconciler's timer, once the stack is ready."""
        for runner in self.runners:
            runner.start()
        if self.reloader is not None and self.inbox is not None and args.reconcile_every > 0:
            assert self.resources is not None  # started
            table = queries(self.endpoint, self.resources.table_name)
            self.reconciler = start_reconciler(
                self.reloader.reconcile, self.inbox, table, args.reconcile_every
            )

    def stop(self, args: argparse.Namespace) -> None:
        """Take no new delivery, finish those in flight, then stop and save (``stopping``); the
        tools find the stack until it is gone."""
        if self.server is not None and (running := self.server.deliveries.stop()):
            say(f"{count(running, 'delivery')} still running after 30 s: not in the save")
        if self.reconciler is not None:
            self.reconciler.stop()
        for runner in self.runners:
            runner.stop()
        if self.persisted is not None:
            self.persisted.save()
        if self.inbox is not None:
            self.inbox.live.close()  # ends the pages' live streams
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.stripe_api is not None:
            self.stripe_api.stop()
        remove_state(os.getpid())


def main(argv: list[str] | None = None, *, console: ConsoleFactory | None = None) -> int:
    """The stack, serving ``console`` at ``/`` (``__main__`` hands in ``infra.console``'s)."""
    args = parse_args(argv)
    if console is None and not args.aws_only:
        raise Problem("the stack serves the console: run it as python -m infra.local (make run)")
    claim_state(f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}")  # held until this process ends
    if args.persist:
        hold_saved(persist.state_dir())
    aws_hosts, aws_names = check_ports(args)
    secret, from_env = resolve_secret(persist.state_dir() if args.persist else None)

    reachable_host = "127.0.0.1" if args.aws_host in ("0.0.0.0", "::", "docker") else args.aws_host
    endpoint = f"http://{reachable_host}:{args.aws_port}"
    aws = start_aws(aws_hosts, args.aws_port, HostPolicy.of(args.aws_port, [*aws_names, *args.allow_host]))
    inbox_token = secrets.token_urlsafe(18) if args.inbox_public else None
    running, interrupted = Services(endpoint, aws), False
    try:
        configure_environment(endpoint, secret, args.verbose)
        secret_arn = running.start(args, secret, inbox_token, console)
        webhook_url = None if args.aws_only else f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}"
        stand_in = running.stripe_api.base_url if running.stripe_api else None
        every = args.reconcile_every if running.reloader else 0
        write_state(StackState(os.getpid(), webhook_url, endpoint, SECRET_NAME, stand_in, every))
        assert running.resources is not None  # started
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
        running.start_workers(args)
        wait_for_ctrl_c()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        with ctrl_c_ignored("saving what this run answered" if args.persist else "stopping"):
            if interrupted:
                say("\nstopping: a new delivery gets a 503 (sent again later); finishing those in flight")
            running.stop(args)
            aws.stop()
    return 0


def say(line: str) -> None:
    print(line, flush=True)


def report_outcome(inbox: Inbox | None, outcome: ActionOutcome) -> None:
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
    console: ConsoleFactory,
    stripe_api: LocalStripeApi | None = None,
) -> tuple[LocalHTTPServer, Reloader]:
    """The HTTP front: the function (reloaded on save, the actions with it), and the console with
    the inbox's own queue on the topic; and the reloader, whose code the reconciler's timer runs too."""
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
    rules = PageRules(
        HostPolicy.of(args.port, args.allow_host),
        token=inbox_token,
        remote=args.inbox_public,
        live=inbox.live,
    )
    front = Front(
        reloader.invoke,
        show,
        inbox=inbox,
        page=console(endpoint, api, f"http://127.0.0.1:{args.port}{WEBHOOK_PATH}"),
        rules=rules,
        any_host=args.host not in ("127.0.0.1", "localhost", "::1"),
    )
    server = LocalHTTPServer((args.host, args.port), front)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, reloader
