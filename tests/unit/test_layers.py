"""No import runs back up the house: each part of ``infra/`` imports only what sits below it, so
pricing (``ops``) never starts moto (``bench``), and ``ops`` needs nothing of the console; in the
webhook, the core (what an event means) imports no adapter, edge or recovery (docs/development.md,
"The code")."""

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
COMMANDS = {"local/__main__.py": {"console"}}
"""Commands that compose parts above their own: ``make run`` (``python -m infra.local``) runs the
stack with the console in its local mode, handing the console to ``stack.main`` (the stack's
modules themselves import nothing of it)."""


WEBHOOK_FLOORS = {
    # folder of functions/stripe_webhook/ → the parts it may import (besides itself)
    "core": {"errors", "ports", "settings"},
    "handlers": {"core", "errors"},
    "adapters": {"core", "errors", "ports", "settings"},
    "edges": {"core", "errors", "observability"},
    "recovery": {"adapters", "core", "errors", "ports", "settings"},
}
"""The core at the bottom (with the handlers, its extension point); the adapters implement its
ports; the edges and recovery hand events to it. Only ``composition.py`` and ``app.py`` see all."""


def imported_parts(path: Path, package: str = "infra") -> set[str]:
    """The parts of ``package`` that ``path`` imports when it runs (not for type checking only)."""
    found = set()
    for node in _run_time_nodes(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        found |= {name.split(".")[1] for name in names if name.startswith(f"{package}.")}
    return found


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    nodes: list[ast.AST] = []
    for node in ast.iter_child_nodes(tree):
        checking_only = (
            isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        )
        for child in node.orelse if checking_only else [node]:  # type: ignore[attr-defined]
            nodes.append(child)
            nodes.extend(_run_time_nodes(child))
    return nodes


def test_each_part_of_infra_imports_only_what_sits_below_it() -> None:
    infra = REPO_ROOT / "infra"
    parts = {path.name for path in infra.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert parts == set(LAYERS)  # a new part takes its place here
    upward = [
        f"{path.relative_to(REPO_ROOT)} imports infra.{part}"
        for name, below in LAYERS.items()
        for path in sorted((infra / name).rglob("*.py"))
        for part in imported_parts(path)
        if part in LAYERS
        and part != name
        and part not in below
        and part not in COMMANDS.get(str(path.relative_to(infra)), set())
    ]
    assert upward == []


def test_the_webhook_core_imports_no_adapter_edge_or_recovery() -> None:
    webhook = REPO_ROOT / "functions" / "stripe_webhook"
    folders = {path.name for path in webhook.iterdir() if (path / "__init__.py").exists()}
    assert folders == set(WEBHOOK_FLOORS)  # a new folder takes its floor here
    upward = [
        f"{path.relative_to(REPO_ROOT)} imports stripe_webhook.{part}"
        for name, below in WEBHOOK_FLOORS.items()
        for path in sorted((webhook / name).rglob("*.py"))
        for part in imported_parts(path, "stripe_webhook")
        if part != name and part not in below
    ]
    assert upward == []
