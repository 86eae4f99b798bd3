"""``status``: recent events by type, failure metrics, the last event, alarm states."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter

from contract.aws import error_code
from infra.ops.deployed import Context, handled_event_types
from infra.ops.progress import day
from stripe_webhook.adapters.schema import IN_PROGRESS

LOG_GROUP = "WebhookFunctionLogGroup"
FAILURE_LINES = '{ $.error = "*" }'
"""A CloudWatch Logs filter pattern: the lines that carry an error code (``observability.report_failure``)."""
MAX_LOG_LINES = 10_000

DASHBOARD_METRICS = {
    "RequestsReceived": "received (webhook)",
    "EventBridgeEventsReceived": "received (EventBridge)",
    "EventsProcessed": "processed",
    "DuplicateEvents": "duplicate",
    "UnhandledEvents": "no handler",
    "SignatureFailures": "signature failures (400)",
    "ProcessingFailures": "5xx (Stripe retries)",
    "PublishedNotMarked": "published, not marked",
    "PossibleDuplicatePublished": "published as possible duplicate",
    "OrderUncertain": "order uncertain",
    "RejectedEvents": "EventBridge rejected",
}
"""The dashboard's own metrics and labels, in its order (``test_ops.py`` keeps the two the same)."""
RECOVERY_METRICS = {
    "EventsRecovered": "events recovered",
    "EventsSkipped": "events skipped (named)",
    "ReconcilerFailures": "reconciler failures",
}
"""The dashboard's recovery widget (with a Stripe key), in its order; its lag and endpoints are
printed from the reconciler's own state."""


def status(ctx: Context, hours: int) -> int:
    queries = ctx.components.queries
    since = int(time.time()) - hours * 3600
    counts: Counter[str] = Counter()
    last = 0
    unfinished: list[str] = []
    for event_type in handled_event_types():
        found = queries.events_by_type(event_type, since)
        counts[event_type] = len(found)
        last = max([last, *(int(entry.get("created", 0)) for entry in found)])
        unfinished.extend(entry["event_id"] for entry in found if entry.get("status") == IN_PROGRESS)
    resources = stack_resources(ctx)
    rejected, failed, not_marked = failures_by_code(ctx, hours, physical_id(resources, LOG_GROUP))
    ctx.say(f"stack {ctx.stack.name}  ({ctx.stack.webhook_url})")
    ctx.say(f"events in the last {hours} h (handled types): {sum(counts.values()):,}")
    for event_type, count in counts.most_common():
        if count:
            ctx.say(f"  {count:>8,}  {event_type}")
    ctx.say(f"last event: {day(last) if last else 'none in this window'}")
    if unfinished:
        ctx.say(f"released, waiting for Stripe's retry (IN_PROGRESS): {_listed(unfinished)}")
    if not_marked:
        ctx.say(f"published but not marked (the function's log): {_listed(not_marked)}")
        ctx.say(
            "  they stay IN_PROGRESS and a redelivery would publish them again (possible_duplicate);"
            " see PublishedNotMarked in docs/guarantees.md"
        )
    if ctx.stack.local:  # no CloudWatch metrics or logs: zeros here would contradict the counts above
        ctx.say("metrics and failure logs: the local stack keeps none; every request, with its verdict,")
        webhook = ctx.stack.webhook_url
        inbox = (
            webhook.rsplit("/", 1)[0] + "/"
            if webhook.startswith("http")
            else "the webhook's port, 3000 by default"
        )
        ctx.say(f"  is in the console's Requests tab ({inbox})")
    else:
        say_metrics(ctx, hours, rejected, failed)
    say_recovery(ctx)
    for name, state in alarm_states(ctx, resources).items():
        ctx.say(f"alarm {name}: {state}")
    if ctx.stack.dashboard_url:
        ctx.say(f"dashboard (latency, throttles, failures by cause, dead letters): {ctx.stack.dashboard_url}")
    return 0


def say_metrics(ctx: Context, hours: int, rejected: Counter[str], failed: Counter[str]) -> None:
    """The dashboard's metrics, and the function log's failures by code."""
    ctx.say(f"metrics, last {hours} h (the dashboard's):")
    labels = {**DASHBOARD_METRICS, **RECOVERY_METRICS}
    for name, value in metric_sums(ctx, list(labels), hours).items():
        ctx.say(f"  {value:>8,.0f}  {labels[name]} ({name})")
    for title, counts in (("rejected (4xx) by error code", rejected), ("failures (5xx) by cause", failed)):
        listed = ", ".join(f"{code} {count:,}" for code, count in counts.most_common()) or "none"
        ctx.say(f"{title}, last {hours} h: {listed}")


def _listed(event_ids: list[str]) -> str:
    return f"{len(event_ids):,}: " + ", ".join(event_ids[:5]) + (", …" if len(event_ids) > 5 else "")


def metric_sums(ctx: Context, names: list[str], hours: int) -> dict[str, float]:
    from contract import METRICS_NAMESPACE

    cloudwatch = ctx.aws("cloudwatch")
    now = dt.datetime.now(dt.UTC)
    # EndTime is exclusive, and CloudWatch (and moto) compare at whole seconds: a point from this
    # very second would fall outside `EndTime=now`, so the window reaches a minute ahead.
    end = now + dt.timedelta(minutes=1)
    sums = {}
    for name in names:
        points = cloudwatch.get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": ctx.stack.name}],
            StartTime=now - dt.timedelta(hours=hours),
            EndTime=end,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        sums[name] = sum(point["Sum"] for point in points)
    return sums


def stack_resources(ctx: Context) -> list[dict[str, str]]:
    """The stack's resources and its modules' (nested stacks, one level of nesting each time, as
    ``Monitoring.ProcessingFailuresAlarm``); none for the local stack, which CloudFormation does
    not know."""
    if ctx.stack.local:
        return []
    cloudformation = ctx.aws("cloudformation")
    found: list[dict[str, str]] = []
    stacks = [("", ctx.stack.name)]
    while stacks:
        prefix, stack = stacks.pop(0)
        for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]:
            logical = f"{prefix}{resource['LogicalResourceId']}"
            found.append({**resource, "LogicalResourceId": logical})
            nested = resource.get("PhysicalResourceId")
            if resource["ResourceType"] == "AWS::CloudFormation::Stack" and nested:
                stacks.append((f"{logical}.", nested))
    return found


def physical_id(resources: list[dict[str, str]], logical_id: str) -> str | None:
    return next((r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == logical_id), None)


def failures_by_code(
    ctx: Context, hours: int, log_group: str | None
) -> tuple[Counter[str], Counter[str], list[str]]:
    """The dashboard's two log tables, from the function's log group: rejected requests (4xx) by
    error code, and failures (5xx, or EventBridge events that raised) by cause; and the events
    published but not marked (``observability.NOT_MARKED``)."""
    from botocore.exceptions import ClientError

    from stripe_webhook.observability import NOT_MARKED

    rejected: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    not_marked: list[str] = []
    if log_group is None:
        return rejected, failed, not_marked
    pages = (
        ctx.aws("logs")
        .get_paginator("filter_log_events")
        .paginate(
            logGroupName=log_group,
            startTime=int((time.time() - hours * 3600) * 1000),
            filterPattern=FAILURE_LINES,
            PaginationConfig={"MaxItems": MAX_LOG_LINES},
        )
    )
    try:
        for page in pages:
            for line in page.get("events", []):
                try:
                    fields = json.loads(line["message"])
                except ValueError:
                    continue
                if not isinstance(fields, dict) or "error" not in fields:
                    continue
                status = fields.get("status")
                if fields["error"] == NOT_MARKED and fields.get("event_id"):
                    not_marked.append(str(fields["event_id"]))
                if fields.get("level") == "ERROR":
                    failed[str(fields["error"])] += 1
                elif isinstance(status, int) and 400 <= status < 500:
                    rejected[str(fields["error"])] += 1
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    return rejected, failed, not_marked


def alarm_states(ctx: Context, resources: list[dict[str, str]]) -> dict[str, str]:
    alarms = {
        resource["PhysicalResourceId"]: resource["LogicalResourceId"]
        for resource in resources
        if resource["ResourceType"] == "AWS::CloudWatch::Alarm"
    }
    if not alarms:
        return {}
    described = ctx.aws("cloudwatch").describe_alarms(AlarmNames=list(alarms))["MetricAlarms"]
    return {alarms[alarm["AlarmName"]]: alarm["StateValue"] for alarm in described}


def say_recovery(ctx: Context) -> None:
    """The reconciler's state as its last run left it: when, how far behind, each endpoint, and
    the events it named or is still retrying."""
    ledger = ctx.components.ledger
    state = ledger.state()
    if state is None or state.last_run is None:
        ctx.say(
            "reconciler: no run yet (it runs with StripeApiKeySecretArn set, every ReconcileIntervalMinutes)"
        )
        return
    behind = (
        f"{state.last_run - state.watermark:,} s behind" if state.watermark is not None else "no window done"
    )
    ctx.say(f"reconciler: last run {day(state.last_run)}, {behind}")
    recorded = {endpoint.id: endpoint for endpoint in ledger.endpoints()}
    if not recorded:
        ctx.say("  endpoints: none recorded (run ops register): the reconciler cannot check their health")
    for endpoint_id, endpoint_status in state.endpoints.items():
        url = recorded[endpoint_id].url if endpoint_id in recorded else "?"
        ctx.say(f"  endpoint {endpoint_id} ({url}): {endpoint_status}")
        if endpoint_status in ("disabled", "missing"):
            ctx.say(
                "    Stripe sends it nothing; the reconciler recovers what it misses. Fix the cause,"
                " then: ops enable-endpoint (docs/operations.md#stripe-disabled-our-endpoint)"
            )
    if state.retries:
        ctx.say(f"  retrying (failed in earlier runs): {_listed(list(state.retries))}")
    if state.named:
        ctx.say(f"  named, not processed: {len(state.named):,}")
        for event_id, reason in list(state.named.items())[-5:]:
            ctx.say(f"    {event_id}: {reason}")
