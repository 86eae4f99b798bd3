"""The local stack's locks: one holder per file, released when its holder lets go (or ends)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.cli import Problem
from infra.local.state import held, hold, hold_saved, saved_in_use


def test_a_held_file_cannot_be_held_twice_and_is_free_once_let_go(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    fd = hold(path)

    assert fd is not None and hold(path) is None and held(path)
    os.close(fd)
    assert not held(path) and not held(tmp_path / "never-made")


def test_a_saved_directory_in_use_names_its_stack_and_refuses_a_second(tmp_path: Path) -> None:
    fd = hold_saved(tmp_path)

    assert saved_in_use(tmp_path) == (
        f"a --persist local stack (pid {os.getpid()}) is running and saves into {tmp_path} when it stops"
    )
    with pytest.raises(Problem, match="stop it first"):
        hold_saved(tmp_path)
    os.close(fd)
    assert saved_in_use(tmp_path) is None
