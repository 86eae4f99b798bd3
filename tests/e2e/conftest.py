"""A running local stack (a subprocess) shared by the end-to-end tests."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra import REPO_ROOT
from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode
from infra.fixtures.signing import signature_header
from tests.support import free_port

READY_LINE = "Press Ctrl-C to stop"


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    port: int
    endpoint: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    state_file: Path | None = None
    seen: list[str] = field(default_factory=list)
    stripe_port: int | None = None
    """The local Stripe API stand-in's port."""

    def client(self, service: str) -> Any:
        make_client: Any = boto3.client
        return make_client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        answer = post(f"http://127.0.0.1:{self.port}/webhook", body, headers=headers, timeout=10)
        return answer.status, answer.text

    def wait_for_line(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.seen:
                if text in line:
                    return line
            try:
                self.seen.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"{text!r} not printed; output so far:\n" + "".join(self.seen))


def state_file() -> Path:
    """A state file of its own for each stack a test starts (never the repository's)."""
    return Path(tempfile.mkdtemp(prefix="local-stack-")) / "state.json"


def start(args: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "infra.local", *args],
        cwd=cwd,
        env={**os.environ, "STRIPE_LOCAL_STATE": str(state_file()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def launch(*options: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> LocalStack:
    """A local stack on free ports (plus ``options``), its output collected, ready to use; ``cwd``:
    the checkout it runs from (a copy of the repository, for a tutorial)."""
    port, aws_port, stripe_port, state = free_port(), free_port(), free_port(), state_file()
    settings = {"STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_LOCAL_STATE": str(state), **(env or {})}
    ports = ["--port", str(port), "--aws-port", str(aws_port), "--stripe-port", str(stripe_port)]
    process = start([*ports, *options], settings, cwd)
    running = LocalStack(
        process, port, f"http://127.0.0.1:{aws_port}", state_file=state, stripe_port=stripe_port
    )
    assert process.stdout is not None
    stdout = process.stdout

    def read_lines() -> None:
        for line in stdout:
            running.lines.put(line)

    threading.Thread(target=read_lines, daemon=True).start()
    running.wait_for_line(READY_LINE, timeout=60)
    return running


def stop(running: LocalStack) -> None:
    running.process.send_signal(signal.SIGINT)
    try:
        running.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        running.process.kill()


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    running = launch()
    try:
        yield running
    finally:
        stop(running)


SECRET = "whsec_" + "e2" * 16


def run_tool(
    module: str, *args: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m infra.<module>`` as a person would, from the repository root (or ``cwd``)."""
    return subprocess.run(
        [sys.executable, "-m", f"infra.{module}", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ATTACKER_NAMES = "MAP attacker.test 127.0.0.1, MAP rebound.test 127.0.0.1"
"""Names that resolve to loopback in the test browser: another site's page, and a DNS rebinding."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (CI installs it, ``.ci/provision``); skipped, with the
    reason, where it is missing. ``attacker.test`` and ``rebound.test`` resolve to loopback."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (make venv)"
    )
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: install it (Debian: apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", f"--host-resolver-rules={ATTACKER_NAMES}"]
        )
        yield launched
        launched.close()


def screenshots(tmp_path: Path) -> Path:
    """Where a browser test saves its screenshots: ``docs/`` with ``INBOX_SCREENSHOTS=docs`` (the
    ones docs/local-development.md shows), else the test's own directory."""
    return REPO_ROOT / "docs" if os.environ.get("INBOX_SCREENSHOTS") == "docs" else tmp_path


def send(stack: LocalStack, event: dict[str, Any], *, tamper: bool = False) -> int:
    """POST ``event`` to the stack's webhook as Stripe would (signed with ``SECRET``); its status.
    ``tamper``: change the body after signing, as a forger would."""
    body = encode(event)
    header = signature_header(body, SECRET)
    if tamper:
        body = body.replace(b'"livemode": false', b'"livemode": true', 1)
    return post(f"http://127.0.0.1:{stack.port}/webhook", body, header=header, timeout=10).status
