"""The code stays readable in an hour: no module in functions/ or infra/ over 400 lines, and no
function over 60 (``make complexity`` ranks their branching). A module is one idea read top to
bottom; the cap warns of one holding two, and nothing is split only to fit (docs/development.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from infra import REPO_ROOT

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SOURCES = sorted(
    path
    for root in ("functions", "infra")
    for path in (REPO_ROOT / root).rglob("*.py")
    if ".venv" not in path.parts
)


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_no_module_is_over_400_lines() -> None:
    long = {
        _relative(path): n for path in SOURCES if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{_relative(path)}:{node.name}"] = lines
    assert not long, long


def _imported_modules(package: str) -> set[str]:
    found = set()
    for path in (REPO_ROOT / "functions" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_the_consumer_kit_depends_on_the_webhook_only_through_the_contract() -> None:
    imported = _imported_modules("stripe_actions")

    assert "contract" in imported
    assert not {module for module in imported if module.split(".")[0] == "stripe_webhook"}


PARALLEL = frozenset(
    {
        "ConfigurationError",  # the environment is wrong: (code, message)
        "Settings",
        "load_settings",  # the environment → Settings, or ConfigurationError
        "get_settings",
        "Components",
        "components",
        "reset",
        "logger",
        "metrics",
        "report_outcome",  # log and count one outcome
        "lambda_handler",
        "to_item",  # plain values → DynamoDB attribute values (the kit's on boto3's converters)
        "from_item",
    }
)
"""Names both functions define on purpose, with one meaning: the style they share (GUIDE.md)."""


def _top_level_names(package: str) -> set[str]:
    names = set()
    for path in (REPO_ROOT / "functions" / package).rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(target.id for target in node.targets if isinstance(target, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


def test_no_name_means_two_things_across_the_two_functions() -> None:
    both = _top_level_names("stripe_webhook") & _top_level_names("stripe_actions")

    assert both <= PARALLEL, sorted(both - PARALLEL)
