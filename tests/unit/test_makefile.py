"""`make` from the wrong directory says where to run it (it used to fail on `cat: requirements.txt`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from infra import REPO_ROOT


def test_make_from_another_directory_names_the_repository_root(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-f", str(REPO_ROOT / "Makefile"), "unit"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2 and "cat:" not in result.stderr
    assert f"make runs in the repository's root: cd {REPO_ROOT} && make unit" in result.stderr
