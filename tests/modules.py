"""Reading template.yaml's modules as CloudFormation would for one instance: its parameters in
place of each ``!Ref`` to them, conditions decided, ``!Select`` of the action kit resolved to what
the root puts there. Root references (``!Ref EventsTable``) and a module's own resources
(``!GetAtt Queue.Outputs.QueueArn``) are kept as written, so a test can say which resource a value
names wherever it is written."""

from __future__ import annotations

import re
from typing import Any

from infra.template import load_template

NO_VALUE = object()
"""``!Ref AWS::NoValue``: the key or list item is left out."""


def kit() -> list[Any]:
    """What the root gives every action, in the order the action module reads it."""
    value: list[Any] = load_template()["Resources"]["ActionKit"]["Properties"]["Value"]["Fn::Join"][1]
    return value


def resolve(value: Any, parameters: dict[str, Any], conditions: dict[str, bool] | None = None) -> Any:
    """``value`` from a module, for the instance with ``parameters``; ``conditions`` decides the
    module's conditions (each one, by default, as the parameters make it)."""
    decided = conditions or {}
    if isinstance(value, list):
        items = [resolve(item, parameters, decided) for item in value]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if set(value) == {"Fn::Select"} and value["Fn::Select"][1] == {"Ref": "Kit"}:
        return kit()[value["Fn::Select"][0]]
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        return resolve(when_true if decided[condition] else when_false, parameters, decided)
    properties = {key: resolve(inner, parameters, decided) for key, inner in value.items()}
    return {key: inner for key, inner in properties.items() if inner is not NO_VALUE}


def conditions_of(module: dict[str, Any], parameters: dict[str, Any]) -> dict[str, bool]:
    """A module's conditions for one instance: ``Fn::Equals`` (maybe under ``Fn::Not``) of a
    parameter and a literal. A root reference given for a parameter (``!Ref ReceiptSenderEmail``)
    stands for a value set at deploy: not empty, equal to no literal."""
    decided = {}
    for name, written in module.get("Conditions", {}).items():
        negate = "Fn::Not" in written
        expression = written["Fn::Not"][0] if negate else written
        left, right = (resolve(side, parameters) for side in expression["Fn::Equals"])
        equal = isinstance(left, str) and left == right
        decided[name] = equal != negate
    return decided


def targets(value: Any) -> set[str]:
    """The resources (root or module) a resolved value names."""
    if isinstance(value, list):
        return set().union(*(targets(item) for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    if "Ref" in value:
        return {value["Ref"]}
    if "Fn::GetAtt" in value:
        return {value["Fn::GetAtt"][0]}
    if "Fn::If" in value:
        return targets(value["Fn::If"][1]) | targets(value["Fn::If"][2])
    if "Fn::Sub" in value:
        template, variables = (
            value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
        )
        named = {name.split(".")[0] for name in re.findall(r"\$\{([^}]+)\}", template)}
        found = {name for name in named if not name.startswith("AWS::") and name not in variables}
        return found | targets(list(variables.values()))
    return targets(list(value.values()))


def role_statements(module: dict[str, Any], role: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement a role gets: its inline policies and each ``AWS::IAM::RolePolicy`` on it,
    resolved for the instance. A root role (``parameters`` empty) has every optional statement,
    with the ``!If`` inside it kept: both of its resources are named."""
    resources = module["Resources"]
    documents = [policy["PolicyDocument"] for policy in resources[role]["Properties"].get("Policies", [])]
    documents += [
        resource["Properties"]["PolicyDocument"]
        for resource in resources.values()
        if resource["Type"] == "AWS::IAM::RolePolicy" and resource["Properties"]["RoleName"] == {"Ref": role}
    ]
    statements = []
    for document in documents:
        if parameters:
            statements += resolve(document["Statement"], parameters, conditions_of(module, parameters))
        else:
            written = document["Statement"]
            statements += [entry["Fn::If"][1] if "Fn::If" in entry else entry for entry in written]
    return statements
