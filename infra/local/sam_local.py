"""`make sam-local`: the function in its Lambda container behind SAM's API Gateway emulator: a
Docker engine that answers (none is started), ``sam build`` with bytecode, the local AWS side
(``--aws-only --aws-host docker``) and ``sam local start-api``. See docs/local-development.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from infra import REPO_ROOT
from infra.cli import Problem, exit_with

WORK_DIR = REPO_ROOT / ".sam-local"
ADD_HOST = "host.docker.internal:host-gateway"
"""How a container on Linux reaches the host (Docker Desktop knows the name already)."""


def say(message: str) -> None:
    print(f"sam-local: {message}", flush=True)


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603, S607


def engine_version() -> str | None:
    """The Docker engine's version, or None when no engine answers."""
    if shutil.which("docker") is None:
        return None
    result = _docker("info", "--format", "{{.ServerVersion}}", timeout=30)
    return result.stdout.strip() if result.returncode == 0 else None


SAM_CONTAINERS = "label=sam.cli.container.type=lambda"
"""The label SAM puts on the function containers it starts (``docker ps --filter``)."""


def sam_containers() -> set[str]:
    """The ids of every function container SAM started on this engine, running or not."""
    result = _docker("ps", "-aq", "--no-trunc", "--filter", SAM_CONTAINERS)
    return set(result.stdout.split()) if result.returncode == 0 else set()


def remove_containers(ids: set[str]) -> None:
    """Remove ``ids`` (SAM's warm containers outlive it when it is stopped)."""
    if ids:
        _docker("rm", "-f", *sorted(ids), timeout=120)
        say(f"removed the {len(ids)} function container(s) sam local left running")


def sam_flags(env_vars: Path, port: int, image: str | None) -> list[str]:
    """What ``sam local start-api`` needs here besides its defaults."""
    flags = ["--warm-containers", "EAGER", "--add-host", ADD_HOST]
    flags += ["--env-vars", str(env_vars), "--port", str(port)]
    return flags + (["--invoke-image", image, "--skip-pull-image"] if image else [])


def env_vars_file(aws_port: int) -> Path:
    """env.json with the local AWS side's port (env.json itself says 5000), in ``.sam-local/``."""
    values = json.loads((REPO_ROOT / "env.json").read_text())
    values["WebhookFunction"]["AWS_ENDPOINT_URL"] = f"http://host.docker.internal:{aws_port}"
    WORK_DIR.mkdir(exist_ok=True)
    path = WORK_DIR / f"env.{aws_port}.json"
    path.write_text(json.dumps(values, indent=2) + "\n")
    return path


def _child(command: list[str], prefix: str, *, ready: str = "") -> subprocess.Popen[str]:
    """Start ``command``, printing its output as it comes (a full pipe would stall it); with
    ``ready``, return once a line holds it."""
    process = subprocess.Popen(  # noqa: S603
        command, cwd=REPO_ROOT, env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: IO[str] = process.stdout  # type: ignore[assignment]
    while ready and ready not in (line := lines.readline()):
        print(prefix + line, end="", flush=True)
        if not line:
            raise Problem(f"{command[2]} stopped before it was ready; its output is above")
    threading.Thread(
        target=lambda: [print(prefix + line, end="", flush=True) for line in lines], daemon=True
    ).start()
    return process


def _wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Problem("sam local start-api exited; its output is above")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(1)
    raise Problem(f"sam local start-api did not listen on {port} within {timeout:.0f} s")


def start_api(port: int, aws_port: int, *, build: bool, image: str | None) -> int:
    from infra.build import SAM, sam_build
    from infra.local.connect import SECRET_NAME
    from infra.local.state import StackState, remove_state, write_state

    version = engine_version()
    if version is None:
        raise Problem(
            "no Docker engine answers: start Docker (or Docker Desktop) first; `make run` needs none"
        )
    say(f"Docker engine {version} answers")
    if build:
        say("sam build ...")
        sam_build()  # compiled too: the container mounts the code read-only
    children: list[subprocess.Popen[str]] = []
    before = sam_containers()
    try:
        # --port: where sam local serves, so the stack's banner names it in its Stripe CLI commands
        local_aws = [
            sys.executable,
            "-m",
            "infra.local",
            "--aws-only",
            "--aws-host",
            "docker",
            "--port",
            str(port),
        ]
        children.append(_child([*local_aws, "--aws-port", str(aws_port)], "", ready="Press Ctrl-C"))
        command = [SAM, "local", "start-api", *sam_flags(env_vars_file(aws_port), port, image)]
        say(" ".join(["sam", *command[1:]]))
        children.append(_child(command, "sam | "))
        _wait_for_port(port, children[-1])
        webhook = f"http://127.0.0.1:{port}/webhook"
        write_state(StackState(os.getpid(), webhook, f"http://127.0.0.1:{aws_port}", SECRET_NAME))
        say(f"serving the function in its container at {webhook} (and /thin); Press Ctrl-C to stop.")
        return children[-1].wait() or 0
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    finally:
        remove_state(os.getpid())
        for process in reversed(children):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        remove_containers(sam_containers() - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.sam_local", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=3000, help="sam local start-api's port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=5000, help="the local AWS side's port (default 5000)")
    parser.add_argument("--no-build", action="store_true", help="use the last sam build")
    parser.add_argument(
        "--image",
        default=os.environ.get("SAM_LOCAL_IMAGE") or None,
        help="the runtime image to run the function on (default: AWS's, which SAM pulls;"
        " env SAM_LOCAL_IMAGE)",
    )
    args = parser.parse_args(argv)
    return start_api(args.port, args.aws_port, build=not args.no_build, image=args.image)


if __name__ == "__main__":
    exit_with(main)
