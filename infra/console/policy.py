"""The console's two IAM policies, naming one deployed stack's own resources, never a pattern.

A policy written with ``STACK-*`` for stack ``shop`` also covers ``shop-prod-…``; so
``python -m infra.console policy --stack NAME [--allow-actions]`` prints the policy with the
exact ARNs CloudFormation reports for that stack and its modules: its tables, queues, log groups,
alarms, topic, bucket and stacks. Writes are confined further by ``dynamodb:LeadingKeys``: the
audit log's ``CONSOLE#…`` items in the events table, the effect ledger's ``effect#…`` entries in
the idempotency table, never an ``EVENT#`` item or an action's idempotency record.

``docs/console-policy.json`` and ``docs/console-actions-policy.json`` are the same policies with
placeholders for the ARNs (``placeholders``); a test keeps them equal to what this module makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.ops.deployed import Context

AUDIT_KEYS = "CONSOLE#*"
"""The audit log's partition keys (``CONSOLE#<YYYY-MM>``, ``console.actions``)."""
EFFECT_KEYS = "effect#*"
"""The effect ledger's entries (``stripe_actions.effects.EFFECT_PREFIX``)."""


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    """Kinds of resource (``Resources`` fields), in order."""
    leading_keys: str | None = None


READ = (
    Grant(
        "FindTheStack",
        ("cloudformation:DescribeStacks", "cloudformation:DescribeStackResources"),
        ("stacks",),
    ),
    Grant(
        "ReadEventsRecordsAndEffects",
        ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"),
        ("tables", "indexes"),
    ),
    Grant("ReadLargeBodies", ("s3:GetObject",), ("bodies",)),
    Grant("QueueDepths", ("sqs:GetQueueAttributes",), ("queues",)),
    Grant("ActionOutcomes", ("logs:FilterLogEvents",), ("log_groups",)),
    Grant("AlarmStates", ("cloudwatch:DescribeAlarms",), ("alarms",)),
)
WRITE = (
    Grant("RecordWhatWasDone", ("dynamodb:PutItem", "dynamodb:UpdateItem"), ("events_table",), AUDIT_KEYS),
    Grant(
        "SettleEffects", ("dynamodb:UpdateItem", "dynamodb:DeleteItem"), ("idempotency_table",), EFFECT_KEYS
    ),
    Grant("RedriveDeadLetters", ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"), ("queues",)),
    Grant("ResendEvents", ("sns:Publish",), ("topic",)),
)


@dataclass(frozen=True)
class Resources:
    """One stack's ARNs, by kind."""

    stacks: tuple[str, ...]
    tables: tuple[str, ...]
    indexes: tuple[str, ...]
    bodies: tuple[str, ...]
    queues: tuple[str, ...]
    log_groups: tuple[str, ...]
    alarms: tuple[str, ...]
    events_table: tuple[str, ...]
    idempotency_table: tuple[str, ...]
    topic: tuple[str, ...]


def policy(resources: Resources, grants: tuple[Grant, ...]) -> dict[str, Any]:
    statements = []
    for grant in grants:
        arns = [arn for kind in grant.resources for arn in getattr(resources, kind)]
        if not arns:
            continue  # the stack has none of it (no actions: no idempotency table)
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": list(grant.actions),
            "Resource": arns,
        }
        if grant.leading_keys:
            statement["Condition"] = {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [grant.leading_keys]}
            }
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def placeholders() -> Resources:
    """The documented form: each resource named by what to put there."""
    area = "REGION:ACCOUNT"
    return Resources(
        stacks=(
            f"arn:aws:cloudformation:{area}:stack/STACK/STACK_ID",
            f"arn:aws:cloudformation:{area}:stack/NESTED_STACK/NESTED_STACK_ID",
        ),
        tables=(
            f"arn:aws:dynamodb:{area}:table/EVENTS_TABLE",
            f"arn:aws:dynamodb:{area}:table/ACTIONS_TABLE",
            f"arn:aws:dynamodb:{area}:table/IDEMPOTENCY_TABLE",
        ),
        indexes=(f"arn:aws:dynamodb:{area}:table/EVENTS_TABLE/index/*",),
        bodies=("arn:aws:s3:::PAYLOAD_BUCKET/events/*",),
        queues=(f"arn:aws:sqs:{area}:QUEUE",),
        log_groups=(f"arn:aws:logs:{area}:log-group:LOG_GROUP:*",),
        alarms=(f"arn:aws:cloudwatch:{area}:alarm:ALARM",),
        events_table=(f"arn:aws:dynamodb:{area}:table/EVENTS_TABLE",),
        idempotency_table=(f"arn:aws:dynamodb:{area}:table/IDEMPOTENCY_TABLE",),
        topic=(f"arn:aws:sns:{area}:EVENTS_TOPIC",),
    )


def discover(ctx: Context) -> Resources:
    """The deployed stack's ARNs, its modules' included (CloudFormation's own account of them)."""
    from infra.ops.status import stack_resources

    (root,) = ctx.aws("cloudformation").describe_stacks(StackName=ctx.stack.name)["Stacks"]
    _, _, _, region, account, _ = str(root["StackId"]).split(":", 5)
    area = f"{region}:{account}"
    found = stack_resources(ctx)

    def physical(kind: str) -> list[str]:
        return sorted(
            str(r["PhysicalResourceId"])
            for r in found
            if r["ResourceType"] == kind and r.get("PhysicalResourceId")
        )

    tables = [f"arn:aws:dynamodb:{area}:table/{name}" for name in physical("AWS::DynamoDB::Table")]
    events_table = f"arn:aws:dynamodb:{area}:table/{ctx.stack.table_name}"
    idempotency = ctx.stack.actions_idempotency_table
    return Resources(
        stacks=(str(root["StackId"]), *physical("AWS::CloudFormation::Stack")),
        tables=tuple(tables),
        indexes=(f"{events_table}/index/*",),
        bodies=(f"arn:aws:s3:::{ctx.stack.payload_bucket}/events/*",) if ctx.stack.payload_bucket else (),
        queues=tuple(f"arn:aws:sqs:{area}:{url.rsplit('/', 1)[-1]}" for url in physical("AWS::SQS::Queue")),
        log_groups=tuple(
            f"arn:aws:logs:{area}:log-group:{name}:*" for name in physical("AWS::Logs::LogGroup")
        ),
        alarms=tuple(
            f"arn:aws:cloudwatch:{area}:alarm:{name}" for name in physical("AWS::CloudWatch::Alarm")
        ),
        events_table=(events_table,),
        idempotency_table=(f"arn:aws:dynamodb:{area}:table/{idempotency}",) if idempotency else (),
        topic=(ctx.stack.topic_arn,),
    )
