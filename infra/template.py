"""Read template.yaml: its resources' own ``Properties``, CloudFormation's short tags understood.

The local stack and the tests build their table and topic from these definitions
(``infra.local.resources``), and the cost estimate reads its settings here, so none can drift
from what ``sam deploy`` creates.
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
MODULES = REPO_ROOT / "infra" / "modules"
ACTION_MODULE_PATH = MODULES / "action.yaml"
"""The action module: one nested application per action (docs/actions.md#what-an-action-may-do)."""


@cache
def load_module(name: str) -> dict[str, Any]:
    """``infra/modules/<name>.yaml``: action, queue, monitoring or reconciler."""
    return load_template(MODULES / f"{name}.yaml")


def action_module() -> dict[str, Any]:
    return load_module("action")


def module_properties(logical_id: str, module: str = "action") -> dict[str, Any]:
    """A resource's ``Properties`` in a module (the action module's ``Function``, ``Queue`` ...)."""
    properties: dict[str, Any] = load_module(module)["Resources"][logical_id]["Properties"]
    return properties


def instance_parameters(logical_id: str) -> dict[str, Any]:
    """The parameters template.yaml gives its nested application ``logical_id``."""
    parameters: dict[str, Any] = resource_properties(logical_id)["Parameters"]
    return parameters


@dataclass(frozen=True)
class ActionInstance:
    """One ``AWS::Serverless::Application`` of the action module in template.yaml, with its
    parameters as written there and the module's defaults for the rest."""

    logical_id: str
    parameters: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.parameters["Name"])

    @property
    def filter_policy(self) -> dict[str, Any]:
        """The subscription's filter policy, as the module builds it from ``EventTypes``."""
        return {"event_type": json.loads(str(self.parameters["EventTypes"]))}

    @property
    def _words(self) -> list[tuple[str, str]]:
        """``Uses``, word by word: (``records``, "") … (``keys``, ``FULFILMENT#``)."""
        return [word.partition("=")[::2] for word in str(self.parameters.get("Uses", "")).split()]

    @property
    def uses(self) -> frozenset[str]:
        """What the instance grants beyond the queue, idempotency and effect ledger (``Uses``):
        ``records``, ``email``, ``alerts``, and ``keys`` when it owns a key prefix."""
        return frozenset(word for word, _ in self._words)

    @property
    def own_keys(self) -> str:
        """The actions-table key prefix it may get and put (``keys=FULFILMENT#``), or ""."""
        return next((prefix for word, prefix in self._words if word == "keys"), "")


def action_instances() -> dict[str, ActionInstance]:
    """The actions template.yaml deploys: logical id → instance of the action module."""
    defaults = {
        name: spec["Default"] for name, spec in action_module()["Parameters"].items() if "Default" in spec
    }
    found = {}
    for logical_id, resource in _template()["Resources"].items():
        properties = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::Serverless::Application"
            and (REPO_ROOT / str(properties.get("Location", ""))) == ACTION_MODULE_PATH
        ):
            found[logical_id] = ActionInstance(logical_id, {**defaults, **properties["Parameters"]})
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
