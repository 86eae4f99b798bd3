"""docs/actions.md's tutorial, followed as written: its class (registered by its decorator) and
its one template instance make an action that the local stack deploys and runs on moto."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

import infra.template
from infra import REPO_ROOT
from infra.fixtures.payloads import fresh_event, merge
from infra.template import action_instances, action_module, load_template
from stripe_actions import composition
from stripe_actions.actions import REGISTERED
from tests.integration.conftest import Aws, actions_on
from tests.support import deliver

DOC = (REPO_ROOT / "docs" / "actions.md").read_text()
TUTORIAL = DOC[DOC.index('## From "I want to do X') : DOC.index("## What an action may do")]
BLOCKS = [
    (language, textwrap.dedent(code))
    for language, code in re.findall(r"```(\w+)\n(.*?)```", TUTORIAL, flags=re.DOTALL)
]
CLASS_SOURCE = next(code for language, code in BLOCKS if language == "python" and "class GrantCourse" in code)
(TEMPLATE_BLOCK,) = [code for language, code in BLOCKS if language == "yaml"]


def tutorial_template() -> dict[str, Any]:
    """template.yaml with the tutorial's instance added where it says."""
    template = load_template()
    (logical, resource), *_ = yaml.load(TEMPLATE_BLOCK, Loader=infra.template._CloudFormationLoader).items()
    template["Resources"][logical] = resource
    return template


@pytest.fixture
def registry() -> Iterator[None]:
    """The registry as it was after the test (the tutorial's class registers itself)."""
    before = dict(REGISTERED)
    yield
    REGISTERED.clear()
    REGISTERED.update(before)


def test_the_tutorial_adds_an_action_in_one_instance_of_at_most_ten_lines() -> None:
    assert len(TEMPLATE_BLOCK.strip().splitlines()) <= 10
    resources = tutorial_template()["Resources"]
    grant = resources["GrantCourse"]
    assert grant["Type"] == "AWS::Serverless::Application"
    required = {name for name, spec in action_module()["Parameters"].items() if "Default" not in spec}
    assert required <= set(grant["Properties"]["Parameters"])
    assert "GrantCourse" not in str(resources["Monitoring"])  # the root lists no action


def test_the_tutorial_action_is_deployed_and_run_by_the_local_stack(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch, registry: None
) -> None:
    from stripe_actions.actions import Ports, Run, Wait, register_action
    from stripe_actions.messages import ActionEvent

    namespace: dict[str, Any] = {
        "register_action": register_action,
        "Ports": Ports,
        "ActionEvent": ActionEvent,
        "Run": Run,
        "Wait": Wait,
    }
    exec(CLASS_SOURCE, namespace)
    template = tutorial_template()
    monkeypatch.setattr(infra.template, "_template", lambda: template)
    instance = action_instances()["GrantCourse"]
    assert instance.name == "grant_course" and "grant_course" in composition.registered()
    actions = actions_on(aws)
    assert set(actions.resources.queues) == set(composition.registered())

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
