"""The running local stack's addresses, in a small git-ignored file the tools read by default.

``make run`` writes ``.local-stack.json`` at the repository root (the webhook URL, the AWS
endpoint, where the signing secret is) and removes it on exit. ``trigger``, ``inspect``,
``events`` and ``burst`` take their defaults from it, so a stack on other ports needs no options;
an explicit option still wins. A file left by a stack that is no longer running (its process is
gone) is removed, and the tool stops and says so rather than guess an address another program may
hold. ``STRIPE_LOCAL_STATE`` names another file (tests).

A stack **holds** its file for its whole life (an exclusive ``flock``, which the kernel releases
when the process ends, however it ends): a second ``make run`` in the same checkout is refused and
told which stack runs (``claim_state``), where it used to overwrite the file and remove it on exit.
``hold`` is the same lock on any file (``persist`` holds ``.local-stack/`` with it).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import Problem

STATE_FILE = REPO_ROOT / ".local-stack.json"


@dataclass(frozen=True)
class StackState:
    pid: int
    webhook_url: str | None
    aws_endpoint: str
    secret_name: str
    stripe_api: str | None = None
    """The local Stripe API stand-in's base URL (``ops verify --local`` lists its events)."""
    reconcile_every: float | None = None
    """Seconds between the local reconciler's runs (0: off), for ``trigger --undelivered``."""


def hold(path: Path) -> int | None:
    """Take the exclusive lock on ``path`` (created if absent) for this process's life: its file
    descriptor, or None when another process holds it. A file removed or replaced while it was
    being taken is taken again, so two processes never both hold one path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def held(path: Path) -> bool:
    """Whether a running process holds ``path`` (``hold``)."""
    if not path.exists():
        return False
    fd = hold(path)
    if fd is None:
        return True
    os.close(fd)
    return False


def claim_state(webhook: str) -> int:
    """This checkout's state file, held for the life of the stack about to start (``webhook``: what
    it will answer, for the refusal); refused (``Problem``) while another stack of it runs."""
    fd = hold(state_path())
    if fd is None:
        running = _load(state_path())
        where = f" (pid {running.pid}, {running.webhook_url or running.aws_endpoint})" if running else ""
        raise Problem(
            f"a local stack of this checkout already runs{where}: make trigger, make inspect and the"
            " console use it as it is. To start this one instead, stop it first (Ctrl-C in its"
            f" terminal); a second stack beside it runs from another checkout ({webhook} here was"
            " not started)."
        )
    return fd


SAVED_LOCK = "running.lock"
"""In ``.local-stack/``: held by the ``--persist`` stack that will save there (``hold_saved``)."""


def hold_saved(directory: Path) -> int:
    """``directory`` (``.local-stack/``), held for a ``--persist`` run's life: ``make reset`` and a
    second ``--persist`` stack are refused while it runs, rather than lose its save (or its
    secret). Refused (``Problem``) while another stack holds it."""
    path = directory / SAVED_LOCK
    fd = hold(path)
    if fd is None:
        raise Problem(f"{saved_in_use(directory)}; stop it first (Ctrl-C in its terminal)")
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def saved_in_use(directory: Path) -> str | None:
    """Which running stack saves into ``directory``, said in a line, or None when none does."""
    path = directory / SAVED_LOCK
    if not held(path):
        return None
    try:
        pid = f" (pid {int(path.read_text())})"
    except (OSError, ValueError):
        pid = ""
    return f"a --persist local stack{pid} is running and saves into {directory} when it stops"


def state_path() -> Path:
    return Path(os.environ.get("STRIPE_LOCAL_STATE") or STATE_FILE)


def write_state(state: StackState) -> None:
    path = state_path()
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")  # the same file: the lock stays


def remove_state(pid: int) -> None:
    """Remove the file if it is this process's (another stack may have started since)."""
    current = _load(state_path())
    if current is not None and current.pid == pid:
        state_path().unlink(missing_ok=True)


def read_state(option: str = "") -> StackState | None:
    """The running stack's state, or None when no stack wrote one. A file a stack that is no longer
    running left is removed and refused (``Problem``), naming ``option`` as the way to choose."""
    path = state_path()
    state = _load(path)
    if state is None:
        return None
    if not _alive(state.pid):
        path.unlink(missing_ok=True)
        choose = f", or pass {option} to name one" if option else ""
        raise Problem(
            f"{path.name} was left by a local stack that is no longer running (pid {state.pid}); removed"
            f" it. Start the local stack (make run){choose}."
        )
    return state


def _load(path: Path) -> StackState | None:
    try:
        values = json.loads(path.read_text())
        return StackState(
            int(values["pid"]),
            values.get("webhook_url"),
            str(values["aws_endpoint"]),
            str(values["secret_name"]),
            values.get("stripe_api") if isinstance(values.get("stripe_api"), str) else None,
            float(every) if isinstance(every := values.get("reconcile_every"), int | float) else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
