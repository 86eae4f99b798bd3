"""The README stays true: generated figures match their generators, named commands and modules exist."""

from __future__ import annotations

import re
from pathlib import Path

from infra import REPO_ROOT
from infra.ops.cost import DEFAULT_DURATION_MS, DEFAULT_EVENT_KB, estimate, render

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def _module_file(dotted: str) -> Path | None:
    """The file ``python -m dotted`` would run, if there is one."""
    path = REPO_ROOT.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__main__.py", path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_cost_table_is_the_cost_scripts_output_on_its_fixed_basis() -> None:
    lines, _ = estimate(DEFAULT_DURATION_MS, DEFAULT_EVENT_KB)
    assert render(lines) in README


def test_every_make_target_the_readme_names_exists() -> None:
    targets = set(re.findall(r"^([a-z0-9-]+):", MAKEFILE, flags=re.MULTILINE))
    named = set(re.findall(r"make ([a-z][a-z0-9-]+)", README))
    assert named <= targets, named - targets


def test_every_infra_module_the_readme_and_makefile_name_exists() -> None:
    named = set(re.findall(r"\binfra(?:\.[a-z_0-9]+)+", README + MAKEFILE))
    assert named
    missing = sorted(module for module in named if _module_file(module) is None)
    assert not missing, missing


def test_the_readme_draws_every_module_of_the_tree() -> None:
    """The Development section's tree has a line for every module in functions/ and infra/.

    Handler modules are exempt: adding one touches only it, its payload, its test and ``FAMILIES``.
    """
    tree = README[README.index("## Development") :]
    handlers = REPO_ROOT / "functions" / "stripe_webhook" / "handlers"
    modules = [
        path
        for root in ("functions/stripe_webhook", "functions/stripe_actions", "infra")
        for path in sorted((REPO_ROOT / root).rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py") and path.parent != handlers
    ]
    missing = [str(path.relative_to(REPO_ROOT)) for path in modules if f" {path.name} " not in tree]
    assert not missing, missing
