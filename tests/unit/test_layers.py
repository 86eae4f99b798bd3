"""No import runs back up the house: each part of ``infra/`` imports only what sits below it, so
pricing (``ops``) never starts moto (``bench``), and ``ops`` needs nothing of the console."""

from __future__ import annotations

import ast
from pathlib import Path

from infra import REPO_ROOT

LAYERS = {
    # part of infra/ → the parts it may import (besides itself and the modules at infra/'s top)
    "fixtures": set(),
    "local": {"fixtures"},
    "ops": {"fixtures", "local"},
    "console": {"fixtures", "local", "ops"},
    "bench": {"fixtures", "local", "ops"},
}
"""From the bottom: payloads; the local stack; operating a stack (deployed or local); the console
and the benchmarks, which use both."""


def imported_parts(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        found |= {name.split(".")[1] for name in names if name.startswith("infra.") and name.count(".") >= 1}
    return found


def test_each_part_of_infra_imports_only_what_sits_below_it() -> None:
    infra = REPO_ROOT / "infra"
    parts = {path.name for path in infra.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert parts == set(LAYERS)  # a new part takes its place here
    upward = [
        f"{path.relative_to(REPO_ROOT)} imports infra.{part}"
        for name, below in LAYERS.items()
        for path in sorted((infra / name).rglob("*.py"))
        for part in imported_parts(path)
        if part in LAYERS and part != name and part not in below
    ]
    assert upward == []
