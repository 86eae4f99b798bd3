"""infra/modules/action.yaml, one nested application per action: each instance gets every part,
its own filter, grants for its own effects and nothing more, and the root's shared settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.template import action_instances, action_module, load_template, module_properties

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
MODULE = action_module()
INSTANCES = action_instances()
KIT: list[Any] = RESOURCES["ActionKit"]["Properties"]["Value"]["Fn::Join"][1]
"""The root's shared settings, in the order the module reads them (``!Select [i, !Ref Kit]``)."""
NO_VALUE = object()

PARTS = {
    "Queue": "AWS::SQS::Queue",
    "DeadLetterQueue": "AWS::SQS::Queue",
    "QueuePolicy": "AWS::SQS::QueuePolicy",
    "Subscription": "AWS::SNS::Subscription",
    "Function": "AWS::Serverless::Function",
    "Role": "AWS::IAM::Role",
    "LogGroup": "AWS::Logs::LogGroup",
    "LogsPolicy": "AWS::IAM::RolePolicy",
    "EventSource": "AWS::Lambda::EventSourceMapping",
    "DeadLettersAlarm": "AWS::CloudWatch::Alarm",
    "UncertainEffectsAlarm": "AWS::CloudWatch::Alarm",
}


def resolve(value: Any, parameters: dict[str, Any], *, fifo: bool = False) -> Any:
    """A module value as CloudFormation resolves it for one instance: its parameters and the
    kit substituted, conditions decided; root references (``!Ref EventsTable``) and the module's
    own resources (``!GetAtt Queue.Arn``) are kept as written."""
    if isinstance(value, list):
        resolved = [resolve(item, parameters, fifo=fifo) for item in value]
        return [item for item in resolved if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if set(value) == {"Fn::Select"} and value["Fn::Select"][1] == {"Ref": "Kit"}:
        return KIT[value["Fn::Select"][0]]
    if set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if holds(condition, parameters, fifo=fifo) else when_false
        return resolve(chosen, parameters, fifo=fifo)
    properties = {key: resolve(inner, parameters, fifo=fifo) for key, inner in value.items()}
    return {key: inner for key, inner in properties.items() if inner is not NO_VALUE}


def holds(condition: str, parameters: dict[str, Any], *, fifo: bool = False) -> bool:
    expression = MODULE["Conditions"][condition]
    negate = "Fn::Not" in expression
    if negate:
        expression = expression["Fn::Not"][0]
    left, right = (resolve(side, parameters, fifo=fifo) for side in expression["Fn::Equals"])
    if left == {"Ref": "TopicType"}:
        left = "fifo" if fifo else "standard"
    # a root reference (!Ref ReceiptSenderEmail) stands for a value given at deploy: not empty here
    equal = left == right if isinstance(left, str) else False
    return equal != negate


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
    if "Fn::Sub" in value:
        template, variables = (
            value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
        )
        named = {name.split(".")[0] for name in re.findall(r"\$\{([^}]+)\}", template)}
        found = {name for name in named if not name.startswith("AWS::") and name not in variables}
        return found | targets(list(variables.values()))
    return set()


def statements(instance_id: str) -> dict[str, dict[str, Any]]:
    parameters = INSTANCES[instance_id].parameters
    (policy,) = MODULE["Resources"]["Role"]["Properties"]["Policies"]
    resolved = resolve(policy["PolicyDocument"]["Statement"], parameters)
    logs = resolve(MODULE["Resources"]["LogsPolicy"]["Properties"]["PolicyDocument"]["Statement"], parameters)
    return {statement["Sid"]: statement for statement in [*resolved, *logs]}


def test_the_example_actions_are_off_by_default_and_each_is_one_instance_of_the_module() -> None:
    assert TEMPLATE["Parameters"]["DeployExampleActions"]["Default"] == "false"
    assert {logical: instance.name for logical, instance in INSTANCES.items()} == {
        "FulfilOrder": "fulfil_order",
        "Entitlement": "entitlement",
        "DisputeAlert": "dispute_alert",
    }
    required = {name for name, spec in MODULE["Parameters"].items() if "Default" not in spec}
    for logical, instance in INSTANCES.items():
        assert RESOURCES[logical]["Condition"] == "ExampleActions"
        assert required <= set(RESOURCES[logical]["Properties"]["Parameters"]), logical
        assert instance.parameters["Kit"] == {"Fn::GetAtt": ["ActionKit", "Value"]}
        assert set(instance.parameters) <= set(MODULE["Parameters"]), logical


def test_the_module_has_every_part_of_an_action() -> None:
    assert {name: resource["Type"] for name, resource in MODULE["Resources"].items()} == PARTS
    assert not any("Condition" in resource for resource in MODULE["Resources"].values())


def test_the_kit_gives_each_setting_to_the_part_that_uses_it() -> None:
    parameters = next(iter(INSTANCES.values())).parameters
    variables = resolve(module_properties("Function")["Environment"]["Variables"], parameters)
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "ActionsIdempotencyTable"}
    assert variables["PAYLOAD_BUCKET"] == {"Ref": "PayloadBucket"}
    assert variables["TABLE_NAME"] == {"Ref": "EventsTable"}
    assert variables["ACTIONS_TABLE"] == {"Ref": "ActionsTable"}
    assert variables["ACTIONS_REMEMBER_DAYS"] == {"Ref": "EventRetentionDays"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"]["Fn::Sub"][1] == {"Stack": {"Ref": "AWS::StackName"}}
    assert resolve(module_properties("Subscription")["TopicArn"], parameters) == {"Ref": "EventsTopic"}
    log_group = resolve(module_properties("LogGroup"), parameters)
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for alarm in ("DeadLettersAlarm", "UncertainEffectsAlarm"):
        assert resolve(module_properties(alarm)["AlarmActions"], parameters) == [{"Ref": "AlarmTopic"}]
    assert KIT[2] == {"Ref": "TopicType"} and MODULE["Conditions"]["Fifo"]["Fn::Equals"][1] == "fifo"
    assert resolve(module_properties("Queue"), parameters, fifo=True)["FifoQueue"] is True
    assert "FifoQueue" not in resolve(module_properties("Queue"), parameters)


def test_each_queue_waits_for_its_function_and_dead_letters_after_a_few_receives() -> None:
    queue, function = module_properties("Queue"), module_properties("Function")
    mapping = module_properties("EventSource")
    # AWS: a source queue's visibility timeout at least six times the function's timeout
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert targets(queue["RedrivePolicy"]["deadLetterTargetArn"]) == {"DeadLetterQueue"}
    assert queue["MessageRetentionPeriod"] < module_properties("DeadLetterQueue")["MessageRetentionPeriod"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert targets(mapping["EventSourceArn"]) == {"Queue"}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    assert MODULE["Parameters"]["MaximumConcurrency"]["MinValue"] == 2  # Lambda's floor
    assert mapping["BatchSize"] == 10
    assert MODULE["Resources"]["EventSource"]["DependsOn"] == "LogsPolicy"  # logs before traffic
    # SAM's SQS event would add AWSLambdaSQSQueueExecutionRole (every queue in the account)
    assert "Events" not in function and function["Role"] == {"Fn::GetAtt": ["Role", "Arn"]}
    subscription = module_properties("Subscription")
    assert subscription["RawMessageDelivery"] is True
    assert targets(subscription["RedrivePolicy"]["deadLetterTargetArn"]) == {"DeadLetterQueue"}
    for logical, instance in INSTANCES.items():
        limit = instance.parameters["MaximumConcurrency"]
        assert limit == {"Ref": "ActionsMaximumConcurrency"}, logical


def test_only_this_stack_s_topic_may_send_to_an_action_s_queues() -> None:
    policy = module_properties("QueuePolicy")
    assert targets(policy["Queues"]) == {"Queue", "DeadLetterQueue"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert targets(statement["Resource"]) == {"Queue", "DeadLetterQueue"}
    source = resolve(statement["Condition"]["ArnEquals"]["aws:SourceArn"], {})
    assert source == {"Ref": "EventsTopic"}


COMMON_GRANTS = {
    "PollOwnQueue": ({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}, {"Queue"}),
    "IdempotencyRecords": (
        {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        {"ActionsIdempotencyTable"},
    ),
    "ReadLargePayloads": ({"s3:GetObject"}, {"PayloadBucket"}),
    "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"LogGroup"}),
}
"""What every action may do (docs/actions.md#what-an-action-may-do)."""


@pytest.mark.parametrize(
    ("logical", "own"),
    [
        (
            "FulfilOrder",
            {
                "ReadRecords": ({"dynamodb:Query"}, {"EventsTable"}),
                "OwnRecords": ({"dynamodb:PutItem", "dynamodb:GetItem"}, {"ActionsTable"}),
                "SendEmail": ({"ses:SendEmail"}, set()),
            },
        ),
        (
            "Entitlement",
            {
                "ReadRecords": ({"dynamodb:Query"}, {"EventsTable"}),
                "OwnRecords": ({"dynamodb:PutItem", "dynamodb:GetItem"}, {"ActionsTable"}),
            },
        ),
        ("DisputeAlert", {"Notify": ({"sns:Publish"}, {"AlertTopic"})}),
    ],
)
def test_each_action_may_do_its_own_action_and_nothing_more(
    logical: str, own: dict[str, tuple[set[str], set[str]]]
) -> None:
    granted = statements(logical)
    expected = {**COMMON_GRANTS, **own}
    assert set(granted) == set(expected)
    for sid, (actions, resources) in expected.items():
        statement = granted[sid]
        assert statement["Effect"] == "Allow"
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert set(listed) == actions, sid
        assert targets(statement["Resource"]) == resources, sid
    assert granted["ReadLargePayloads"]["Resource"]["Fn::Sub"][0].endswith("/events/*")
    leading = "ForAllValues:StringLike"
    if "ReadRecords" in granted:  # the webhook's records only, never the event log and its bodies
        assert granted["ReadRecords"]["Condition"][leading]["dynamodb:LeadingKeys"] == ["OBJECT#*"]
    if "OwnRecords" in granted:
        prefix = {"FulfilOrder": "FULFILMENT#", "Entitlement": "ENTITLEMENT#"}[logical]
        keys = granted["OwnRecords"]["Condition"][leading]["dynamodb:LeadingKeys"]
        assert resolve(keys, INSTANCES[logical].parameters) == [{"Fn::Sub": "${OwnKeys}*"}]
        assert INSTANCES[logical].parameters["OwnKeys"] == prefix
    if "SendEmail" in granted:
        assert granted["SendEmail"]["Condition"]["StringEquals"]["ses:FromAddress"] == {
            "Ref": "ReceiptSenderEmail"
        }


def test_alerts_with_payment_data_go_to_an_encrypted_topic_not_the_alarm_topic() -> None:
    assert RESOURCES["AlertTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert INSTANCES["DisputeAlert"].parameters["NotifyTopicArn"] == {"Ref": "AlertTopic"}
    assert TEMPLATE["Outputs"]["AlertTopicArn"]["Value"] == {"Ref": "AlertTopic"}


def test_each_action_alarms_on_its_dead_letters_and_uncertain_effects_under_its_own_service() -> None:
    for instance in INSTANCES.values():
        parameters = instance.parameters
        service = resolve(module_properties("Function")["Environment"]["Variables"], parameters)[
            "POWERTOOLS_SERVICE_NAME"
        ]
        uncertain = resolve(module_properties("UncertainEffectsAlarm"), parameters)
        assert uncertain["MetricName"] == "ActionsUncertain"
        assert uncertain["Dimensions"] == [{"Name": "service", "Value": service}]
        dead = module_properties("DeadLettersAlarm")
        assert dead["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
        for alarm in (uncertain, dead):
            assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_shows_each_action_s_queues_and_alarms() -> None:
    body = str(RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"])
    for logical in INSTANCES:
        for output in ("DashboardMetrics", "DashboardAlarms"):
            assert str({"Fn::GetAtt": [logical, f"Outputs.{output}"]}) in body, (logical, output)
    assert set(MODULE["Outputs"]) >= {"DashboardMetrics", "DashboardAlarms", "QueueUrl", "DeadLetterQueueUrl"}
