"""infra/modules/action.yaml, one nested application per action: each instance gets every part,
its own filter, grants for its own effects and nothing more, and the root's shared settings."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.template import action_instances, action_module, load_module, load_template, module_properties
from tests.modules import conditions_of, kit, kit_places, resolve, role_statements, targets

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
    "Dashboard": "AWS::CloudWatch::Dashboard",
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
    examples = {"FulfilOrder": "fulfil_order", "Entitlement": "entitlement", "DisputeAlert": "dispute_alert"}
    assert examples.items() <= {logical: instance.name for logical, instance in INSTANCES.items()}.items()
    required = {name for name, spec in MODULE["Parameters"].items() if "Default" not in spec}
    for logical, instance in INSTANCES.items():
        assert RESOURCES[logical]["Condition"] == "ExampleActions"
        assert required <= set(RESOURCES[logical]["Properties"]["Parameters"]), logical
        assert instance.parameters["Kit"] == {"Fn::GetAtt": ["ActionKit", "Value"]}
        assert set(instance.parameters) <= set(MODULE["Parameters"]), logical


def test_an_instance_is_at_most_ten_lines_and_nothing_else_in_the_root_names_it() -> None:
    """An action is its class and one instance: the root template names it nowhere else."""
    lines = (REPO_ROOT / "template.yaml").read_text().splitlines()
    for logical in INSTANCES:
        start = lines.index(f"  {logical}:")
        end = next(n for n in range(start + 1, len(lines)) if not lines[n].startswith("    "))
        assert end - start <= 10, logical
        elsewhere = [line for n, line in enumerate(lines) if logical in line and not start <= n < end]
        assert elsewhere == [], logical


def test_the_kit_is_read_by_name_in_the_order_the_root_writes_it() -> None:
    """The root writes the shared values in one list; the module reads each by its name (its
    ``Kit`` mapping): each name is the root parameter or resource at that place."""
    written = [value["Ref"].removeprefix("AWS::") for value in kit()]
    assert kit_places() == {name: place for place, name in enumerate(written)}
    module_text = (REPO_ROOT / "infra" / "modules" / "action.yaml").read_text()
    assert re.findall(r"!Select \[\d+, !Ref Kit\]", module_text) == []  # never by position


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
    assert json.loads(queue["FilterPolicy"]) == INSTANCES["FulfilOrder"].filter_policy
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
    limit = resolve(mapping["ScalingConfig"]["MaximumConcurrency"], {})
    assert limit == {"Ref": "ActionsMaximumConcurrency"}
    assert TEMPLATE["Parameters"]["ActionsMaximumConcurrency"]["MinValue"] == 2  # Lambda's floor
    assert mapping["BatchSize"] == 10
    assert MODULE["Resources"]["EventSource"]["DependsOn"] == "LogsPolicy"  # logs before traffic
    # SAM's SQS event would add AWSLambdaSQSQueueExecutionRole (every queue in the account)
    assert "Events" not in function and function["Role"] == {"Fn::GetAtt": ["Role", "Arn"]}
    subscription = module_properties("Subscription", "queue")
    assert subscription["RawMessageDelivery"] is True
    assert subscription["FilterPolicy"] == {"Ref": "FilterPolicy"}
    assert targets(subscription["RedrivePolicy"]["deadLetterTargetArn"]) == {"DeadLetterQueue"}


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
        {
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        {"ActionsIdempotencyTable"},
    ),
    "ReadEffectsBeforeScopes": ({"dynamodb:GetItem"}, {"ActionsIdempotencyTable"}),
    "ReadLargePayloads": ({"s3:GetObject"}, {"PayloadBucket"}),
    "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"LogGroup"}),
}
"""What every action may do (docs/actions.md#what-an-action-may-do)."""


USES: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "records": {
        "ReadRecords": (
            {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"},
            {"EventsTable"},
        )
    },
    "keys": {"OwnRecords": ({"dynamodb:PutItem", "dynamodb:GetItem"}, {"ActionsTable"})},
    "email": {"SendEmail": ({"ses:SendEmail"}, set())},
    "alerts": {"Notify": ({"sns:Publish"}, {"AlertTopic"})},
}
"""What each word of an instance's ``Uses`` grants beyond what every action may do."""


@pytest.mark.parametrize("logical", sorted(INSTANCES))
def test_each_action_may_do_its_own_action_and_nothing_more(logical: str) -> None:
    instance = INSTANCES[logical]
    granted = statements(logical)
    expected: dict[str, tuple[set[str], set[str]]] = {**COMMON_GRANTS}
    for word in instance.uses:
        expected |= USES[word]
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
    if "OwnRecords" in granted:  # its own prefix only
        keys = granted["OwnRecords"]["Condition"][leading]["dynamodb:LeadingKeys"]
        assert keys == [f"{instance.own_keys}*"] and instance.own_keys.endswith("#")
    if "SendEmail" in granted:
        assert granted["SendEmail"]["Condition"]["StringEquals"]["ses:FromAddress"] == {
            "Ref": "ReceiptSenderEmail"
        }


def test_the_examples_use_what_their_effects_need() -> None:
    assert INSTANCES["FulfilOrder"].uses == {"records", "keys", "email"}
    assert INSTANCES["FulfilOrder"].own_keys == "FULFILMENT#"
    assert INSTANCES["Entitlement"].uses == {"records", "keys"}
    assert INSTANCES["Entitlement"].own_keys == "ENTITLEMENT#"
    assert INSTANCES["DisputeAlert"].uses == {"alerts"}


def test_alerts_with_payment_data_go_to_an_encrypted_topic_not_the_alarm_topic() -> None:
    assert RESOURCES["AlertTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert statements("DisputeAlert")["Notify"]["Resource"] == {"Ref": "AlertTopic"}
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


def test_each_action_has_its_own_dashboard_and_the_overview_finds_every_action_by_search() -> None:
    dashboard = MODULE["Resources"]["Dashboard"]["Properties"]
    body = dashboard["DashboardBody"]["Fn::Sub"][0]
    for part in ("${DeadLetters}", "${Waiting}", "${DeadLettersAlarm.Arn}", "${UncertainEffectsAlarm.Arn}"):
        assert part in body
    json.loads(re.sub(r"\$\{[^}]+\}", "x", body))  # the dashboard's JSON, once substituted
    assert dashboard["DashboardName"]["Fn::Sub"][0] == "${Stack}-action-${Name}"
    overview = (REPO_ROOT / "infra" / "modules" / "monitoring.yaml").read_text()
    for metric in ("ActionsUncertain", "PoisonMessages"):
        assert f"SEARCH('{{StripeWebhooks,service}} MetricName={metric} service=${{StackName}}'" in overview
    assert "MoreAlarms" not in str(RESOURCES["Monitoring"])
