"""The code stays readable in an hour: no module in functions/ or infra/ over 300 lines, and no
function over 60 (``make complexity`` ranks their branching)."""

from __future__ import annotations

import ast
from pathlib import Path

from infra import REPO_ROOT

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
SOURCES = sorted(
    path
    for root in ("functions", "infra")
    for path in (REPO_ROOT / root).rglob("*.py")
    if ".venv" not in path.parts
)


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_no_module_is_over_300_lines() -> None:
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
