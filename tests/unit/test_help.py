"""Every command under ``infra/`` answers ``--help`` with its usage: found by looking, not listed."""

from __future__ import annotations

import contextlib
import importlib
import io
import re

import pytest

from infra import REPO_ROOT

SOURCES = {path: path.read_text() for path in (REPO_ROOT / "infra").rglob("*.py")}
COMMANDS = sorted(
    {
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for path, text in SOURCES.items()
        if 'if __name__ == "__main__":' in text and "\ndef main(" in text
    }
    | set(
        re.findall(
            r"^from (infra[\w.]*) import main$",
            "\n".join(text for path, text in SOURCES.items() if path.name == "__main__.py"),
            re.MULTILINE,
        )
    )
)
"""Each module run as a command (``python -m infra.…``, or a package's ``__main__``'s) whose
``main`` takes its arguments."""


def test_the_commands_are_found() -> None:
    assert {"infra.local.stack", "infra.bench.benchmark", "infra.bench.latency", "infra.ops.cli"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_has_help(module: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        importlib.import_module(module).main(["--help"])
    assert exited.value.code == 0
    assert "usage:" in out.getvalue()
