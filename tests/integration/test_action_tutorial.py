"""docs/actions.md's tutorial, followed as written: its class, its one-line registration and its
template lines make an action that the local stack deploys and runs on moto."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml

import infra.template
from infra import REPO_ROOT
from infra.fixtures.payloads import fresh_event, merge
from infra.template import action_instances, action_module, load_template
from stripe_actions import composition
from tests.integration.conftest import Aws, actions_on
from tests.support import deliver

DOC = (REPO_ROOT / "docs" / "actions.md").read_text()
TUTORIAL = DOC[DOC.index('## From "I want to do X') : DOC.index("## What an action may do")]
BLOCKS = [
    (language, textwrap.dedent(code))
    for language, code in re.findall(r"```(\w+)\n(.*?)```", TUTORIAL, flags=re.DOTALL)
]
CLASS_SOURCE = next(code for language, code in BLOCKS if language == "python" and "class GrantCourse" in code)
TEMPLATE_BLOCKS = [code for language, code in BLOCKS if language == "yaml"]
REGISTRATION = re.search(r'`("grant_course": lambda ports: [^`]+)`', TUTORIAL)


def tutorial_template() -> dict[str, Any]:
    """template.yaml with the tutorial's lines added where it says."""
    template = load_template()
    instance_block, dashboard_block = TEMPLATE_BLOCKS
    (logical, resource), *_ = yaml.load(instance_block, Loader=infra.template._CloudFormationLoader).items()
    template["Resources"][logical] = resource
    dashboard = yaml.load(dashboard_block, Loader=infra.template._CloudFormationLoader)
    parameters = template["Resources"]["Monitoring"]["Properties"]["Parameters"]
    metrics = next(
        part["Fn::If"][1]["Fn::Join"][1]
        for part in parameters["DeadLetterMetrics"]["Fn::Join"][1]
        if part["Fn::If"][0] == "ExampleActions"
    )
    alarms = parameters["MoreAlarms"]["Fn::If"][1]["Fn::Join"][1]
    for lines, line in zip((metrics, alarms), dashboard, strict=True):
        lines.append(line)
    return template


def test_the_tutorial_adds_an_action_in_at_most_fifteen_lines_of_template() -> None:
    assert len(TEMPLATE_BLOCKS) == 2
    assert sum(len(block.strip().splitlines()) for block in TEMPLATE_BLOCKS) <= 15
    assert REGISTRATION is not None
    resources = tutorial_template()["Resources"]
    grant = resources["GrantCourse"]
    assert grant["Type"] == "AWS::Serverless::Application"
    required = {name for name, spec in action_module()["Parameters"].items() if "Default" not in spec}
    assert required <= set(grant["Properties"]["Parameters"])
    dashboard = str(resources["Monitoring"]["Properties"]["Parameters"])
    assert "'GrantCourse', 'Outputs.DashboardMetrics'" in dashboard
    assert "'GrantCourse', 'Outputs.DashboardAlarms'" in dashboard


def test_the_tutorial_action_is_deployed_and_run_by_the_local_stack(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stripe_actions.actions import Run, Wait
    from stripe_actions.adapters import ActionsTable
    from stripe_actions.messages import ActionEvent

    namespace: dict[str, Any] = {
        "ActionsTable": ActionsTable,
        "ActionEvent": ActionEvent,
        "Run": Run,
        "Wait": Wait,
    }
    exec(CLASS_SOURCE, namespace)
    assert REGISTRATION is not None
    name, builder = eval("{" + REGISTRATION.group(1) + "}", namespace).popitem()
    monkeypatch.setitem(composition.BUILDERS, name, builder)
    template = tutorial_template()
    monkeypatch.setattr(infra.template, "_template", lambda: template)
    instance = action_instances()["GrantCourse"]
    assert instance.name == name
    actions = actions_on(aws)
    assert (
        set(actions.resources.queues) == set(composition.BUILDERS)
        and "grant_course" in actions.resources.queues
    )

    event = fresh_event("checkout.session.completed")
    merge(event["data"]["object"], {"id": "cs_test_course_1", "client_reference_id": "course-42"})
    assert deliver(event, secret).body["status"] == "processed"
    outcomes = actions.lines(actions.run())
    other = fresh_event("customer.subscription.created")  # not its type: its filter keeps it out
    assert deliver(other, secret).body["status"] == "processed"
    later = actions.lines(actions.run("grant_course"))

    assert "action grant_course cs_test_course_1 done (course granted)" in outcomes
    assert any(line.startswith("action fulfil_order cs_test_course_1 done") for line in outcomes)
    assert later == []
    item = actions.item("COURSE#cs_test_course_1", "GRANT")
    assert item is not None and item["course"] == "course-42"
