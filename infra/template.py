"""Read template.yaml: its resources' own ``Properties``, CloudFormation's short tags understood.

The local stack and the tests build their table and topic from these definitions
(``infra.local.resources``), and the cost estimate reads its settings here, so none can drift
from what ``sam deploy`` creates.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra import REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "template.yaml"
TABLE_RESOURCE = "EventsTable"
TOPIC_RESOURCE = "EventsTopic"
BUCKET_RESOURCE = "PayloadBucket"


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
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


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


def _merged(shared: Any, own: Any) -> Any:
    """SAM's rule for Globals: maps merge (the resource's keys win), anything else is the resource's."""
    if isinstance(shared, dict) and isinstance(own, dict):
        return {**shared, **{key: _merged(shared.get(key), value) for key, value in own.items()}}
    return own


def function_properties(logical_id: str) -> dict[str, Any]:
    """A function's properties as SAM deploys them: the template's ``Globals.Function`` under its own."""
    shared = _template().get("Globals", {}).get("Function", {})
    merged: dict[str, Any] = _merged(shared, resource_properties(logical_id))
    return merged


ACTIONS_HANDLER = "stripe_actions.app.lambda_handler"
IDEMPOTENCY_TABLE_RESOURCE = "ActionsIdempotencyTable"
ACTIONS_TABLE_RESOURCE = "ActionsTable"


def action_functions() -> dict[str, tuple[str, ...]]:
    """The actions functions the template deploys: the logical-id stem of each one's
    ``<stem>Function``, ``<stem>Queue``, ``<stem>DeadLetterQueue`` and ``<stem>Subscription`` →
    the actions it performs (its ``ACTIONS``)."""
    found = {}
    for logical_id, resource in _template()["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and properties.get("Handler") == ACTIONS_HANDLER:
            names = str(properties["Environment"]["Variables"]["ACTIONS"]).split(",")
            found[logical_id.removesuffix("Function")] = tuple(name.strip() for name in names)
    return found


def create_table_kwargs(table_name: str, logical_id: str = TABLE_RESOURCE) -> dict[str, Any]:
    """``CreateTable`` arguments equivalent to the template's table ``logical_id``."""
    properties = resource_properties(logical_id)
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
