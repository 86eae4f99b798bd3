"""docs/actions.md's tutorial, followed literally on a clean copy of the repository: the class as
the page shows it (then again with the effect ledger), the registration line, the template
lines, and then `make check`'s fast tiers (lint, types, complexity, every unit test) pass."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from infra import REPO_ROOT
from tests.e2e.test_scaffold import copy_of_the_repository, fast_tiers

PAGE = (REPO_ROOT / "docs" / "actions.md").read_text()
TUTORIAL = PAGE[PAGE.index('## From "I want to do X') : PAGE.index("## What an action may do")]
BLOCKS = [
    (language, textwrap.dedent(code))
    for language, code in re.findall(r"```(\w+)\n(.*?)```", TUTORIAL, flags=re.DOTALL)
]
PYTHON = [code for language, code in BLOCKS if language == "python"]
YAML = [code for language, code in BLOCKS if language == "yaml"]
REGISTRATIONS = re.findall(r'`("grant_course": lambda ports: [^`]+)`', TUTORIAL)


def write_class(root: Path, source: str) -> None:
    """Step 1: the class at the end of examples.py (replacing the one written before)."""
    examples = root / "functions" / "stripe_actions" / "examples.py"
    text = examples.read_text().split("\n\n\nclass GrantCourse:", 1)[0].rstrip("\n")
    examples.write_text(text + "\n\n\n" + source.rstrip() + "\n")


def register(root: Path, line: str) -> None:
    """Step 2: the line in BUILDERS, and the class imported beside the examples."""
    composition = root / "functions" / "stripe_actions" / "composition.py"
    text = re.sub(r'\n    "grant_course": [^\n]*', "", composition.read_text())
    text = text.replace(
        "from stripe_actions.examples import DisputeAlert, Entitlement, FulfilOrder\n",
        "from stripe_actions.examples import DisputeAlert, Entitlement, FulfilOrder, GrantCourse\n",
    )
    opening = "BUILDERS: dict[str, Callable[[Components], Action]] = {\n"
    assert opening in text
    composition.write_text(text.replace(opening, f"{opening}    {line},\n", 1))


def wire_template(root: Path) -> None:
    """Step 4: the instance beside the examples, and each dashboard line in its list."""
    instance, dashboard = YAML
    template = root / "template.yaml"
    beside_the_examples = textwrap.indent(instance, "  ")  # a resource, as the page indents it
    text = template.read_text().replace("Resources:\n", "Resources:\n" + beside_the_examples, 1)
    for line in dashboard.splitlines():
        output = line.strip().rsplit(".", 1)[-1]  # DashboardMetrics or DashboardAlarms
        example = re.search(rf"\n( *)- !GetAtt DisputeAlert\.Outputs\.{output}\n", text)
        assert example is not None, output
        text = text.replace(example.group(0), f"{example.group(0)}{example.group(1)}{line.strip()}\n", 1)
    template.write_text(text)


def test_the_actions_tutorial_passes_make_check_as_written(tmp_path: Path) -> None:
    plain, with_ledger = PYTHON
    registration, registration_with_ledger = REGISTRATIONS
    root = copy_of_the_repository(tmp_path)

    write_class(root, plain)
    register(root, registration)
    wire_template(root)
    assert fast_tiers(root) == {}

    # with the effect ledger: the whole class again, and the second registration
    write_class(root, with_ledger)
    register(root, registration_with_ledger)
    assert fast_tiers(root) == {}
