"""Build the table, topic and a consumer queue from template.yaml's own resource definitions.

Tests and the local stack both use this, so neither can drift from what ``sam deploy`` creates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"
TABLE_RESOURCE = "EventsTable"
TOPIC_RESOURCE = "EventsTopic"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short tags (!Ref, !Sub, !GetAtt ...)."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506
    return template


@cache
def _template() -> dict[str, Any]:
    return load_template()


def resource_properties(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = _template()["Resources"][logical_id]["Properties"]
    return properties


def create_table_kwargs(table_name: str) -> dict[str, Any]:
    """``CreateTable`` arguments equivalent to the template's table."""
    properties = resource_properties(TABLE_RESOURCE)
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"],
    }
    for name in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if name in properties:
            kwargs[name] = properties[name]
    if properties.get("SSESpecification", {}).get("SSEEnabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    return kwargs


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    topic_arn: str
    queue_url: str | None


def create_resources(
    dynamodb: Any,
    sns: Any,
    sqs: Any | None = None,
    *,
    table_name: str = "stripe-webhooks-events",
    topic_name: str = "stripe-webhooks-events",
    queue_name: str = "stripe-events-consumer",
    filter_policy: dict[str, Any] | None = None,
) -> LocalResources:
    """Create the table and topic as the template defines them, plus an optional subscribed queue."""
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
    topic_arn = sns.create_topic(Name=topic_name, Attributes=attributes)["TopicArn"]
    queue_url = None
    if sqs is not None:
        queue_url = subscribe_queue(sns, sqs, topic_arn, queue_name, filter_policy)
    return LocalResources(table_name, topic_arn, queue_url)


def subscribe_queue(
    sns: Any, sqs: Any, topic_arn: str, queue_name: str, filter_policy: dict[str, Any] | None = None
) -> str:
    """An SQS queue subscribed to the topic with raw delivery: what a downstream consumer sees."""
    queue_url: str = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    return queue_url
