"""Reading template.yaml's modules as CloudFormation would for one instance: its parameters in
place of each ``!Ref`` to them, conditions decided, a shared value of the action kit (read by
name) resolved to what the root puts there. Root references (``!Ref EventsTable``) and a module's
own resources (``!GetAtt Queue.Outputs.QueueArn``) are kept as written, so a test can say which
resource a value names wherever it is written."""

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


def kit_places() -> dict[str, int]:
    """Each shared value's place in the kit, by name, as the action module's ``Kit`` mapping says."""
    from infra.template import action_module

    return {name: int(entry["At"]) for name, entry in action_module()["Mappings"]["Kit"].items()}


def resolve(value: Any, parameters: dict[str, Any], conditions: dict[str, bool] | None = None) -> Any:
    """``value`` from a module, for the instance with ``parameters``; ``conditions`` decides the
    module's conditions (each one, by default, as the parameters make it). Strings are computed
    where CloudFormation would (``Sub`` of parameters, ``Split``, ``Join``, ``Select``); a root
    reference stays as written."""
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
    if set(value) == {"Fn::Select"}:
        return _select(value["Fn::Select"], parameters, decided)
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        return resolve(when_true if decided[condition] else when_false, parameters, decided)
    if set(value) == {"Fn::Split"}:
        separator, text = value["Fn::Split"]
        whole = resolve(text, parameters, decided)
        return whole.split(separator) if isinstance(whole, str) else value
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        joined = resolve(parts, parameters, decided)
        if isinstance(joined, list) and all(isinstance(part, str) for part in joined):
            return str(separator).join(joined)
        return {"Fn::Join": [separator, joined]}
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return _sub(value["Fn::Sub"], {}, parameters, value)
    if set(value) == {"Fn::Sub"}:
        template, variables = value["Fn::Sub"]
        own = {name: resolve(inner, parameters, decided) for name, inner in variables.items()}
        return _sub(template, own, parameters, {"Fn::Sub": [template, own]})
    properties = {key: resolve(inner, parameters, decided) for key, inner in value.items()}
    return {key: inner for key, inner in properties.items() if inner is not NO_VALUE}


def _select(arguments: list[Any], parameters: dict[str, Any], decided: dict[str, bool]) -> Any:
    index, listed = arguments
    if isinstance(index, dict) and "Fn::FindInMap" in index:
        mapping, name, _ = index["Fn::FindInMap"]
        assert mapping == "Kit" and listed == {"Ref": "Kit"}, index
        return kit()[kit_places()[name]]
    items = resolve(listed, parameters, decided)
    return items[int(index)] if isinstance(items, list) else {"Fn::Select": [index, items]}


def _sub(template: str, own: dict[str, Any], parameters: dict[str, Any], unresolved: Any) -> Any:
    """A ``Sub`` whose every variable is a string parameter (or one of its own) is computed."""
    names = re.findall(r"\$\{([^}]+)\}", template)
    known = {**{name: value for name, value in parameters.items() if isinstance(value, str)}, **own}
    if not all(isinstance(known.get(name), str) for name in names):
        return unresolved
    return re.sub(r"\$\{([^}]+)\}", lambda match: str(known[match.group(1)]), template)


def conditions_of(module: dict[str, Any], parameters: dict[str, Any]) -> dict[str, bool]:
    """A module's conditions for one instance, as CloudFormation decides them from the instance's
    parameters. A root reference given for a value (``!Ref ReceiptSenderEmail``) stands for a value
    set at deploy: not empty, equal to no literal."""
    decided: dict[str, bool] = {}

    def decide(written: Any) -> bool:
        if "Fn::Not" in written:
            return not decide(written["Fn::Not"][0])
        if "Fn::And" in written:
            return all(decide(part) for part in written["Fn::And"])
        if "Fn::Or" in written:
            return any(decide(part) for part in written["Fn::Or"])
        if "Condition" in written:
            return decided[written["Condition"]]
        left, right = (resolve(side, parameters) for side in written["Fn::Equals"])
        return isinstance(left, str) and left == right

    for name, written in module.get("Conditions", {}).items():
        decided[name] = decide(written)
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
