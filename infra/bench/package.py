"""The size of what ``sam build`` deploys, zipped: bundled, and with Powertools from the managed layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from infra import REPO_ROOT
from infra.python313 import find_python313


def package_size(build: bool) -> dict[str, float] | None:
    """The zipped ``sam build`` artifact, bundled and with Powertools left to the managed layer."""
    python313 = find_python313()
    if not build or python313 is None:
        return None
    sam = Path(sys.executable).with_name("sam")
    with tempfile.TemporaryDirectory() as workdir:
        build_dir = Path(workdir) / "build"
        result = subprocess.run(  # noqa: S603
            [str(sam), "build", "--build-dir", str(build_dir), "--cache-dir", str(Path(workdir) / "cache")],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "SAM_CLI_TELEMETRY": "0",
                "PATH": f"{python313.parent}{os.pathsep}{os.environ['PATH']}",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"sam build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        artifact = build_dir / "WebhookFunction"
        sizes = {}
        for label, skip in (("bundled", ()), ("layer", ("aws_lambda_powertools",))):
            archive = Path(workdir) / f"{label}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
                for path in sorted(artifact.rglob("*")):
                    relative = path.relative_to(artifact)
                    if relative.parts[0].startswith(skip) if skip else False:
                        continue
                    bundle.write(path, relative)
            sizes[label] = archive.stat().st_size / 1024
        ours = sum(p.stat().st_size for p in (artifact / "stripe_webhook").rglob("*.py")) / 1024
        sizes["our_code"] = ours
        shutil.rmtree(build_dir, ignore_errors=True)
        return sizes
