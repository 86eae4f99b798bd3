"""How every command under ``infra/`` ends: one error type and one runner.

A command's ``main(argv) -> int`` raises ``Problem`` for anything the person running it can fix
(a stack that is not running, a missing secret, a refused request); ``run`` prints it as one line,
without a traceback, and exits 1, or 2 for a ``UsageError`` (as argparse does for bad arguments).
It also turns SIGTERM into the same clean stop as Ctrl-C, once, for every command (and Ctrl-C
into one even for a command started in the background, where SIGINT is ignored); reads AWS's
and Stripe's refusals as problems; and stops quietly when the reader of its output goes away
(``make inspect | head``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

INTERRUPTED = 130
BROKEN_PIPE = 141


class Problem(Exception):
    """Something the person running the command can fix: printed as ``error: …``, exit 1."""

    exit_code = 1


class UsageError(Problem):
    """The command was asked for something it does not do: exit 2, as for bad arguments."""

    exit_code = 2


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _aws_or_stripe_problem(error: Exception) -> str | None:
    """The line for a refusal by AWS or Stripe, or None for any other error (a bug: a traceback)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: configure them as for `sam deploy` (AWS_PROFILE, …)"
    if isinstance(error, NoRegionError):  # nothing was asked of AWS
        return "no AWS region: pass --region, or set one as for `sam deploy` (AWS_REGION, AWS_PROFILE)"
    if isinstance(error, EndpointConnectionError):
        return f"AWS did not answer: {error}"
    if isinstance(error, ClientError):
        return f"AWS refused: {error}"
    if isinstance(error, BotoCoreError):
        return f"AWS call failed: {error}"
    stripe = sys.modules.get("stripe")
    if stripe is not None and isinstance(error, stripe.StripeError):
        return f"Stripe refused: {error.user_message or error}"
    return None


def run(
    main: Callable[[list[str] | None], int], argv: list[str] | None = None, *, interrupted: str = ""
) -> int:
    """Run ``main`` as a command: its exit code, a problem's one line, or 130 when interrupted
    (after printing ``interrupted``, when given). Commands whose normal end is Ctrl-C (the local
    stack, ``tail --follow``) catch ``KeyboardInterrupt`` themselves."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (a background job)
    try:
        return main(argv)
    except Problem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return problem.exit_code
    except KeyboardInterrupt:
        if interrupted:
            print(f"\n{interrupted}", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush does not fail too
        return BROKEN_PIPE
    except Exception as error:
        line = _aws_or_stripe_problem(error)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1


def exit_with(main: Callable[[list[str] | None], int], *, interrupted: str = "") -> None:
    """``if __name__ == "__main__": exit_with(main)``."""
    sys.exit(run(main, interrupted=interrupted))


@contextlib.contextmanager
def ctrl_c_ignored(doing: str) -> Iterator[None]:
    """A second Ctrl-C while stopping does not cut ``doing`` short (a save cut short would lose
    what was answered since the last one): it says so, and the stop goes on. (A harder kill
    still works; the local stack's save is atomic, so it leaves the previous save whole.)"""

    def say(_signum: int, _frame: object) -> None:
        print(f"\nstill {doing}: one moment (Ctrl-C is ignored until it is done)", flush=True)

    previous = signal.signal(signal.SIGINT, say)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for_ctrl_c() -> None:
    """Block until Ctrl-C. In timed waits: the OS may hand SIGINT to any of the stack's threads, and
    Python runs its handler only when the main thread runs again, which an untimed wait never does."""
    idle = threading.Event()
    while not idle.wait(0.5):
        pass
