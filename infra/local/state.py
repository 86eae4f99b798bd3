"""The running local stack's addresses, in a small git-ignored file the tools read by default.

``make run`` writes ``.local-stack.json`` at the repository root (the webhook URL, the AWS
endpoint, where the signing secret is) and removes it on exit. ``trigger``, ``inspect``,
``events`` and ``burst`` take their defaults from it, so a stack on other ports needs no options;
an explicit option still wins. A file left by a stack that is no longer running (its process is
gone) is removed, and the tool stops and says so rather than guess an address another program may
hold. ``STRIPE_LOCAL_STATE`` names another file (tests).
"""

from __future__ import annotations

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


def state_path() -> Path:
    return Path(os.environ.get("STRIPE_LOCAL_STATE") or STATE_FILE)


def write_state(state: StackState) -> None:
    path = state_path()
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")


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
