"""`make handler TYPE=…` on a copy of the repository: the files, a test that fails, then passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from infra import REPO_ROOT
from tests.e2e.conftest import run_tool


def copy_of_the_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", ".venv*", ".aws-sam", "*.png")
    for name in ("functions", "infra", "tests"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=ignore)
    for name in ("pyproject.toml", "template.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    return root


def pytest_in(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def lint_of(root: Path) -> subprocess.CompletedProcess[str]:
    """``make lint`` on the copy: ruff's checks and its format check, over everything."""
    ruff = str(Path(sys.executable).with_name("ruff"))
    check = [ruff, "check", "--no-cache", "."]
    return subprocess.run(
        ["sh", "-c", f"{' '.join(check)} && {ruff} format --check --no-cache ."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_scaffolding_a_new_type_gives_a_failing_test_that_passes_once_the_record_is_written(
    tmp_path: Path,
) -> None:
    root = copy_of_the_repository(tmp_path)

    made = run_tool("local.scaffold", "price.updated", "--root", str(root))
    again = run_tool("local.scaffold", "price.updated", "--root", str(root))

    assert made.returncode == 0, made.stderr
    assert "created functions/stripe_webhook/handlers/prices.py" in made.stdout
    assert "added prices.family to FAMILIES" in made.stdout
    assert "created infra/fixtures/events/price.updated.json" in made.stdout
    assert "make trigger EVENT=price.updated" in made.stdout
    assert again.returncode == 1 and "handled already" in again.stderr
    # what make lint checks, on the scaffolded code as it is written
    scaffolded = lint_of(root)
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    failing = pytest_in(root, "tests/unit/test_prices.py")
    assert failing.returncode == 1, failing.stdout

    module = root / "functions" / "stripe_webhook" / "handlers" / "prices.py"
    text = module.read_text().replace(
        "from stripe_webhook.records import Record",
        "from stripe_webhook.records import Record, object_record, pick",
    )
    module.write_text(
        text.replace(
            "    return []\n", '    return object_record(event, pick(event.data_object, "active"), rank=10)\n'
        )
    )
    passing = pytest_in(
        root, "tests/unit/test_prices.py", "tests/unit/test_handlers.py", "tests/unit/test_routing.py"
    )
    assert passing.returncode == 0, passing.stdout[-3000:]
    assert lint_of(root).returncode == 0, lint_of(root).stdout
