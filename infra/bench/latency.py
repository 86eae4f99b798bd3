"""From Stripe's POST to the action's effect, on the local stack: each event's 200 to its action's outcome.

    python -m infra.bench.latency [--events 300] [--concurrency 8]      (make bench runs it)

It starts a local stack of its own (``python -m infra.local`` on free ports, with a state file of
its own and the example actions), sends a burst of events through the burst tool, each about an
object of its own and each triggering one example action (``invoice.paid``: ``fulfil_order``;
``customer.subscription.updated``: ``entitlement``; ``charge.dispute.created``:
``dispute_alert``), and reads each event's outcome, with its time, from the stack
(``/api/outcomes/<event id>``). An event's latency is the time its action was done, less the time
its 200 arrived: the publish, the queue, the action runner's poll (every 0.2 s while idle, as
Lambda's pollers do on AWS), the record read and the write. docs/performance.md models the same
path on AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.bench.burst import send_all
from infra.cli import Problem, exit_with
from infra.fixtures.payloads import fresh_event
from infra.fixtures.signing import generate_secret

ACTION_EVENTS = {
    "invoice.paid": ("invoice.paid", "in_lat"),
    "customer.subscription.updated": ("customer.subscription.created", "sub_lat"),
    "charge.dispute.created": ("charge.dispute.created", "du_lat"),
}
"""Event type → (the stored payload it is made from, its object's id prefix): one per example action."""
READY_SECONDS = 90.0
DONE_SECONDS = 120.0


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]
    """One per event whose action was done, sorted."""
    missing: list[str]
    """Acknowledged events with no ``done`` outcome in time."""
    wall_seconds: float

    def quantile_ms(self, quantile: float) -> float:
        if not self.seconds:
            return float("nan")
        index = min(len(self.seconds) - 1, round(quantile * (len(self.seconds) - 1)))
        return self.seconds[index] * 1000

    def lines(self, events: int, concurrency: int) -> list[str]:
        return [
            f"POST -> action done, local stack, {events} events at concurrency {concurrency}"
            f" ({events / self.wall_seconds:.0f} events/s sent):",
            f"  p50 {self.quantile_ms(0.5):.0f} ms, p99 {self.quantile_ms(0.99):.0f} ms,"
            f" max {self.quantile_ms(1.0):.0f} ms; {len(self.seconds)} done, {len(self.missing)} not done in"
            f" {DONE_SECONDS:.0f} s",
        ]


def action_events(count: int) -> list[dict[str, Any]]:
    """``count`` events, the three kinds in turn, each about an object (and customer) of its own."""
    kinds = list(ACTION_EVENTS.items())
    events = []
    for index in range(count):
        event_type, (stored, prefix) = kinds[index % len(kinds)]
        event = fresh_event(stored, type=event_type)
        suffix = secrets.token_hex(8)
        event["data"]["object"]["id"] = f"{prefix}{suffix}"
        if event_type.startswith("customer.subscription."):
            event["data"]["object"]["customer"] = f"cus_lat{suffix}"
        events.append(event)
    return events


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    """A local stack of the benchmark's own, started and stopped around the measurement."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.aws_port = free_port(), free_port()
        self.secret = generate_secret()
        self.log = workdir / "local-stack.log"
        env = {
            **os.environ,
            "STRIPE_LOCAL_STATE": str(workdir / "state.json"),
            "STRIPE_WEBHOOK_SECRET": self.secret,
        }
        ports = [
            "--port",
            str(self.port),
            "--aws-port",
            str(self.aws_port),
            "--stripe-port",
            str(free_port()),
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own module)
                [sys.executable, "-m", "infra.local", *ports],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Problem(f"the local stack stopped while starting; see {self.log}")
            try:
                self.outcomes("evt_ready")
                return
            except OSError:
                time.sleep(0.5)
        raise Problem(f"the local stack did not start within {READY_SECONDS:.0f} s; see {self.log}")

    def outcomes(self, event_id: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.base_url}/api/outcomes/{event_id}", timeout=10) as answer:  # noqa: S310 (loopback)
            found: list[dict[str, Any]] = json.loads(answer.read())["outcomes"]
            return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # the stack drains and stops as on Ctrl-C
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def done_times(
    stack: LocalStack, pending: dict[str, float], timeout: float = DONE_SECONDS
) -> dict[str, float]:
    """Each event's latency (its first ``done`` outcome's time less its 200's), while they come."""
    latencies: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for event_id, answered_at in list(pending.items()):
            done = [outcome["time"] for outcome in stack.outcomes(event_id) if outcome["status"] == "done"]
            if done:
                latencies[event_id] = min(done) - answered_at
                del pending[event_id]
        time.sleep(0.2)
    return latencies


def measure(events: int, concurrency: int) -> Latencies:
    with tempfile.TemporaryDirectory() as workdir:
        stack = LocalStack(Path(workdir))
        try:
            stack.wait_ready()
            started = time.perf_counter()
            result = send_all(f"{stack.base_url}/webhook", stack.secret, action_events(events), concurrency)
            wall = time.perf_counter() - started
            pending = {reply.event_id: reply.answered_at for reply in result.replies if reply.status == 200}
            latencies = done_times(stack, pending)
        finally:
            stack.stop()
    return Latencies(sorted(latencies.values()), sorted(pending), wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.latency", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--events", type=int, default=300, help="events to send (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel senders (default 8)")
    args = parser.parse_args(argv)
    print(f"starting a local stack, then {args.events} events ...", file=sys.stderr, flush=True)
    measured = measure(args.events, args.concurrency)
    print("\n".join(measured.lines(args.events, args.concurrency)))
    return 1 if measured.missing else 0


if __name__ == "__main__":
    exit_with(main)
