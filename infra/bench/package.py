"""The size of what ``sam build`` deploys, zipped: bundled, and with Powertools from the managed layer."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from infra.build import find_python313, sam_build


def package_size(build: bool) -> dict[str, float] | None:
    """The zipped ``sam build`` artifact, bundled and with Powertools left to the managed layer."""
    if not build or find_python313() is None:
        return None
    with tempfile.TemporaryDirectory() as workdir:
        build_dir = sam_build(Path(workdir) / "build", Path(workdir) / "cache")
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
