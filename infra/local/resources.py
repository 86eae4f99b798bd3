"""Create the table, topic and a consumer queue as template.yaml defines them, on any AWS endpoint.

The local stack (``make run``) and the moto-backed tests both use this, so neither can drift from
what ``sam deploy`` creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.template import (
    BUCKET_RESOURCE,
    TABLE_RESOURCE,
    TOPIC_RESOURCE,
    create_table_kwargs,
    resource_properties,
)

TABLE_NAME = "stripe-webhooks-events"
TOPIC_NAME = "stripe-webhooks-events"
QUEUE_NAME = "stripe-events-consumer"
BUCKET_NAME = "stripe-webhooks-payloads"


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
    properties = resource_properties(TABLE_RESOURCE)
    dynamodb.create_table(**create_table_kwargs(table_name))
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
    sns: Any, sqs: Any, topic_arn: str, queue_name: str, filter_policy: dict[str, Any] | None = None
) -> str:
    """An SQS queue subscribed to the topic with raw delivery: what a downstream consumer sees."""
    fifo = {"FifoQueue": "true"} if queue_name.endswith(".fifo") else {}
    queue_url: str = sqs.create_queue(QueueName=queue_name, Attributes=fifo)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    return queue_url
