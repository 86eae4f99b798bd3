"""`make sam-local`: the function in its Lambda container behind SAM's own API Gateway emulator.

    python -m infra.local.sam_docker prepare      # Docker engine, arm64 emulation, the runtime image
    python -m infra.local.sam_docker start-api    # prepare, sam build, local AWS, sam local start-api

``prepare`` makes `sam local` possible on this machine and says what it did:

1. **A Docker engine.** One that answers is used. Otherwise, as root: ``docker.io`` is installed
   from Debian when missing and ``dockerd --iptables=false --storage-driver=vfs`` is started (the
   flags that work in a container without iptables or overlayfs), its log in ``.sam-local/``.
2. **arm64 emulation**, when this machine is not arm64 (the function is): as root,
   ``qemu-user-static`` and ``binfmt-support`` are installed, ``binfmt_misc`` mounted and
   ``qemu-aarch64`` enabled.
3. **The runtime image.** ``public.ecr.aws/lambda/python:3.13`` when the registry answers.
   Otherwise a stand-in, built once and cached under a tag holding the hash of its recipe: Debian
   trixie's python3.13 for arm64 (``debootstrap``, under emulation), the ``awslambdaric`` and
   ``boto3`` wheels for cp313/aarch64 from PyPI (the managed runtime ships boto3), and
   ``/var/runtime/bootstrap`` starting ``awslambdaric`` in ``/var/task``. SAM adds its own runtime
   interface emulator on top (``--invoke-image``).

Without root and without a running engine it stops with what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from infra import REPO_ROOT
from infra.cli import Problem, exit_with

OFFICIAL_IMAGE = "public.ecr.aws/lambda/python:3.13"
IMAGE_REPOSITORY = "stripe-webhooks/lambda-python"
WORK_DIR = REPO_ROOT / ".sam-local"
DEBIAN_SUITE = "trixie"
"""Debian 13, whose python3 is 3.13: the function's runtime."""
DEBIAN_MIRROR = "http://deb.debian.org/debian"
WHEELS = ("awslambdaric==4.2.2", "boto3==1.43.108", "botocore==1.43.127")
"""What the managed runtime provides besides Python: the runtime interface client, and boto3 at
the version the tests pin."""
BOOTSTRAP = '#!/bin/sh\ncd /var/task\nexec /usr/bin/python3 -m awslambdaric "$_HANDLER"\n'
DOCKERD = ("dockerd", "--iptables=false", "--storage-driver=vfs")
ENGINE_WAIT_SECONDS = 60


Say = Callable[[str], None]


def say(message: str) -> None:
    print(f"sam-local: {message}", flush=True)


def _run(*command: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except FileNotFoundError:
        raise Problem(f"{command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise Problem(f"{' '.join(command[:3])} … did not finish in {timeout:.0f} s") from None
    if check and result.returncode != 0:
        raise Problem(f"{' '.join(command[:4])} failed: {(result.stderr or result.stdout).strip()[-800:]}")
    return result


def _is_root() -> bool:
    return os.geteuid() == 0


def _apt_install(*packages: str, why: str, tell: Say) -> None:
    if not (_is_root() and shutil.which("apt-get")):
        raise Problem(f"{why}: install {' '.join(packages)} (needs root and apt-get)")
    tell(f"installing {' '.join(packages)} from Debian ({why})")
    _run("apt-get", "update", "-qq", timeout=600)
    env_install = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", *packages]
    _run(*env_install, timeout=1200)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return _run("docker", "info", "--format", "{{.ServerVersion}}", timeout=30, check=False).returncode == 0


def ensure_engine(tell: Say = say) -> str:
    """A Docker engine that answers; started here (as root) when there is none. Its version."""
    if engine_answers():
        version = _run("docker", "info", "--format", "{{.ServerVersion}}", timeout=30).stdout.strip()
        tell(f"Docker engine {version} answers")
        return version
    if shutil.which("dockerd") is None:
        _apt_install("docker.io", why="sam local runs the function in a container", tell=tell)
    if not _is_root():
        raise Problem(
            "no Docker engine answers, and starting one needs root: start Docker (or Docker Desktop) "
            "and run this again; `make run` is the Docker-free local stack"
        )
    WORK_DIR.mkdir(exist_ok=True)
    log = (WORK_DIR / "dockerd.log").open("ab")
    subprocess.Popen(DOCKERD, stdout=log, stderr=log, start_new_session=True)  # noqa: S603
    tell(f"started {' '.join(DOCKERD)} (log: {WORK_DIR.name}/dockerd.log)")
    deadline = time.monotonic() + ENGINE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if engine_answers():
            return ensure_engine(tell)
        time.sleep(1)
    raise Problem(f"dockerd did not answer within {ENGINE_WAIT_SECONDS} s: see {WORK_DIR / 'dockerd.log'}")


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def arm64_runs_here() -> bool:
    return platform.machine() in ("aarch64", "arm64") or (
        (BINFMT / "qemu-aarch64").is_file() and ((BINFMT / "qemu-aarch64").read_text().startswith("enabled"))
    )


def ensure_emulation(tell: Say = say) -> None:
    """arm64 binaries run here: natively, or through qemu registered with binfmt_misc."""
    if platform.machine() in ("aarch64", "arm64"):
        tell("this machine is arm64: no emulation needed")
        return
    if arm64_runs_here():
        tell("arm64 emulation (qemu-aarch64, binfmt_misc) is enabled")
        return
    if shutil.which("update-binfmts") is None or not Path("/usr/libexec/qemu-binfmt").is_dir():
        _apt_install("qemu-user-static", "binfmt-support", why="the function is arm64", tell=tell)
    if not _is_root():
        raise Problem(
            "arm64 emulation is off and enabling it needs root: run `update-binfmts --enable qemu-aarch64`"
        )
    if not (BINFMT / "register").exists():
        _run("mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT))
    _run("update-binfmts", "--enable", "qemu-aarch64")
    if not arm64_runs_here():
        raise Problem("qemu-aarch64 could not be enabled in binfmt_misc")
    tell("enabled arm64 emulation (qemu-aarch64 in binfmt_misc)")


def recipe_hash() -> str:
    """What the stand-in image is made of; a change to any of it builds a new image."""
    recipe = json.dumps(
        [DEBIAN_SUITE, WHEELS, BOOTSTRAP, "python3,python3-pip,ca-certificates", "cpython-313 pyc"]
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def stand_in_tag() -> str:
    return f"{IMAGE_REPOSITORY}:3.13-arm64-{recipe_hash()}"


def image_exists(tag: str) -> bool:
    return _run("docker", "image", "inspect", tag, timeout=30, check=False).returncode == 0


def ensure_image(tell: Say = say, *, pull_timeout: float = 60) -> str:
    """The image to pass to ``--invoke-image``: the official one if it can be pulled, else the
    stand-in (built once per recipe)."""
    tag = stand_in_tag()
    if image_exists(OFFICIAL_IMAGE):
        tell(f"using {OFFICIAL_IMAGE}")
        return OFFICIAL_IMAGE
    if image_exists(tag):
        tell(f"using the stand-in runtime image {tag} (built earlier)")
        return tag
    pulled = _run(
        "docker", "pull", "--platform", "linux/arm64", OFFICIAL_IMAGE, timeout=pull_timeout, check=False
    )
    if pulled.returncode == 0:
        tell(f"pulled {OFFICIAL_IMAGE}")
        return OFFICIAL_IMAGE
    tell(
        f"{OFFICIAL_IMAGE} cannot be pulled here; building a stand-in once (several minutes under emulation)"
    )
    build_stand_in(tag, tell)
    return tag


def build_stand_in(tag: str, tell: Say = say) -> None:
    if shutil.which("debootstrap") is None:
        _apt_install("debootstrap", why="building the stand-in runtime image", tell=tell)
    if not _is_root():
        raise Problem("building the stand-in runtime image needs root (debootstrap)")
    with tempfile.TemporaryDirectory(prefix="lambda-root-") as workdir:
        root = Path(workdir) / "root"
        started = time.monotonic()
        tell(f"debootstrap {DEBIAN_SUITE} arm64 (python3.13) ...")
        _run(
            "debootstrap",
            "--arch=arm64",
            "--variant=minbase",
            "--include=python3,python3-pip,ca-certificates",
            DEBIAN_SUITE,
            str(root),
            DEBIAN_MIRROR,
            timeout=3600,
        )
        tell(f"debootstrap done in {time.monotonic() - started:.0f} s; adding awslambdaric and boto3")
        import_image(root, tag)
    tell(f"built {tag} in {time.monotonic() - started:.0f} s")


def compile_for_313(directory: Path) -> None:
    """Python 3.13 bytecode for every module under ``directory``, written now: under emulation a
    module without it is compiled at every cold start (the function's code is mounted read-only),
    which takes seconds. Bytecode does not depend on the machine, so the host's python3.13 writes it."""
    from infra.build import find_python313

    python313 = find_python313()
    if python313 is None:
        raise Problem("python3.13 is needed (the function's runtime): `pyenv install 3.13`")
    _run(str(python313), "-m", "compileall", "-q", "-j0", str(directory), timeout=600)


def import_image(root: Path, tag: str) -> None:
    """The runtime's Python packages and bootstrap added to a Debian root, imported as ``tag``."""
    site = root / "usr" / "local" / "lib" / "python3.13" / "dist-packages"
    _run(
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--only-binary=:all:", "--platform", "manylinux2014_aarch64",
        "--platform", "manylinux_2_28_aarch64",
        "--python-version", "3.13", "--implementation", "cp", "--target", str(site), *WHEELS,
        timeout=900,
    )  # fmt: skip
    compile_for_313(site)
    runtime = root / "var" / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / "bootstrap").write_text(BOOTSTRAP)
    (runtime / "bootstrap").chmod(0o755)
    (root / "var" / "task").mkdir(parents=True, exist_ok=True)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(root / cache, ignore_errors=True)
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)  # noqa: S603, S607
    imported = subprocess.run(  # noqa: S603
        ["docker", "import", "--platform", "linux/arm64", "--change", "WORKDIR /var/task", "-", tag],  # noqa: S607
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    tar.wait()
    if imported.returncode != 0:
        raise Problem(f"docker import failed: {imported.stderr.strip()[-800:]}")


def prepare(tell: Say = say) -> str:
    """Engine, emulation, image: the ``--invoke-image`` to use."""
    if platform.system() != "Linux" and not engine_answers():
        raise Problem("no Docker engine answers: start Docker Desktop, then run this again")
    ensure_engine(tell)
    ensure_emulation(tell)
    return ensure_image(tell)


def sam_flags(image: str, env_vars: Path, port: int) -> list[str]:
    """What ``sam local start-api`` needs here besides its defaults."""
    return [
        "--invoke-image", image,
        "--skip-pull-image",
        "--warm-containers", "EAGER",
        "--add-host", "host.docker.internal:host-gateway",
        "--env-vars", str(env_vars),
        "--port", str(port),
    ]  # fmt: skip


def env_vars_file(aws_port: int) -> Path:
    """env.json with the local AWS side's port (env.json itself says 5000)."""
    values = json.loads((REPO_ROOT / "env.json").read_text())
    values["WebhookFunction"]["AWS_ENDPOINT_URL"] = f"http://host.docker.internal:{aws_port}"
    WORK_DIR.mkdir(exist_ok=True)
    path = WORK_DIR / f"env.{aws_port}.json"
    path.write_text(json.dumps(values, indent=2) + "\n")
    return path


def build_function(tell: Say = say) -> None:
    from infra.build import sam_build

    tell("sam build ...")
    started = time.monotonic()
    compile_for_313(sam_build())
    tell(f"sam build done in {time.monotonic() - started:.0f} s (with python3.13 bytecode)")


def _forward(stream: IO[str] | None, prefix: str) -> None:
    """Print a child's output as it comes (a full pipe would stall the child)."""
    import threading

    def pump() -> None:
        for line in stream or ():
            print(f"{prefix}{line}", end="", flush=True)

    threading.Thread(target=pump, daemon=True).start()


def start_local_aws(aws_port: int) -> tuple[subprocess.Popen[str], str]:
    """The local stack's AWS side on loopback and Docker's bridge (containers reach it as
    host.docker.internal; nothing else on the network does)."""
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "infra.local",
            "--aws-only",
            "--aws-host",
            "docker",
            "--aws-port",
            str(aws_port),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    secret = ""
    for line in process.stdout:
        if line.strip().startswith("signing secret"):
            secret = line.split()[2]
        if "Press Ctrl-C" in line:
            break
    else:
        raise Problem("the local AWS side did not start (is its port free? --aws-port)")
    _forward(process.stdout, "")
    return process, secret


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[str]) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Problem("sam local start-api exited; its output is above")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(1)
    raise Problem(f"sam local start-api did not listen on {port} within {timeout:.0f} s")


WARM_UP_TYPE = "local.warm_up"


def warm_up(webhook: str, secret: str, tell: Say) -> None:
    """Send one signed event of type ``local.warm_up`` (no handler: stored and published, and no
    consumer filter passes it) until it is processed, as Stripe retries. Under emulation the
    function's first imports take most of its 28 s, so the first event after a start is answered
    503 ``deadline_near``; this way it is not the user's."""
    from infra.fixtures.delivery import post
    from infra.fixtures.payloads import new_event_id

    event_id = new_event_id()
    event = {
        "id": event_id,
        "object": "event",
        "type": WARM_UP_TYPE,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": f"warmup_{event_id[4:]}", "object": "local"}},
    }
    body = json.dumps(event).encode()
    tell("warming the function's container (its first imports take seconds under emulation) ...")
    started = time.monotonic()
    for _ in range(4):
        answer = post(webhook, body, secret=secret.split(",", maxsplit=1)[0], timeout=120)
        if answer.status == 200:
            tell(f"warm after {time.monotonic() - started:.0f} s ({WARM_UP_TYPE} {event_id} processed)")
            return
    tell(f"the warm-up event was answered {answer.status}; the first events may be too")


def start_api(port: int, aws_port: int, *, build: bool, tell: Say = say) -> int:
    from infra.local.connect import SECRET_NAME
    from infra.local.state import StackState, remove_state, write_state
    from infra.local.stripe_cli import listen_snapshot

    image = prepare(tell)
    if build:
        build_function(tell)
    aws, secret = start_local_aws(aws_port)
    sam: subprocess.Popen[str] | None = None

    try:
        command = [str(Path(sys.executable).with_name("sam")), "local", "start-api"]
        command += sam_flags(image, env_vars_file(aws_port), port)
        tell("sam local start-api " + " ".join(command[3:]))
        started = time.monotonic()
        sam = subprocess.Popen(  # noqa: S603
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _forward(sam.stdout, "sam | ")
        wait_for_port(port, 600, sam)
        webhook = f"http://127.0.0.1:{port}/webhook"
        warm_up(webhook, secret, tell)
        write_state(StackState(os.getpid(), webhook, f"http://127.0.0.1:{aws_port}", SECRET_NAME))
        print(
            "\n".join(
                [
                    "sam local is serving the function in its container"
                    f" (ready in {time.monotonic() - started:.0f} s)",
                    f"  webhook URL     {webhook}   (and {webhook}/thin)",
                    f"  AWS endpoint    http://127.0.0.1:{aws_port}   (the containers: host.docker.internal)",
                    f"  signing secret  {secret}",
                    f"  image           {image}",
                    "  send events     make trigger EVENT=payment_intent.succeeded"
                    "   (each invoke takes seconds under emulation)",
                    f"  Stripe CLI      {listen_snapshot(port)}"
                    "   (start make sam-local with STRIPE_WEBHOOK_SECRET set to the secret it prints)",
                    "Press Ctrl-C to stop.",
                ]
            ),
            flush=True,
        )
        sam.wait()
        return sam.returncode or 0
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    finally:
        remove_state(os.getpid())
        for process in (sam, aws):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.sam_docker",
        description="The function in its Lambda container behind SAM's API Gateway emulator: make sam-local",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "prepare", help="the Docker engine, arm64 emulation and the runtime image; print the flags"
    )
    start = commands.add_parser(
        "start-api", help="prepare, sam build, the local AWS side and sam local start-api"
    )
    start.add_argument("--port", type=int, default=3000, help="sam local start-api's port (default 3000)")
    start.add_argument("--aws-port", type=int, default=5000, help="the local AWS side's port (default 5000)")
    start.add_argument("--no-build", action="store_true", help="use the last sam build")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        image = prepare()
        flags = " ".join(sam_flags(image, REPO_ROOT / "env.json", 3000))
        print(f"ready: make aws, then .venv/bin/sam local start-api {flags}")
        return 0
    return start_api(args.port, args.aws_port, build=not args.no_build)


if __name__ == "__main__":
    exit_with(main)
