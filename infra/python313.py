"""Find a Python 3.13 interpreter for ``sam build`` (the function's runtime is python3.13).

Prints the directory holding ``python3.13``: PATH first, then pyenv's versions.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

RUNTIME = "python3.13"


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
    pyenv_root = Path.home() / ".pyenv" / "versions"
    candidates += sorted(pyenv_root.glob("3.13*/bin/python3.13"), reverse=True)
    return next((candidate for candidate in candidates if _works(candidate)), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.python313", description=__doc__)
    parser.add_argument("--bin-dir", action="store_true", help="print the directory holding python3.13")
    parser.parse_args(argv)
    found = find_python313()
    if found is None:
        print(
            "error: sam build needs python3.13 (the function's runtime); install it "
            "(e.g. `pyenv install 3.13`) or put it on PATH",
            file=sys.stderr,
        )
        return 1
    print(found.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
