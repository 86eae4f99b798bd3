"""Every role in template.yaml and its modules, read statement by statement: each grants exactly
what docs/permissions.md lists for it, on exactly the resources it names, and nothing else. A
function never gets SAM's generated role (with AWSLambdaBasicExecutionRole: logs on every group)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.template import action_instances, instance_parameters, load_module, load_template
from tests.integration.test_action_module import COMMON_GRANTS, USES
from tests.modules import conditions_of, role_statements, targets

TEMPLATE = load_template()
DOC = (REPO_ROOT / "docs" / "permissions.md").read_text()

Grants = dict[str, tuple[set[str], set[str]]]
"""Statement id → (its actions, the resources it names: root logical ids or parameters)."""

WEBHOOK: Grants = {
    "EventLogAndRecords": ({"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"}, {"EventsTable"}),
    "PublishEvents": ({"sns:Publish"}, {"EventsTopic"}),
    "StoreLargePayloads": ({"s3:PutObject", "s3:GetObject"}, {"PayloadBucket"}),
    "ReadSigningSecret": ({"secretsmanager:GetSecretValue"}, {"WebhookSecret", "ExistingSecretArn"}),
    "ReadThinSigningSecret": ({"secretsmanager:GetSecretValue"}, {"ThinWebhookSecret"}),
    "ReadStripeApiKey": ({"secretsmanager:GetSecretValue"}, {"StripeApiKeySecretArn"}),
    "DeadLetterFailedEventBridgeEvents": ({"sqs:SendMessage"}, {"EventBridgeDeadLetterQueue"}),
    "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"WebhookFunctionLogGroup"}),
}
RECONCILER: Grants = {
    "EventLogRecordsAndReconcilerState": (
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"},
        {"EventsTable"},
    ),
    "PublishEvents": ({"sns:Publish"}, {"EventsTopic"}),
    "StoreLargePayloads": ({"s3:PutObject", "s3:GetObject"}, {"PayloadBucket"}),
    "ReadStripeApiKey": ({"secretsmanager:GetSecretValue"}, {"StripeApiKeySecretArn"}),
    "WriteOwnLogs": ({"logs:CreateLogStream", "logs:PutLogEvents"}, {"LogGroup"}),
}
ACTION: Grants = {
    **COMMON_GRANTS,
    **{sid: grant for grants in USES.values() for sid, grant in grants.items()},
}
"""Every statement an action's role may have; each instance gets the common five and those its
parameters ask for (tests/integration/test_action_module.py checks which)."""


def named(value: Any, parameters: dict[str, Any]) -> set[str]:
    """The root resources (or module resources) a module value names, through its parameters."""
    found = set()
    for name in targets(value):
        found |= targets(parameters[name]) if name in parameters else {name}
    return found


def check(statements: list[dict[str, Any]], allowed: Grants, parameters: dict[str, Any]) -> set[str]:
    """Each statement is one of ``allowed``, with its actions and resources; the ids seen."""
    seen = set()
    for statement in statements:
        sid = statement["Sid"]
        assert sid in allowed, f"{sid} is not documented"
        assert statement["Effect"] == "Allow", sid
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        expected_actions, expected_resources = allowed[sid]
        assert set(actions) == expected_actions, sid
        assert statement["Resource"] != "*" or sid == "SendEmail", sid
        assert named(statement["Resource"], parameters) == expected_resources, sid
        seen.add(sid)
    return seen


def test_the_webhook_role_grants_what_its_code_calls_on_this_stack_s_resources_only() -> None:
    statements = role_statements(TEMPLATE, "WebhookRole", {})
    assert check(statements, WEBHOOK, {}) == set(WEBHOOK)
    function = TEMPLATE["Resources"]["WebhookFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["WebhookRole", "Arn"]} and "Policies" not in function
    (stored,) = [s for s in statements if s["Sid"] == "StoreLargePayloads"]
    assert stored["Resource"] == {"Fn::Sub": "${PayloadBucket.Arn}/events/*"}


def test_the_reconciler_role_writes_what_a_delivery_writes_and_reads_only_the_stripe_key() -> None:
    module = load_module("reconciler")
    parameters = instance_parameters("Reconciler")
    assert check(role_statements(module, "Role", parameters), RECONCILER, parameters) == set(RECONCILER)


@pytest.mark.parametrize("logical", sorted(action_instances()))
def test_each_action_role_is_within_what_an_action_may_do(logical: str) -> None:
    module = load_module("action")
    parameters = action_instances()[logical].parameters
    seen = check(role_statements(module, "Role", parameters), ACTION, parameters)
    assert {
        "PollOwnQueue",
        "IdempotencyRecords",
        "ReadEffectsBeforeScopes",
        "ReadLargePayloads",
        "WriteOwnLogs",
    } <= seen
    conditions = conditions_of(module, parameters)
    assert ("ReadRecords" in seen) == conditions["ReadsRecords"]


def test_every_role_is_one_the_docs_list_and_no_function_gets_sam_s_generated_role() -> None:
    templates = {"template.yaml": TEMPLATE} | {
        f"infra/modules/{name}.yaml": load_module(name)
        for name in ("action", "queue", "monitoring", "reconciler")
    }
    roles = set()
    for path, template in templates.items():
        for logical, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                roles.add(f"{path}:{logical}")
            if resource["Type"] == "AWS::Serverless::Function":
                assert "Role" in resource["Properties"], f"{path}:{logical} would get SAM's role"
    assert roles == {
        "template.yaml:WebhookRole",
        "template.yaml:ApiGatewayCloudWatchRole",
        "infra/modules/action.yaml:Role",
        "infra/modules/reconciler.yaml:Role",
    }
    managed = TEMPLATE["Resources"]["ApiGatewayCloudWatchRole"]["Properties"]["ManagedPolicyArns"]
    assert managed == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]


@pytest.mark.parametrize(
    ("heading", "grants"),
    [("The webhook function", WEBHOOK), ("The reconciler", RECONCILER), ("Each action", ACTION)],
)
def test_the_docs_list_every_grant(heading: str, grants: Grants) -> None:
    section = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    for sid, (actions, _) in grants.items():
        assert f"`{sid}`" in section, sid
        for action in actions:
            assert re.search(rf"`{re.escape(action)}`", section), (sid, action)
