"""What the console reads: the stack's tables, topic, queues, log groups and alarms.

A deployed stack describes itself: its outputs (``ops.deployed.load_stack``) and its resources,
its modules' included (``ops.status.stack_resources``). The local stack's AWS side has no
CloudFormation: its resources have the names ``infra.local.resources`` gives them, and its queues
and the actions' log groups are listed. Each queue's dead-letter queue and ``maxReceiveCount`` come
from the queue's own ``RedrivePolicy``, either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from infra.ops.deployed import Context, Stack

ACTION_LOG_PREFIX = "/aws/lambda/"


@dataclass(frozen=True)
class QueuePair:
    """A queue a consumer reads, and where its failures go."""

    name: str
    url: str
    dead_letter_url: str | None
    max_receives: int | None


@dataclass(frozen=True)
class Deployment:
    stack: Stack
    queues: list[QueuePair] = field(default_factory=list)
    action_logs: dict[str, str] = field(default_factory=dict)
    """Action (module) name → its function's log group."""
    alarms: list[str] = field(default_factory=list)
    region: str = ""


def discover(ctx: Context) -> Deployment:
    """The deployed stack's resources (``ctx.stack`` from its outputs)."""
    from infra.ops.status import stack_resources

    resources = stack_resources(ctx)
    labels: dict[str, str] = {}
    dead_letters: set[str] = set()
    logs: dict[str, str] = {}
    alarms: list[str] = []
    for resource in resources:
        logical, kind = resource["LogicalResourceId"], resource["ResourceType"]
        physical = resource.get("PhysicalResourceId") or ""
        owner = logical.split(".")[0]
        if kind == "AWS::SQS::Queue" and logical.endswith("DeadLetterQueue"):
            dead_letters.add(physical)
        elif kind == "AWS::SQS::Queue":
            labels[physical] = owner if "." in logical else logical
        elif kind == "AWS::Logs::LogGroup" and "." in logical and owner not in ("Reconciler", "Monitoring"):
            logs[owner] = physical
        elif kind == "AWS::CloudWatch::Alarm":
            alarms.append(physical)
    queues = queue_pairs(ctx.aws("sqs"), labels)
    return Deployment(ctx.stack, queues, logs, alarms, ctx.aws("sqs").meta.region_name)


def discover_local(ctx: Context) -> Deployment:
    """The local stack's AWS side (``ctx.aws`` points at it)."""
    sqs = ctx.aws("sqs")
    urls = sqs.list_queues().get("QueueUrls", [])
    labels = {url: url.rsplit("/", 1)[-1] for url in urls}
    groups = ctx.aws("logs").describe_log_groups(logGroupNamePrefix=ACTION_LOG_PREFIX).get("logGroups", [])
    logs = {group["logGroupName"].removeprefix(ACTION_LOG_PREFIX): group["logGroupName"] for group in groups}
    return Deployment(ctx.stack, queue_pairs(sqs, labels), logs, [], sqs.meta.region_name)


def queue_pairs(sqs: Any, labels: dict[str, str]) -> list[QueuePair]:
    """Each queue with a ``RedrivePolicy``, its dead-letter queue and ``maxReceiveCount``; the
    dead-letter queues themselves are not listed as queues."""
    pairs = []
    targets: set[str] = set()
    for url, name in sorted(labels.items(), key=lambda pair: pair[1]):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get(
            "Attributes", {}
        )
        policy = json.loads(attributes.get("RedrivePolicy") or "{}")
        target = str(policy.get("deadLetterTargetArn", ""))
        dead_letter = f"{url.rsplit('/', 1)[0]}/{target.rsplit(':', 1)[-1]}" if target else None
        if dead_letter:
            targets.add(dead_letter)
        receives = policy.get("maxReceiveCount")
        pairs.append(QueuePair(name, url, dead_letter, int(receives) if receives is not None else None))
    return [pair for pair in pairs if pair.url not in targets]


def queue_depth(sqs: Any, url: str) -> dict[str, int]:
    """A queue's messages waiting and in flight (SQS's approximate counts)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names).get("Attributes", {})
    return {"waiting": int(attributes.get(names[0], 0)), "in_flight": int(attributes.get(names[1], 0))}
