"""`make handler TYPE=…` on a copy of the repository: the files, a test that fails, then passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from infra import REPO_ROOT
from tests.e2e.conftest import run_tool


def copy_of_the_repository(tmp_path: Path) -> Path:
    """What a clean clone of this working tree holds: every file git tracks or would (not ignored)."""
    root = tmp_path / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / name)
    return root


def make_unit_in(root: Path) -> subprocess.CompletedProcess[str]:
    """``make unit`` in the copy, with its names of failed tests."""
    return pytest_in(root, "tests/unit", "-p", "no:randomly", "-rf")


def failed_tests(run: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line.split()[1] for line in run.stdout.splitlines() if line.startswith("FAILED "))


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


def fast_tiers(root: Path) -> dict[str, str]:
    """``make check``'s fast tiers on the copy, as a reader runs them after a tutorial: lint,
    types (mypy strict, everything), complexity and ``make unit``; the output of each that failed."""
    tools = Path(sys.executable).parent
    commands = {
        "lint": f"{tools / 'ruff'} check --no-cache . && {tools / 'ruff'} format --check --no-cache .",
        "typecheck": f"{tools / 'mypy'} --cache-dir .mypy-copy functions infra tests",
        "complexity": f"{tools / 'xenon'} --max-absolute C functions",
        "unit": f"{sys.executable} -m pytest -q -p no:cacheprovider -p no:randomly -rf tests/unit",
    }
    failed = {}
    for tier, command in commands.items():
        run = subprocess.run(
            ["sh", "-c", command], cwd=root, capture_output=True, text=True, timeout=300, check=False
        )
        if run.returncode != 0:
            failed[tier] = (run.stdout + run.stderr)[-3000:]
    return failed


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
    failing = make_unit_in(root)
    assert failed_tests(failing) == [  # what make handler's next steps and docs/handlers.md say
        "tests/unit/test_api_versions.py::test_a_handler_keeps_the_same_record_on_every_generation[price.updated]",
        "tests/unit/test_handlers.py::test_connect_account_is_on_every_record[price.updated]",
        "tests/unit/test_handlers.py::test_every_handled_type_has_a_payload_and_writes_one_ordered_record[price.updated]",
        "tests/unit/test_prices.py::test_price_updated_writes_the_object_s_record",
    ], failing.stdout[-3000:]
    assert failing.stdout.count("the price.updated handler wrote no record") >= 3
    assert "Four tests fail" in made.stdout

    module = root / "functions" / "stripe_webhook" / "handlers" / "prices.py"
    text = module.read_text().replace(
        "from stripe_webhook.core.records import Record",
        "from stripe_webhook.core.records import Record, object_record, pick",
    )
    module.write_text(
        text.replace(
            "    return []\n", '    return object_record(event, pick(event.data_object, "active"), rank=10)\n'
        )
    )
    passing = make_unit_in(root)
    assert passing.returncode == 0, passing.stdout[-3000:]
    assert lint_of(root).returncode == 0, lint_of(root).stdout


def test_a_type_of_an_owned_object_goes_into_its_owner_s_table_and_a_second_owner_is_refused(
    tmp_path: Path,
) -> None:
    """``invoice.finalization_failed`` used to get a family of its own, ``invoices``, writing the
    invoice's record beside billing's: each event of one family dropped the other's fields."""
    root = copy_of_the_repository(tmp_path)

    refused = run_tool(
        "local.scaffold", "invoice.finalization_failed", "--family", "invoices", "--root", str(root)
    )
    made = run_tool("local.scaffold", "invoice.finalization_failed", "--root", str(root))

    assert refused.returncode == 1 and "invoice records are billing's" in refused.stderr
    assert "FAMILY=billing" in refused.stderr and "Traceback" not in refused.stderr
    assert made.returncode == 0, made.stderr
    assert "added invoice.finalization_failed to billing's INVOICE_EVENTS" in made.stdout
    assert "make unit passes as it is" in made.stdout
    handlers = root / "functions" / "stripe_webhook" / "handlers"
    assert not (handlers / "invoices.py").exists()
    assert '    "invoice.finalization_failed": 50,\n' in (handlers / "billing.py").read_text()
    assert fast_tiers(root) == {}  # lint, types, complexity, and every unit test, the new one too
