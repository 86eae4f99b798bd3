"""infra/modules/action.yaml, one nested application per action: each instance gets every part,
its own filter, grants for its own effects and nothing more, and the root's shared settings."""

from __future__ import annotations

from typing import Any

import pytest

from infra.template import action_instances, action_module, load_module, load_template, module_properties
from tests.modules import conditions_of, kit, resolve, role_statements, targets

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
MODULE = action_module()
QUEUE = load_module("queue")
INSTANCES = action_instances()

PARTS = {
    "Queue": "AWS::Serverless::Application",
    "Function": "AWS::Serverless::Function",
    "Role": "AWS::IAM::Role",
    "LogGroup": "AWS::Logs::LogGroup",
    "LogsPolicy": "AWS::IAM::RolePolicy",
    "EventSource": "AWS::Lambda::EventSourceMapping",
    "DeadLettersAlarm": "AWS::CloudWatch::Alarm",
    "UncertainEffectsAlarm": "AWS::CloudWatch::Alarm",
}
QUEUE_PARTS = {
    "Queue": "AWS::SQS::Queue",
    "DeadLetterQueue": "AWS::SQS::Queue",
    "QueuePolicy": "AWS::SQS::QueuePolicy",
    "Subscription": "AWS::SNS::Subscription",
}


def statements(instance_id: str) -> dict[str, dict[str, Any]]:
    found = role_statements(MODULE, "Role", INSTANCES[instance_id].parameters)
    return {statement["Sid"]: statement for statement in found}


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
    assert {name: resource["Type"] for name, resource in QUEUE["Resources"].items()} == QUEUE_PARTS
    assert module_properties("Queue")["Location"] == "queue.yaml"
    for module in (MODULE, QUEUE):
        assert not any("Condition" in resource for resource in module["Resources"].values())


def test_the_kit_gives_each_setting_to_the_part_that_uses_it() -> None:
    parameters = INSTANCES["FulfilOrder"].parameters
    variables = resolve(
        module_properties("Function")["Environment"]["Variables"],
        parameters,
        conditions_of(MODULE, parameters),
    )
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "ActionsIdempotencyTable"}
    assert variables["PAYLOAD_BUCKET"] == {"Ref": "PayloadBucket"}
    assert variables["TABLE_NAME"] == {"Ref": "EventsTable"}
    assert variables["ACTIONS_TABLE"] == {"Ref": "ActionsTable"}
    assert variables["ACTIONS_REMEMBER_DAYS"] == {"Ref": "EventRetentionDays"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"]["Fn::Sub"][1] == {"Stack": {"Ref": "AWS::StackName"}}
    queue = resolve(module_properties("Queue")["Parameters"], parameters)
    assert queue["TopicArn"] == {"Ref": "EventsTopic"} and queue["TopicType"] == {"Ref": "TopicType"}
    assert queue["FilterPolicy"] == {"Fn::Sub": '{"event_type": ${EventTypes}}'}
    log_group = resolve(module_properties("LogGroup"), parameters)
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for alarm in ("DeadLettersAlarm", "UncertainEffectsAlarm"):
        assert resolve(module_properties(alarm)["AlarmActions"], parameters) == [{"Ref": "AlarmTopic"}]
    assert kit()[0] == {"Ref": "AWS::StackName"}


def test_each_queue_waits_for_its_function_and_dead_letters_after_a_few_receives() -> None:
    queue, function = module_properties("Queue", "queue"), module_properties("Function")
    mapping = module_properties("EventSource")
    # AWS: a source queue's visibility timeout at least six times the function's timeout
    assert module_properties("Queue")["Parameters"]["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["VisibilityTimeout"] == {"Ref": "VisibilityTimeout"}
    assert targets(queue["RedrivePolicy"]["deadLetterTargetArn"]) == {"DeadLetterQueue"}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert (
        queue["MessageRetentionPeriod"]
        < module_properties("DeadLetterQueue", "queue")["MessageRetentionPeriod"]
    )
    for name in ("Queue", "DeadLetterQueue"):  # a FIFO topic delivers to FIFO queues
        assert module_properties(name, "queue")["FifoQueue"] == {
            "Fn::If": ["Fifo", True, {"Ref": "AWS::NoValue"}]
        }
    assert QUEUE["Conditions"]["Fifo"] == {"Fn::Equals": [{"Ref": "TopicType"}, "fifo"]}
    assert QUEUE["Resources"]["DeadLetterQueue"]["DeletionPolicy"] == "Retain"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Outputs.QueueArn"]}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    assert MODULE["Parameters"]["MaximumConcurrency"]["MinValue"] == 2  # Lambda's floor
    assert mapping["BatchSize"] == 10
    assert MODULE["Resources"]["EventSource"]["DependsOn"] == "LogsPolicy"  # logs before traffic
    # SAM's SQS event would add AWSLambdaSQSQueueExecutionRole (every queue in the account)
    assert "Events" not in function and function["Role"] == {"Fn::GetAtt": ["Role", "Arn"]}
    subscription = module_properties("Subscription", "queue")
    assert subscription["RawMessageDelivery"] is True
    assert subscription["FilterPolicy"] == {"Ref": "FilterPolicy"}
    assert targets(subscription["RedrivePolicy"]["deadLetterTargetArn"]) == {"DeadLetterQueue"}
    for logical, instance in INSTANCES.items():
        limit = instance.parameters["MaximumConcurrency"]
        assert limit == {"Ref": "ActionsMaximumConcurrency"}, logical


def test_only_the_events_topic_may_send_to_a_consumer_s_queues() -> None:
    policy = module_properties("QueuePolicy", "queue")
    assert targets(policy["Queues"]) == {"Queue", "DeadLetterQueue"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert targets(statement["Resource"]) == {"Queue", "DeadLetterQueue"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "TopicArn"}
    assert module_properties("Subscription", "queue")["TopicArn"] == {"Ref": "TopicArn"}
    assert RESOURCES["ExampleConsumer"]["Properties"]["Parameters"]["TopicArn"] == {"Ref": "EventsTopic"}
    for instance in INSTANCES.values():
        assert resolve(module_properties("Queue")["Parameters"]["TopicArn"], instance.parameters) == {
            "Ref": "EventsTopic"
        }


COMMON_GRANTS = {
    "PollOwnQueue": ({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}, {"Queue"}),
    "IdempotencyRecords": (
        {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        {"ActionsIdempotencyTable"},
    ),
    "ReadEffectsBeforeScopes": ({"dynamodb:GetItem"}, {"ActionsIdempotencyTable"}),
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
        variables = module_properties("Function")["Environment"]["Variables"]
        service = resolve(variables, parameters, conditions_of(MODULE, parameters))["POWERTOOLS_SERVICE_NAME"]
        uncertain = resolve(module_properties("UncertainEffectsAlarm"), parameters)
        assert uncertain["MetricName"] == "ActionsUncertain"
        assert uncertain["Dimensions"] == [{"Name": "service", "Value": service}]
        dead = module_properties("DeadLettersAlarm")
        assert dead["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["Queue", "Outputs.DeadLetterQueueName"]}
        for alarm in (uncertain, dead):
            assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_shows_each_action_s_queues_and_alarms() -> None:
    body = str(RESOURCES["Monitoring"]["Properties"]["Parameters"])
    for logical in INSTANCES:
        for output in ("DashboardMetrics", "DashboardAlarms"):
            assert str({"Fn::GetAtt": [logical, f"Outputs.{output}"]}) in body, (logical, output)
    assert set(MODULE["Outputs"]) >= {"DashboardMetrics", "DashboardAlarms", "QueueUrl", "DeadLetterQueueUrl"}
