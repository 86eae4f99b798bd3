"""The README stays true: generated figures match their generators, named commands exist."""

from __future__ import annotations

import re

from infra import REPO_ROOT
from infra.cost import DEFAULT_DURATION_MS, estimate, render, sample_event_kb

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def test_the_cost_table_is_the_cost_scripts_current_output() -> None:
    lines, _ = estimate(DEFAULT_DURATION_MS, round(sample_event_kb(), 1))
    assert render(lines) in README


def test_every_make_target_the_readme_names_exists() -> None:
    targets = set(re.findall(r"^([a-z-]+):", MAKEFILE, flags=re.MULTILINE))
    named = set(re.findall(r"make ([a-z][a-z-]+)", README))
    assert named <= targets, named - targets


def test_every_infra_module_the_readme_names_exists() -> None:
    named = set(re.findall(r"infra\.([a-z_]+)", README))
    assert named
    for module in named:
        assert (REPO_ROOT / "infra" / f"{module}.py").is_file(), module
