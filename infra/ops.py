"""Operator commands for a deployed stack: register, rotate-secret, backfill, redrive, status.

    python -m infra.ops register      --stack stripe-webhooks-prod
    python -m infra.ops rotate-secret --stack …            # start the overlap; later: --finish
    python -m infra.ops backfill      --stack … --since 2026-11-01 [--all] [--resume]
    python -m infra.ops redrive       --stack … --type invoice.paid --since 2026-11-01 [--queue-url …]
    python -m infra.ops status        --stack …

Stripe calls use the ``stripe`` library with the key in ``STRIPE_API_KEY`` (never a command-line
argument); AWS calls use your usual AWS credentials. Every command that writes has ``--dry-run``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from infra import REPO_ROOT

STRIPE_API_VERSION = "2024-06-20"
"""The API version endpoints are created with: the payload shape the handlers and tests are written for."""
MANAGED_BY = "stripe-webhooks-aws"
STATE_DIR = REPO_ROOT / ".backfill"
EVENTS_API_WINDOW_DAYS = 30


class OpsError(Exception):
    """Something the operator can fix; printed without a traceback."""


# --- Where things are ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    name: str
    webhook_url: str
    table_name: str
    topic_arn: str
    secret_arn: str


def default_stack_name() -> str:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    return str(config["default"]["global"]["parameters"]["stack_name"])


def load_stack(cloudformation: Any, name: str) -> Stack:
    """The deployed stack's outputs (WebhookUrl, TableName, TopicArn, SecretArn)."""
    from botocore.exceptions import ClientError

    try:
        (description,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise OpsError(f"cannot read stack {name!r}: {error.response['Error']['Message']}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    missing = [key for key in ("WebhookUrl", "TableName", "TopicArn", "SecretArn") if key not in outputs]
    if missing:
        raise OpsError(f"stack {name!r} has no output {', '.join(missing)}: is it this project's stack?")
    return Stack(name, outputs["WebhookUrl"], outputs["TableName"], outputs["TopicArn"], outputs["SecretArn"])


@dataclass
class Context:
    """Everything a command talks to; tests build one with fakes."""

    stack: Stack
    aws: Callable[[str], Any]
    stripe: Any = None
    out: TextIO = sys.stdout
    dry_run: bool = False

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def stripe_client(http_client: Any = None) -> Any:
    import stripe

    api_key = os.environ.get("STRIPE_API_KEY", "")
    if not api_key.startswith(("sk_", "rk_")):
        raise OpsError(
            "set STRIPE_API_KEY to a Stripe secret or restricted key (sk_… or rk_…) with write access "
            "to webhook endpoints and read access to events"
        )
    return stripe.StripeClient(api_key, http_client=http_client, stripe_version=STRIPE_API_VERSION)


def handled_event_types() -> list[str]:
    """What the endpoint subscribes to: the router's registry, not a second hand-kept list."""
    import stripe_webhook.handlers  # noqa: F401  (registers every handler)
    from stripe_webhook.routing import registry

    patterns = registry.patterns()
    assert all(not pattern.endswith("*") for pattern in patterns), "Stripe needs explicit event types"
    return patterns


# --- Secrets Manager -----------------------------------------------------------------------------


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


# --- Stripe endpoints ----------------------------------------------------------------------------


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


def register(ctx: Context, connect: bool) -> int:
    events = handled_event_types()
    existing = endpoints_for(ctx)
    if len(existing) > 1:
        raise OpsError(
            "two endpoints point at this stack: a secret rotation is in progress (rotate-secret --finish)"
        )
    if existing:
        endpoint = existing[0]
        added = sorted(set(events) - set(endpoint.enabled_events))
        removed = sorted(set(endpoint.enabled_events) - set(events))
        ctx.say(f"endpoint {endpoint.id} already delivers to {ctx.stack.webhook_url}")
        ctx.say(f"  event types: {len(events)} ({len(added)} to add, {len(removed)} to remove)")
        if ctx.dry_run:
            ctx.say("dry run: nothing changed")
            return 0
        ctx.stripe.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": events})
        ctx.say("updated; its signing secret is unchanged")
        if not read_secrets(ctx):
            ctx.say("warning: the stack's secret holds no whsec_ value; run rotate-secret to set a fresh one")
        return 0
    ctx.say(f"no endpoint delivers to {ctx.stack.webhook_url} yet: creating one")
    ctx.say(f"  {len(events)} event types, API version {STRIPE_API_VERSION}, connect={connect}")
    if ctx.dry_run:
        ctx.say("dry run: nothing created")
        return 0
    endpoint = create_endpoint(ctx, events, STRIPE_API_VERSION, connect=connect)
    write_secrets(ctx, [endpoint.secret])
    ctx.say(f"created {endpoint.id}; its signing secret is stored in {ctx.stack.secret_arn}")
    return 0


def rotate_secret(ctx: Context, finish: bool) -> int:
    """Zero-downtime rotation through a second endpoint; its duplicate deliveries are deduplicated."""
    endpoints = endpoints_for(ctx)
    current = read_secrets(ctx)
    if not finish:
        if len(endpoints) != 1:
            raise OpsError(
                "expected exactly one endpoint for this stack "
                f"(found {len(endpoints)}; run register first, or rotate-secret --finish)"
            )
        (old,) = endpoints
        ctx.say(f"creating a second endpoint beside {old.id}; both deliver every event during the overlap")
        if ctx.dry_run:
            ctx.say("dry run: nothing changed")
            return 0
        new = create_endpoint(
            ctx, list(old.enabled_events), old.api_version or STRIPE_API_VERSION, rotated_from=old.id
        )
        write_secrets(ctx, [*current, new.secret])
        ctx.say(f"created {new.id}; the stack's secret now holds {len(current) + 1} values (old and new)")
        ctx.say("duplicates from the two endpoints are processed once (same event ids)")
        ctx.say("when the new endpoint is delivering (Dashboard, or `status`), run: rotate-secret --finish")
        return 0
    if len(endpoints) != 2 or len(current) < 2:
        raise OpsError("no rotation in progress (expected two endpoints and two secret values)")
    old, new = endpoints
    ctx.say(f"deleting the old endpoint {old.id} and its secret; keeping {new.id}")
    if ctx.dry_run:
        ctx.say("dry run: nothing changed")
        return 0
    write_secrets(ctx, [current[-1]])  # the newest value first leaves the old endpoint's retries failing
    ctx.stripe.v1.webhook_endpoints.delete(old.id)
    ctx.say("rotation finished: one endpoint, one secret")
    return 0


# --- Backfill ------------------------------------------------------------------------------------


class Progress:
    """A one-line progress display on a terminal, a line every ``every`` items otherwise."""

    def __init__(self, label: str, out: TextIO, every: int = 100) -> None:
        self.label = label
        self.out = out
        self.counts: Counter[str] = Counter()
        self.every = every
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._tty = out.isatty()

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1
        total = sum(self.counts.values())
        now = time.monotonic()
        if (self._tty and now - self._last_draw > 0.2) or (not self._tty and total % self.every == 0):
            self._draw(end="\r" if self._tty else "\n")
            self._last_draw = now

    def done(self) -> None:
        self._draw(end="\n")

    def _draw(self, end: str) -> None:
        total = sum(self.counts.values())
        rate = total / max(time.monotonic() - self.started, 1e-6)
        parts = "  ".join(f"{name} {count:,}" for name, count in sorted(self.counts.items()))
        print(f"{self.label}: {total:,} events  {parts}  ({rate:,.0f}/s)", end=end, file=self.out, flush=True)


@dataclass
class BackfillState:
    """What a resumable backfill has done so far (``.backfill/<stack>.json``)."""

    since: int
    until: int
    undelivered_only: bool
    last_event_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @staticmethod
    def path(stack: str) -> Path:
        return STATE_DIR / f"{stack}.json"

    def save(self, stack: str) -> None:
        STATE_DIR.mkdir(exist_ok=True)
        self.path(stack).write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, stack: str) -> BackfillState:
        try:
            return cls(**json.loads(cls.path(stack).read_text()))
        except FileNotFoundError:
            raise OpsError(f"nothing to resume: no {cls.path(stack)}") from None


def parse_time(value: str) -> int:
    """``2026-11-01``, ``2026-11-01T12:00:00Z``, a unix time, or ``48h``/``7d`` ago."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    if value[-1:] in ("h", "d") and value[:-1].isdigit():
        return int(time.time()) - int(value[:-1]) * (3600 if value[-1] == "h" else 86_400)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date, a time, a unix time or e.g. 48h / 7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def make_pipeline(ctx: Context) -> Any:
    import stripe_webhook.handlers  # noqa: F401
    from stripe_webhook.pipeline import Pipeline
    from stripe_webhook.publisher import SnsPublisher
    from stripe_webhook.routing import registry
    from stripe_webhook.store import DynamoStore

    store = DynamoStore(
        ctx.stack.table_name, lease_seconds=60, retention_seconds=90 * 86_400, client=ctx.aws("dynamodb")
    )
    return Pipeline(registry, store, SnsPublisher(ctx.stack.topic_arn, client=ctx.aws("sns")))


def stripe_events(ctx: Context, state: BackfillState) -> Iterator[Any]:
    params: dict[str, Any] = {"limit": 100, "created": {"gte": state.since, "lte": state.until}}
    if state.undelivered_only:
        params["delivery_success"] = False
    if state.last_event_id:
        params["starting_after"] = state.last_event_id
    yield from ctx.stripe.v1.events.list(params=params).auto_paging_iter()


def backfill(ctx: Context, state: BackfillState) -> int:
    """Feed Stripe's Events API through the same pipeline as the webhook: duplicates skip themselves."""
    from stripe_webhook.errors import WebhookError
    from stripe_webhook.events import parse_event
    from stripe_webhook.store import event_key

    oldest = int(time.time()) - EVENTS_API_WINDOW_DAYS * 86_400
    if state.since < oldest:
        ctx.say(
            f"note: Stripe keeps events for {EVENTS_API_WINDOW_DAYS} days; older ones cannot be recovered"
        )
    which = "undelivered" if state.undelivered_only else "all"
    window = f"{_day(state.since)} .. {_day(state.until)}"
    ctx.say(f"backfilling {which} events created {window} into {ctx.stack.table_name}")
    pipeline = None if ctx.dry_run else make_pipeline(ctx)
    dynamodb = ctx.aws("dynamodb")
    progress = Progress("dry run" if ctx.dry_run else "backfill", ctx.out)
    progress.counts.update(state.counts)
    retry, state.failed = list(state.failed), []
    if retry:
        progress.counts["failed"] -= len(retry)
        ctx.say(f"retrying {len(retry)} event(s) that failed last time")
    retried = (ctx.stripe.v1.events.retrieve(event_id) for event_id in retry)
    for event in itertools.chain(retried, stripe_events(ctx, state)):
        raw = json.dumps(event.to_dict(), separators=(",", ":")).encode("utf-8")
        if pipeline is None:
            stored = "Item" in dynamodb.get_item(TableName=ctx.stack.table_name, Key=event_key(event.id))
            outcome = "stored" if stored else "missing"
        else:
            try:
                outcome = "new" if pipeline.process(parse_event(raw)).status == "processed" else "duplicate"
            except WebhookError as error:
                outcome = "failed"
                state.failed.append(event.id)
                ctx.say(f"\nfailed {event.id} ({event.type}): {error.code}")
        progress.add(outcome)
        if not ctx.dry_run:
            if event.id not in retry:
                state.last_event_id = event.id
            state.counts = dict(progress.counts)
            state.save(ctx.stack.name)
    progress.done()
    if state.failed:
        ctx.say(f"{len(state.failed)} failed; fix the cause and run: backfill --resume (they are retried)")
        return 1
    return 0


def _day(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- Redrive -------------------------------------------------------------------------------------


def redrive(ctx: Context, event_types: Iterable[str], since: int, until: int, queue_url: str | None) -> int:
    """Republish stored events (from the by-type index) to the topic, or to one consumer's queue."""
    from infra.queries import events_by_type
    from stripe_webhook.events import parse_event
    from stripe_webhook.publisher import SnsPublisher, message_attributes, message_body
    from stripe_webhook.store import DynamoStore

    dynamodb = ctx.aws("dynamodb")
    store = DynamoStore(ctx.stack.table_name, lease_seconds=60, retention_seconds=60, client=dynamodb)
    target = queue_url or ctx.stack.topic_arn
    ctx.say(f"redriving {', '.join(event_types)} from {_day(since)} .. {_day(until)} to {target}")
    publisher = SnsPublisher(ctx.stack.topic_arn, client=ctx.aws("sns"))
    sqs = ctx.aws("sqs") if queue_url else None
    progress = Progress("dry run" if ctx.dry_run else "redrive", ctx.out)
    for event_type in event_types:
        for entry in events_by_type(dynamodb, ctx.stack.table_name, event_type, since, until):
            stored = store.get_event(entry["event_id"])
            if stored is None or "payload" not in stored:
                progress.add("no payload")
                continue
            if ctx.dry_run:
                progress.add("would send")
                continue
            event = parse_event(stored["payload"].encode("utf-8"))
            extra = {"redrive": "true"}
            if sqs is None:
                publisher.publish(event, extra_attributes=extra)
            else:
                attributes = message_attributes(event, extra)
                sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=message_body(event, attributes),
                    MessageAttributes=attributes,
                )
            progress.add("sent")
    progress.done()
    return 0


# --- Status --------------------------------------------------------------------------------------


def status(ctx: Context, hours: int) -> int:
    from infra.queries import events_by_type

    dynamodb = ctx.aws("dynamodb")
    since = int(time.time()) - hours * 3600
    counts: Counter[str] = Counter()
    last = 0
    for event_type in handled_event_types():
        found = events_by_type(dynamodb, ctx.stack.table_name, event_type, since)
        counts[event_type] = len(found)
        last = max([last, *(int(entry.get("created", 0)) for entry in found)])
    ctx.say(f"stack {ctx.stack.name}  ({ctx.stack.webhook_url})")
    ctx.say(f"events in the last {hours} h (handled types): {sum(counts.values()):,}")
    for event_type, count in counts.most_common():
        if count:
            ctx.say(f"  {count:>8,}  {event_type}")
    ctx.say(f"last event: {_day(last) if last else 'none in this window'}")
    for name, value in metric_sums(
        ctx, ["ProcessingFailures", "SignatureFailures", "EventsProcessed"], hours
    ).items():
        ctx.say(f"{name} (last {hours} h): {value:,.0f}")
    for name, state in alarm_states(ctx).items():
        ctx.say(f"alarm {name}: {state}")
    return 0


def metric_sums(ctx: Context, names: list[str], hours: int) -> dict[str, float]:
    from stripe_webhook.app import METRICS_NAMESPACE

    cloudwatch = ctx.aws("cloudwatch")
    end = dt.datetime.now(dt.UTC)
    sums = {}
    for name in names:
        points = cloudwatch.get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": ctx.stack.name}],
            StartTime=end - dt.timedelta(hours=hours),
            EndTime=end,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        sums[name] = sum(point["Sum"] for point in points)
    return sums


def alarm_states(ctx: Context) -> dict[str, str]:
    resources = ctx.aws("cloudformation").describe_stack_resources(StackName=ctx.stack.name)["StackResources"]
    alarms = {
        resource["PhysicalResourceId"]: resource["LogicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::CloudWatch::Alarm"
    }
    if not alarms:
        return {}
    described = ctx.aws("cloudwatch").describe_alarms(AlarmNames=list(alarms))["MetricAlarms"]
    return {alarms[alarm["AlarmName"]]: alarm["StateValue"] for alarm in described}


# --- Command line --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.ops", description=__doc__.split("\n\n")[0], epilog="STRIPE_API_KEY must be set."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack", default=None, help="CloudFormation stack (default: samconfig.toml's dev stack)"
    )
    common.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=summary, parents=[common])

    reg = command("register", "create or update the Stripe endpoint for the stack's WebhookUrl")
    reg.add_argument(
        "--connect", action="store_true", help="receive events from connected accounts (Connect)"
    )
    reg.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    rot = command("rotate-secret", "roll the signing secret with an overlap (then --finish)")
    rot.add_argument(
        "--finish", action="store_true", help="end the overlap: drop the old endpoint and secret"
    )
    rot.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    back = command("backfill", "process events Stripe has that we missed (Events API, 30 days)")
    back.add_argument("--since", type=parse_time, help="2026-11-01, an ISO time, a unix time, or 48h / 7d")
    back.add_argument("--until", type=parse_time, default=None, help="default: now")
    back.add_argument(
        "--all", action="store_true", help="every event, not only those Stripe failed to deliver"
    )
    back.add_argument("--resume", action="store_true", help="continue the last backfill of this stack")
    back.add_argument("--dry-run", action="store_true", help="count what is missing, process nothing")

    red = command("redrive", "republish stored events of some types to the topic (or a queue)")
    red.add_argument("--type", dest="types", action="append", required=True, help="event type (repeatable)")
    red.add_argument("--since", type=parse_time, required=True)
    red.add_argument("--until", type=parse_time, default=None)
    red.add_argument("--queue-url", help="send only to this SQS queue instead of every topic subscriber")
    red.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")

    sta = command("status", "recent events by type, failures, last event, alarm states")
    sta.add_argument("--hours", type=int, default=24, help="window (default 24)")
    args = parser.parse_args(argv)
    if args.command == "backfill" and not args.resume and args.since is None:
        parser.error("backfill needs --since (or --resume)")
    return args


def aws_factory(region: str | None) -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service)  # type: ignore[call-overload]
        return clients[service]

    return client


def run(
    args: argparse.Namespace, aws: Callable[[str], Any], stripe: Any = None, out: TextIO = sys.stdout
) -> int:
    stack = load_stack(aws("cloudformation"), args.stack or default_stack_name())
    ctx = Context(stack, aws, stripe, out, dry_run=getattr(args, "dry_run", False))
    if args.command in ("register", "rotate-secret", "backfill") and ctx.stripe is None:
        ctx.stripe = stripe_client()
    if args.command == "register":
        return register(ctx, args.connect)
    if args.command == "rotate-secret":
        return rotate_secret(ctx, args.finish)
    if args.command == "backfill":
        if args.resume:
            state = BackfillState.load(stack.name)
        else:
            state = BackfillState(args.since, args.until or int(time.time()), undelivered_only=not args.all)
        return backfill(ctx, state)
    if args.command == "redrive":
        return redrive(ctx, args.types, args.since, args.until or int(time.time()), args.queue_url)
    return status(ctx, args.hours)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import stripe
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return run(args, aws_factory(args.region))
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print(
            "error: no AWS credentials: configure them as for `sam deploy` (AWS_PROFILE, …)", file=sys.stderr
        )
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"error: AWS refused: {error}", file=sys.stderr)
        return 2
    except stripe.StripeError as error:
        print(f"error: Stripe refused: {error.user_message or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; a backfill continues with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
