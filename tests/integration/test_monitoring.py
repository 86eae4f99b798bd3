"""infra/modules/monitoring.yaml: every alarm notifies the alarm topic and watches this stack's own
resources; the dashboard, rendered as CloudFormation would for each set of options, plots only
metrics that exist and every one the functions emit, and lists every alarm."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.template import action_instances, action_module, function_properties, load_module, load_template
from stripe_webhook import observability
from tests.modules import conditions_of, kit, kit_places

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
MONITORING = load_module("monitoring")
MONITORING_PARAMETERS: dict[str, Any] = RESOURCES["Monitoring"]["Properties"]["Parameters"]


AWS_METRICS = {
    # namespace → metric → its dimension names, from each service's CloudWatch metrics documentation
    "AWS/ApiGateway": {
        **{name: {"ApiName", "Stage"} for name in ("IntegrationLatency", "Latency", "5XXError", "4XXError")},
        **{name: {"ApiId", "Stage"} for name in ("5xx", "4xx")},  # an HTTP API's (IntegrationLatency too)
    },
    "AWS/Lambda": {
        name: {"FunctionName"} for name in ("Duration", "Throttles", "Errors", "DeadLetterErrors")
    },
    "AWS/DynamoDB": {
        "ThrottledRequests": {"TableName", "Operation"},
        "SystemErrors": {"TableName", "Operation"},
        "TransactionConflict": {"TableName"},
    },
    "AWS/SNS": {"NumberOfNotificationsFailed": {"TopicName"}},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible": {"QueueName"}},
}
OUR_NAMES = {
    "ApiName": "shop-webhook",
    "ApiId": "WebhookHttpApi-ref",
    "Stage": "StageName-ref",
    "FunctionName": "WebhookFunction-ref",
    "TableName": "EventsTable-ref",
    "TopicName": "EventsTopic-TopicName",
}
"""Dimension values as ``render`` resolves the dashboard's references to the stack's resources."""


CUSTOM_METRICS = {
    name
    for path in (REPO_ROOT / "functions" / "stripe_webhook").rglob("*.py")
    for name in re.findall(r'count\("(\w+)"\)', path.read_text())
}
"""Every metric the webhook function emits (``observability.count``), read from its source."""
RECONCILER_METRICS = set(observability.RECONCILER_METRICS)
"""What every reconciler run emits (``observability.report_reconciliation``), with a Stripe key."""
ACTION_METRICS = {
    name
    for path in (REPO_ROOT / "functions" / "stripe_actions").glob("*.py")
    for name in re.findall(r'count\("(\w+)"\)', path.read_text())
}
"""What the actions functions emit, per function (dimension ``service`` = ``<stack>-<action>``)."""


ROOT_OPTIONS = ("UseEventBridge", "ExampleConsumer", "ExampleActions", "HttpApi", "HasStripeApiKey")
"""The root's conditions that change what the dashboards show."""


@dataclass
class Scope:
    """Where a value is rendered: the root template, or one nested application of a module."""

    name: str = ""
    """The instance's path ("" for the root, "FulfilOrder", "FulfilOrder.Queue")."""
    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    parent: Scope | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    def physical(self, name: str) -> str:
        """A stand-in physical name for a resource, attribute or pseudo parameter."""
        logical, _, attribute = name.partition(".")
        if logical.startswith("AWS::"):
            return {"AWS::Region": "eu-west-1", "AWS::StackName": "shop"}[logical]
        assert logical in self.resources or logical in TEMPLATE["Parameters"], (self.name, logical)
        qualified = f"{self.name}.{logical}" if self.name else logical
        if attribute == "Arn":
            return f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{qualified}"
        return f"{qualified.replace('.', '-')}-{attribute or 'ref'}"

    def child(self, logical: str) -> Scope:
        """The scope of the nested application ``logical`` in this one."""
        resource = self.resources[logical]
        module = load_module(Path(resource["Properties"]["Location"]).stem)
        defaults = {key: spec["Default"] for key, spec in module["Parameters"].items() if "Default" in spec}
        parameters = {**defaults, **resource["Properties"]["Parameters"]}
        name = f"{self.name}.{logical}" if self.name else logical
        conditions = monitoring_conditions(self.conditions) if logical == "Monitoring" else {}
        conditions = conditions or conditions_of(module, parameters)
        return Scope(name, parameters, conditions, self, module["Resources"])


def render(value: Any, scope: Scope) -> str:
    """A string-valued intrinsic as CloudFormation resolves it, with stand-in physical names."""
    if isinstance(value, (str, int)):
        return str(value)
    if "Ref" in value:
        name = value["Ref"]
        if name in scope.parameters:
            assert scope.parent is not None
            return render(scope.parameters[name], scope.parent)
        return scope.physical(name)
    if "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        if attribute.startswith("Outputs."):
            child = scope.child(logical)
            output = load_module(Path(scope.resources[logical]["Properties"]["Location"]).stem)["Outputs"]
            return render(output[attribute.removeprefix("Outputs.")]["Value"], child)
        return scope.physical(f"{logical}.{attribute}")
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(part, scope) for part in parts)
    if "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        return render(when_true if scope.conditions[condition] else when_false, scope)
    if "Fn::Select" in value:
        index, listed = value["Fn::Select"]
        assert listed == {"Ref": "Kit"} and scope.parent is not None, value
        place = kit_places()[index["Fn::FindInMap"][1]]  # a shared value, by its name
        return render(kit()[place], scope.parent.parent or scope.parent)
    if "Fn::FindInMap" in value:
        mapping, key, item = value["Fn::FindInMap"]
        default = TEMPLATE["Parameters"][key["Ref"]]["Default"]
        return str(TEMPLATE["Mappings"][mapping][default][item])
    if "Fn::Sub" in value:
        template, variables = (
            value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
        )
        own = {name: render(variable, scope) for name, variable in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in own:
                return own[name]
            return render({"Ref": name}, scope) if "." not in name else scope.physical(name)

        return re.sub(r"\$\{([^}]+)\}", substitute, template)
    raise AssertionError(f"unexpected intrinsic {value}")


def monitoring_conditions(root: dict[str, bool]) -> dict[str, bool]:
    """The monitoring module's conditions, as the root's options make them."""
    return {
        "HttpApi": root["HttpApi"],
        "Reconciler": root["HasStripeApiKey"],
        "EventBridge": root["UseEventBridge"],
    }


def _widgets(conditions: dict[str, bool]) -> list[dict[str, Any]]:
    monitoring = Scope(resources=RESOURCES, conditions=conditions).child("Monitoring")
    body = MONITORING["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    widgets: list[dict[str, Any]] = json.loads(render(body, monitoring))["widgets"]
    return widgets


@pytest.mark.parametrize(
    "optional",
    [True, False],
    ids=["with EventBridge, example consumer, actions and an HTTP API", "without, REST API"],
)
def test_the_dashboard_plots_only_metrics_that_exist_and_every_one_the_function_emits(optional: bool) -> None:
    conditions = dict.fromkeys(ROOT_OPTIONS, optional)
    widgets = _widgets(conditions)

    plotted: set[tuple[str, str]] = set()
    for widget in widgets:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):  # every action's, found by search: no list of actions
                (searched,) = re.findall(
                    r"\{StripeWebhooks,service\} MetricName=(\w+) service=shop'", line[0]["expression"]
                )
                plotted.add(("StripeWebhooks", searched))
                continue
            values = [part for part in line if isinstance(part, str)]
            namespace, name, dimensions = (
                values[0],
                values[1],
                dict(zip(values[2::2], values[3::2], strict=True)),
            )
            plotted.add((namespace, name))
            if namespace == "StripeWebhooks":
                assert name in CUSTOM_METRICS | RECONCILER_METRICS and dimensions == {"service": "shop"}, line
            else:
                expected = AWS_METRICS[namespace][name]
                if namespace == "AWS/ApiGateway":  # the API in use names it
                    expected = {"ApiId", "Stage"} if conditions["HttpApi"] else {"ApiName", "Stage"}
                    assert name in AWS_METRICS[namespace], line
                assert set(dimensions) == expected, line
                for key, value in dimensions.items():  # always this stack's own resources
                    if key == "QueueName":  # a dead-letter queue, or an action's own queue
                        assert value.endswith(("DeadLetterQueue-QueueName", "-Queue-QueueName")), line
                    elif key == "Operation":
                        assert value in ("TransactWriteItems", "UpdateItem"), line
                    else:
                        assert value == OUR_NAMES[key], line
    emitted = CUSTOM_METRICS | ACTION_METRICS | (RECONCILER_METRICS if optional else set())
    assert {name for namespace, name in plotted if namespace == "StripeWebhooks"} == emitted
    queues = {
        dimension
        for widget in widgets
        for line in widget["properties"].get("metrics", [])
        for dimension in line
        if isinstance(dimension, str) and "DeadLetterQueue" in dimension
    }
    assert len(queues) == (2 if optional else 0)  # example consumer, EventBridge (each action: its own)

    # The log widgets read the function's own log group, by the fields report_failure logs
    queries = [widget["properties"]["query"] for widget in widgets if widget["type"] == "log"]
    assert len(queries) == 2 and all("SOURCE 'WebhookFunctionLogGroup-ref'" in query for query in queries)
    assert all("by error" in query for query in queries)

    # The alarm widget shows every alarm the stack has
    (alarm_widget,) = [widget for widget in widgets if widget["type"] == "alarm"]
    own = monitoring_conditions(conditions)
    alarms = {
        f"Monitoring.{logical}"
        for logical, resource in MONITORING["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and own.get(resource.get("Condition", ""), True)
    }
    assert {arn.rsplit(":", 1)[1] for arn in alarm_widget["properties"]["alarms"]} == alarms


@pytest.mark.parametrize("logical", sorted(action_instances()))
def test_each_action_s_dashboard_plots_its_queues_and_effects_and_lists_its_alarms(logical: str) -> None:
    """Each action brings its own dashboard (<stack>-action-<name>): the root lists no action."""
    conditions = dict.fromkeys(ROOT_OPTIONS, True)
    action = Scope(resources=RESOURCES, conditions=conditions).child(logical)
    properties = action_module()["Resources"]["Dashboard"]["Properties"]
    name = action_instances()[logical].name
    assert render(properties["DashboardName"], action) == f"shop-action-{name}"
    graph, alarm_widget = json.loads(render(properties["DashboardBody"], action))["widgets"]
    lines = graph["properties"]["metrics"]
    assert {line[-2] for line in lines if line[0] == "AWS/SQS"} == {
        f"{logical}-Queue-DeadLetterQueue-QueueName",
        f"{logical}-Queue-Queue-QueueName",
    }
    assert {(line[1], line[3]) for line in lines if line[0] == "StripeWebhooks"} == {
        (metric, f"shop-{name}") for metric in ACTION_METRICS
    }
    module_alarms = {
        alarm for alarm, r in action_module()["Resources"].items() if r["Type"].endswith("Alarm")
    }
    assert {arn.rsplit(":", 1)[1] for arn in alarm_widget["properties"]["alarms"]} == {
        f"{logical}.{alarm}" for alarm in module_alarms
    }


def test_the_dashboard_url_is_an_output() -> None:
    url = TEMPLATE["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert "#dashboards/dashboard/${Monitoring.Outputs.DashboardName}" in url
    assert MONITORING["Outputs"]["DashboardName"]["Value"] == {"Ref": "OperationsDashboard"}


def test_alarms_cover_errors_5xx_signature_spikes_and_throttles_and_notify_the_alarm_topic() -> None:
    from contract import METRICS_NAMESPACE

    alarms = {
        name: r["Properties"]
        for name, r in MONITORING["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    api_5xx = alarms["Api5xxRateAlarm"]["MetricName"]
    assert api_5xx == {"Fn::If": ["HttpApi", "5xx", "5XXError"]}  # each API type's own metric
    names = [(alarm["Namespace"], alarm["MetricName"]) for alarm in alarms.values() if "Metrics" not in alarm]
    watched = {(space, name if isinstance(name, str) else name["Fn::If"][2]) for space, name in names}
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5XXError"),
        (METRICS_NAMESPACE, "SignatureFailures"),
        (METRICS_NAMESPACE, "ProcessingFailures"),
    } <= watched
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopicArn"}]
        # a reconciler that stops reporting is as bad as one that is behind
        assert alarm["TreatMissingData"] == (
            "breaching" if name == "ReconcilerBehindAlarm" else "notBreaching"
        )
    ours = [alarm for alarm in alarms.values() if alarm.get("Namespace") == METRICS_NAMESPACE]
    assert all(alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "StackName"}}] for alarm in ours)
    assert MONITORING_PARAMETERS["StackName"] == {"Ref": "AWS::StackName"}
    assert MONITORING_PARAMETERS["AlarmTopicArn"] == {"Ref": "AlarmTopic"}
    function = function_properties("WebhookFunction")
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    # the optional parts' alarms exist with the part, and watch its own resources
    conditions = {name: r.get("Condition") for name, r in MONITORING["Resources"].items()}
    assert conditions["ReconcilerBehindAlarm"] == "Reconciler" == conditions["StripeEndpointDisabledAlarm"]
    assert conditions["EventBridgeDeadLettersAlarm"] == "EventBridge"
    assert MONITORING_PARAMETERS["ReconcilerFunctionName"] == {
        "Fn::If": ["HasStripeApiKey", {"Fn::GetAtt": ["Reconciler", "Outputs.FunctionName"]}, ""]
    }
    assert MONITORING_PARAMETERS["EventBridgeDeadLetterQueueName"] == {
        "Fn::If": ["UseEventBridge", {"Fn::GetAtt": ["EventBridgeDeadLetterQueue", "QueueName"]}, ""]
    }
