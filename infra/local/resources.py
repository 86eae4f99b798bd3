"""Create the table, topic and a consumer queue as template.yaml defines them, on any AWS endpoint.

The local stack (``make run``) and the moto-backed tests both use this, so neither can drift from
what ``sam deploy`` creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.template import (
    ACTIONS_TABLE_RESOURCE,
    BUCKET_RESOURCE,
    IDEMPOTENCY_TABLE_RESOURCE,
    TABLE_RESOURCE,
    TOPIC_RESOURCE,
    ActionInstance,
    action_instances,
    create_table_kwargs,
    module_properties,
    resource_properties,
)

TABLE_NAME = "stripe-webhooks-events"
TOPIC_NAME = "stripe-webhooks-events"
QUEUE_NAME = "stripe-events-consumer"
BUCKET_NAME = "stripe-webhooks-payloads"
IDEMPOTENCY_TABLE_NAME = "stripe-actions-idempotency"
ACTIONS_TABLE_NAME = "stripe-actions"
ALERT_TOPIC_NAME = "stripe-webhooks-alerts"
RECEIPT_SENDER = "receipts@shop.example"
ACTION_QUEUE_PREFIX = "stripe-actions-"


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    topic_arn: str
    queue_url: str | None
    bucket: str | None = None


def create_resources(
    dynamodb: Any,
    sns: Any,
    sqs: Any | None = None,
    *,
    table_name: str = TABLE_NAME,
    topic_name: str = TOPIC_NAME,
    queue_name: str = QUEUE_NAME,
    filter_policy: dict[str, Any] | None = None,
    fifo: bool = False,
    s3: Any | None = None,
    bucket_name: str = BUCKET_NAME,
) -> LocalResources:
    """Create the table and topic as the template defines them, plus an optional subscribed queue
    and (given ``s3``) the bucket for large payloads.

    ``fifo``: the template's ``TopicType=fifo``: a FIFO topic and FIFO queue (names end in .fifo).
    """
    create_table(dynamodb, table_name, TABLE_RESOURCE)
    topic_properties = resource_properties(TOPIC_RESOURCE)
    attributes = (
        {"KmsMasterKeyId": topic_properties["KmsMasterKeyId"]} if "KmsMasterKeyId" in topic_properties else {}
    )
    if fifo:
        attributes["FifoTopic"] = "true"
        topic_name, queue_name = f"{topic_name}.fifo", f"{queue_name}.fifo"
    topic_arn = sns.create_topic(Name=topic_name, Attributes=attributes)["TopicArn"]
    queue_url = None
    if sqs is not None:
        queue_url = subscribe_queue(sns, sqs, topic_arn, queue_name, filter_policy)
    bucket = create_bucket(s3, bucket_name) if s3 is not None else None
    return LocalResources(table_name, topic_arn, queue_url, bucket)


def create_table(dynamodb: Any, table_name: str, logical_id: str) -> None:
    """The template's table ``logical_id``: keys, indexes, encryption, TTL and backups."""
    properties = resource_properties(logical_id)
    dynamodb.create_table(**create_table_kwargs(table_name, logical_id))
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
        )
    if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def create_bucket(s3: Any, name: str) -> str:
    """The payload bucket with the template's encryption and public access block."""
    properties = resource_properties(BUCKET_RESOURCE)
    s3.create_bucket(Bucket=name)
    rules = [  # CloudFormation's name for the default is the API's ApplyServerSideEncryptionByDefault
        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    ]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_public_access_block(
        Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
    )
    return name


def subscribe_queue(
    sns: Any,
    sqs: Any,
    topic_arn: str,
    queue_name: str,
    filter_policy: dict[str, Any] | None = None,
    *,
    raw: bool = True,
) -> str:
    """An SQS queue subscribed to the topic, by default with raw delivery: what a downstream
    consumer sees (``raw=False``: each message in SNS's JSON envelope, with its subject)."""
    fifo = {"FifoQueue": "true"} if queue_name.endswith(".fifo") else {}
    queue_url: str = sqs.create_queue(QueueName=queue_name, Attributes=fifo)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    return queue_url


@dataclass(frozen=True)
class ActionQueue:
    """One action's queue as its module defines it (``Queue``), and the instance it belongs to."""

    instance: ActionInstance
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    max_receives: int

    @property
    def actions(self) -> tuple[str, ...]:
        return (self.instance.name,)


@dataclass(frozen=True)
class ActionResources:
    idempotency_table: str
    actions_table: str
    alert_topic_arn: str
    receipt_sender: str
    queues: dict[str, ActionQueue]
    """Action name → the queue of the function that performs it."""


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def create_action_resources(
    dynamodb: Any,
    sns: Any,
    sqs: Any,
    ses: Any,
    topic_arn: str,
    *,
    visibility_timeout: int | None = None,
    receipt_sender: str = RECEIPT_SENDER,
) -> ActionResources:
    """What ``DeployExampleActions=true`` adds, from the template: the idempotency and actions
    tables, and per action (each instance of infra/modules/action.yaml) a queue (the module's
    visibility timeout, unless ``visibility_timeout`` is given, and its dead-letter queue after the
    module's ``maxReceiveCount``) subscribed with the instance's filter policy; plus a verified SES
    sender and a topic for the alerts."""
    create_table(dynamodb, IDEMPOTENCY_TABLE_NAME, IDEMPOTENCY_TABLE_RESOURCE)
    create_table(dynamodb, ACTIONS_TABLE_NAME, ACTIONS_TABLE_RESOURCE)
    ses.verify_email_identity(EmailAddress=receipt_sender)
    alert_topic_arn = str(sns.create_topic(Name=ALERT_TOPIC_NAME)["TopicArn"])
    fifo = topic_arn.endswith(".fifo")
    suffix = ".fifo" if fifo else ""
    queues = {}
    declared = module_properties("Queue", "queue")
    subscription = module_properties("Subscription", "queue")
    max_receives = int(declared["RedrivePolicy"]["maxReceiveCount"])
    own_timeout = module_properties("Queue")["Parameters"]["VisibilityTimeout"]  # the action's queue
    timeout = own_timeout if visibility_timeout is None else visibility_timeout
    for instance in action_instances().values():
        fifo_attributes = {"FifoQueue": "true"} if fifo else {}
        dead_letter_url = sqs.create_queue(
            QueueName=f"{ACTION_QUEUE_PREFIX}{instance.name}-dlq{suffix}", Attributes=fifo_attributes
        )["QueueUrl"]
        redrive = {"deadLetterTargetArn": _queue_arn(sqs, dead_letter_url), "maxReceiveCount": max_receives}
        queue_url = sqs.create_queue(
            QueueName=f"{ACTION_QUEUE_PREFIX}{instance.name}{suffix}",
            Attributes={
                **fifo_attributes,
                "VisibilityTimeout": str(timeout),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        queue_arn = _queue_arn(sqs, queue_url)
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={
                "RawMessageDelivery": "true" if subscription.get("RawMessageDelivery") else "false",
                "FilterPolicyScope": subscription["FilterPolicyScope"],
                "FilterPolicy": json.dumps(instance.filter_policy),
            },
        )
        queues[instance.name] = ActionQueue(instance, queue_url, queue_arn, dead_letter_url, max_receives)
    return ActionResources(
        IDEMPOTENCY_TABLE_NAME, ACTIONS_TABLE_NAME, alert_topic_arn, receipt_sender, queues
    )
