"""A stand-in for AWS's Lambda Python 3.13 arm64 image, for a CI machine that cannot pull it.

Only CI needs this: its machines reach no container registry. A developer's `make sam-local`
runs on AWS's own image, which SAM pulls. Built once and cached under a tag holding the hash of its
recipe: Debian trixie's python3.13 for arm64 (``debootstrap``, under emulation), the
``awslambdaric`` and ``boto3`` wheels for cp313/aarch64 from PyPI (the managed runtime ships
boto3), Python 3.13 bytecode, and ``/var/runtime/bootstrap`` starting ``awslambdaric`` in
``/var/task``. SAM adds its own runtime interface emulator on top (``--invoke-image``).

    python3 .ci/lambda_image.py     # prints the image's tag (stdlib only: runs before any venv)

It finds python3.13 as ``make build`` does (``infra.build.find_python313``, stdlib only too).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE_REPOSITORY = "stripe-webhooks/lambda-python"
DEBIAN_SUITE = "trixie"
"""Debian 13, whose python3 is 3.13: the function's runtime."""
DEBIAN_MIRROR = "http://deb.debian.org/debian"
WHEELS = ("awslambdaric==4.2.2", "boto3==1.43.108", "botocore==1.43.127")
"""What the managed runtime provides besides Python: the runtime interface client, and boto3 at
the version the tests pin."""
# the repository root, for infra.build (stdlib only, as this script must be)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from infra.build import find_python313  # noqa: E402

BOOTSTRAP = '#!/bin/sh\ncd /var/task\nexec /usr/bin/python3 -m awslambdaric "$_HANDLER"\n'


def log(message: str) -> None:
    print(f"lambda image: {message}", file=sys.stderr, flush=True)


def run(*command: str, timeout: float = 3600) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed: {(result.stderr or result.stdout).strip()[-800:]}")


def tag() -> str:
    recipe = json.dumps(
        [DEBIAN_SUITE, WHEELS, BOOTSTRAP, "python3,python3-pip,ca-certificates", "cpython-313 pyc"]
    )
    return f"{IMAGE_REPOSITORY}:3.13-arm64-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def build(image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="lambda-root-") as workdir:
        root = Path(workdir) / "root"
        started = time.monotonic()
        log(f"debootstrap {DEBIAN_SUITE} arm64 (several minutes under emulation) ...")
        run("debootstrap", "--arch=arm64", "--variant=minbase",
            "--include=python3,python3-pip,ca-certificates",
            DEBIAN_SUITE, str(root), DEBIAN_MIRROR)  # fmt: skip
        site = root / "usr" / "local" / "lib" / "python3.13" / "dist-packages"
        run(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--only-binary=:all:",
            "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_28_aarch64",
            "--python-version", "3.13", "--implementation", "cp", "--target", str(site), *WHEELS)  # fmt: skip
        # bytecode does not depend on the machine; without it, emulation compiles it at each start
        python313 = find_python313()
        if python313 is not None:
            run(str(python313), "-m", "compileall", "-q", "-j0", str(site))
        runtime = root / "var" / "runtime"
        runtime.mkdir(parents=True, exist_ok=True)
        (runtime / "bootstrap").write_text(BOOTSTRAP)
        (runtime / "bootstrap").chmod(0o755)
        (root / "var" / "task").mkdir(parents=True, exist_ok=True)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)  # noqa: S603, S607
        imported = subprocess.run(  # noqa: S603
            ["docker", "import", "--platform", "linux/arm64", "--change", "WORKDIR /var/task", "-", image],  # noqa: S607
            stdin=tar.stdout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        tar.wait()
        if imported.returncode != 0:
            sys.exit(f"docker import failed: {imported.stderr.strip()[-800:]}")
        log(f"built {image} in {time.monotonic() - started:.0f} s")


def main() -> None:
    image = tag()
    inspect = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)  # noqa: S603, S607
    if inspect.returncode == 0:
        log(f"using {image} (built earlier)")
    else:
        build(image)
    print(image)


if __name__ == "__main__":
    main()
