"""``sam build``, the one way the project runs it: with a Python 3.13 (the function's runtime).

``sam build`` builds each function with the interpreter its runtime names, looked for on ``PATH``;
``find_python313`` finds one there or among pyenv's versions, and ``sam_build`` puts it first on
``PATH`` for the build, then compiles each function's artifact with it (``compile_bytecode``), so
Lambda runs our modules' bytecode instead of compiling them at every cold start. ``make build``
(``python -m infra.build``), the template test, the benchmark's package size and ``make sam-local``
all build through ``sam_build``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import Problem, exit_with

RUNTIME = "python3.13"
SAM = str(Path(sys.executable).with_name("sam"))
NEEDS_313 = (
    "sam build needs python3.13 (the function's runtime): install it (`pyenv install 3.13`, or your"
    " package manager) or put it on PATH"
)


def _works(binary: Path) -> bool:
    try:
        result = subprocess.run(  # noqa: S603
            [str(binary), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "(3, 13)"


def find_python313() -> Path | None:
    on_path = shutil.which(RUNTIME)
    candidates = [Path(on_path)] if on_path else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(pyenv_root.glob("3.13*/bin/python3.13"), reverse=True)
    return next((candidate for candidate in candidates if _works(candidate)), None)


def sam_build(build_dir: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Run ``sam build`` (into ``build_dir``, default ``.aws-sam/build``); return the build directory.
    Raises ``Problem`` with sam's last output when it fails."""
    python313 = find_python313()
    if python313 is None:
        raise Problem(NEEDS_313)
    command = [SAM, "build"]
    if build_dir is not None:
        command += ["--build-dir", str(build_dir)]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    result = subprocess.run(  # noqa: S603
        command,
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "PATH": f"{python313.parent}{os.pathsep}{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise Problem(f"sam build failed:\n{(result.stdout + result.stderr)[-2000:]}")
    built = build_dir or REPO_ROOT / ".aws-sam" / "build"
    for artifact in function_artifacts(built):  # shipped compiled: no compiling at a cold start
        compile_bytecode(artifact, python313, runs_at="/var/task")
    return built


def compile_bytecode(directory: Path, python: Path | None = None, *, runs_at: str | None = None) -> None:
    """Bytecode for every module under ``directory``, written now, by ``python`` (default the
    function's Python 3.13). Lambda's ``/var/task`` is read-only, so a function shipped without it
    compiles every module of ours at each cold start (about 50 ms at a full core; Lambda gives 512
    MB a third of one), as does a container that mounts the code read-only. Bytecode does not
    depend on the machine. Each file is checked against its source's hash, not its time (a zip
    keeps times to 2 s), so a changed source is compiled again rather than run stale.
    ``runs_at``: where ``directory`` is when it runs (``/var/task``), the path tracebacks name."""
    python = python or find_python313()
    if python is None:
        raise Problem(NEEDS_313)
    command = [str(python), "-m", "compileall", "-q", "-f", "-j0", "--invalidation-mode", "checked-hash"]
    if runs_at is not None:
        command += ["-s", str(directory), "-p", runs_at]
    result = subprocess.run(  # noqa: S603
        [*command, str(directory)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise Problem(f"compiling {directory} failed: {(result.stderr or result.stdout)[-800:]}")


def function_artifacts(build_dir: Path) -> list[Path]:
    """Each function's artifact ``sam build`` made (its own and its modules' nested applications'):
    the directories that hold the shared ``contract`` package."""
    return sorted(found.parent.parent for found in build_dir.glob("**/contract/__init__.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.build", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--bin-dir", action="store_true", help="only print the directory holding python3.13")
    args = parser.parse_args(argv)
    if args.bin_dir:
        found = find_python313()
        if found is None:
            raise Problem(NEEDS_313)
        print(found.parent)
        return 0
    print("sam build ...", flush=True)
    started = time.monotonic()
    built = sam_build()
    print(f"built into {built.relative_to(REPO_ROOT)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    exit_with(main)
