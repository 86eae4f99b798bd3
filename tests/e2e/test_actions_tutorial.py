"""docs/actions.md's tutorial, followed literally on a clean copy of the repository: the class as
the page shows it and its template instance (then both again with the welcome email), and then
`make check`'s fast tiers (lint, types, complexity, every unit test) pass."""

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
EMAIL_USES = re.search(r"`(Uses: [^`]*email)`", TUTORIAL)
"""The instance's ``Uses`` with the welcome email, as the page says it."""


def write_class(root: Path, source: str) -> None:
    """Step 1: the class at the end of examples.py (replacing the one written before)."""
    examples = root / "functions" / "stripe_actions" / "examples.py"
    text = examples.read_text().split("\n\n\n@register_action\nclass GrantCourse:", 1)[0].rstrip("\n")
    examples.write_text(text + "\n\n\n" + source.rstrip() + "\n")


def wire_template(root: Path, uses: str | None = None) -> None:
    """Step 3: the instance beside the examples (with another ``Uses`` line, if given)."""
    (instance,) = YAML
    if uses is not None:
        instance = re.sub(r"Uses: [^\n]*", uses, instance)
    template = root / "template.yaml"
    text = re.sub(r"  GrantCourse:\n(    [^\n]*\n)*", "", template.read_text())
    beside_the_examples = textwrap.indent(instance, "  ")  # a resource, as the page indents it
    template.write_text(text.replace("Resources:\n", "Resources:\n" + beside_the_examples, 1))


def test_the_actions_tutorial_passes_make_check_as_written(tmp_path: Path) -> None:
    plain, with_ledger = PYTHON
    assert EMAIL_USES is not None
    root = copy_of_the_repository(tmp_path)

    write_class(root, plain)
    wire_template(root)
    assert fast_tiers(root) == {}

    # with the welcome email: the whole class again, and the instance's Uses
    write_class(root, with_ledger)
    wire_template(root, EMAIL_USES.group(1))
    assert fast_tiers(root) == {}
