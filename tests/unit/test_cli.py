"""Every command ends the same way (``infra.cli.run``): a problem is one line, never a traceback."""

from __future__ import annotations

import os

import pytest
from botocore.exceptions import ClientError

from infra.cli import BROKEN_PIPE, INTERRUPTED, Problem, UsageError, run


def _raising(error: BaseException) -> object:
    def main(argv: list[str] | None) -> int:
        raise error

    return main


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (Problem("nothing is listening at http://127.0.0.1:3000"), 1, "error: nothing is listening at"),
        (UsageError("no payload for price.nope"), 2, "error: no payload for price.nope"),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutItem"),
            1,
            "error: AWS refused:",
        ),
    ],
)
def test_a_problem_is_one_line_and_an_exit_code(
    error: Exception, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(_raising(error)) == code  # type: ignore[arg-type]

    err = capsys.readouterr().err
    assert err.startswith(line) and len(err.splitlines()) == 1 and "Traceback" not in err


def test_interrupted_says_how_to_go_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_raising(KeyboardInterrupt()), interrupted="a backfill continues with --resume") == INTERRUPTED  # type: ignore[arg-type]
    assert "a backfill continues with --resume" in capsys.readouterr().err


def test_a_reader_that_went_away_ends_the_command_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    duplicated: list[int] = []
    monkeypatch.setattr(os, "dup2", lambda source, target: duplicated.append(target))

    assert run(_raising(BrokenPipeError())) == BROKEN_PIPE  # type: ignore[arg-type]
    assert duplicated  # stdout now goes nowhere, so the interpreter's last flush cannot fail


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run(_raising(ZeroDivisionError()))  # type: ignore[arg-type]
