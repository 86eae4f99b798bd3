"""What the reconciler costs: Stripe API calls per run and DynamoDB units per event, measured.

    python -m infra.bench.recovery [--events 200]        (make cost prints it too)

The reconciler's own code runs in-process against moto with the template's table (the DynamoDB
calls priced by ``units.Meter``), and against an in-memory Stripe Events API that pages as Stripe
does (``infra.fixtures.events_api``). Three runs are measured:

- idle: nothing undelivered (one recorded endpoint to check);
- an outage: ``--events`` undelivered events of the handled types (the project corpus) in one run;
- the same window again (the overlap lists them once more): each is already known.

From them, and the template's defaults (``ReconcileIntervalMinutes`` 5, ``RECONCILE_MAX_PAGES``
10), ``outage_table`` says how long a backlog takes to recover within Stripe's 30-day window.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.bench import corpus
from infra.bench.units import Priced, function_on_moto
from infra.cli import exit_with
from infra.fixtures.events_api import Listed, list_events, list_query
from infra.fixtures.payloads import with_fresh_ids

INTERVAL_MINUTES = 5
MAX_PAGES = 10
PAGE_SIZE = 100
STRIPE_READ_LIMIT_PER_SECOND = 100
"""Stripe's documented default rate limit for live-mode reads (25 in a sandbox), per account."""
EVENTS_API_DAYS = 30
SECONDS_PER_EVENT = 0.04
"""A recovered event in the deployed function: two DynamoDB calls and a publish (~15 ms of waits)
plus CPU at 512 MB (docs/performance.md): what a run's 150 s of working time is divided by."""
RUN_SECONDS = 180 - 28
"""The reconciler's timeout, less one event's whole budget (a run stops before it)."""


@dataclass
class Run:
    stripe_calls: int
    dynamodb: list[Priced]
    recovered: int
    known: int


class EventsApi:
    """An in-memory ``StripeApi`` transport: the Events API and one enabled endpoint."""

    def __init__(self) -> None:
        self.events: list[Listed] = []
        self.calls = 0

    def __call__(self, url: str, headers: Mapping[str, str], deadline: float, max_bytes: int) -> Any:
        from stripe_webhook.adapters.stripe_api import Answer

        self.calls += 1
        parts = urlsplit(url)
        if parts.path == "/v1/events":
            status, body = list_events(self.events, **list_query(dict(parse_qsl(parts.query))))
        else:
            status, body = 200, {"id": parts.path.rsplit("/", 1)[1], "status": "enabled"}
        return Answer(status, json.dumps(body).encode())


def measure(count: int) -> tuple[Run, Run, Run]:
    from infra.fixtures.signing import generate_secret
    from stripe_webhook import composition
    from stripe_webhook.adapters.stripe_api import StripeApi
    from stripe_webhook.handlers import build_registry
    from stripe_webhook.recovery.reconciler import Reconciler
    from stripe_webhook.recovery.reconciliation import Endpoint, Limits

    api = EventsApi()
    with function_on_moto(generate_secret()) as (meter, _deliver):
        components = composition.components()
        patterns = tuple(build_registry().patterns())
        created = int(time.time()) - 86_400
        components.ledger.record_endpoints([Endpoint("we_bench", "webhook_endpoint", "-", patterns, created)])
        reconciler = Reconciler(
            components.pipeline,
            StripeApi(lambda: "rk_test_bench", "https://api.stripe.test", transport=api),
            components.ledger,
            handled=patterns,
            api_version=components.settings.stripe_api_version,
            limits=Limits(max_pages=math.ceil(count / PAGE_SIZE) + 1),
        )

        def run() -> Run:
            before = api.calls
            with meter.measuring() as calls, contextlib.redirect_stdout(io.StringIO()):
                report = reconciler.run(time.time() + 3_600)
            return Run(api.calls - before, calls, len(report.recovered), report.known)

        run()  # the first run also makes the day's complete sweep (one more list call)
        idle = run()
        api.events = _undelivered(count)
        outage = run()
        again = run()  # the overlap (10 minutes) lists the outage's events again
    return idle, outage, again


def _undelivered(count: int) -> list[Listed]:
    """``count`` events of the handled types, created over the last few minutes (inside the overlap)."""
    from stripe_webhook.handlers import build_registry

    registry = build_registry()
    kinds = [event for event in corpus.CORPORA["project"]() if registry.resolve(event["type"]) is not None]
    now = int(time.time()) - 400
    events = [with_fresh_ids([kinds[i % len(kinds)]])[0] for i in range(count)]
    for number, event in enumerate(events):
        event["id"] = f"evt_bench{number:06d}"
        event["created"] = now - number // 4
    return [Listed(event) for event in sorted(events, key=lambda event: event["created"])]


def per_event(run: Run, count: int) -> float:
    return sum(call.write_units for call in run.dynamodb) / max(count, 1)


def outage_table() -> list[str]:
    """Backlogs the reconciler works through at the defaults. While Stripe's deliveries fail and
    the reconciler runs, nothing piles up (each run takes its interval's events); a backlog forms
    only while the reconciler cannot run either (its key revoked, the stack down), and must be
    worked through before its oldest event leaves Stripe's 30-day Events API."""
    per_run = min(MAX_PAGES * PAGE_SIZE, int(RUN_SECONDS / SECONDS_PER_EVENT))
    runs_per_day = 24 * 60 // INTERVAL_MINUTES
    capacity = per_run * runs_per_day
    allowed = int(RUN_SECONDS / SECONDS_PER_EVENT)
    rows = [
        f"a run recovers up to {per_run:,} events ({MAX_PAGES} pages; its {RUN_SECONDS} s at"
        f" ~{SECONDS_PER_EVENT * 1000:.0f} ms each would allow {allowed:,}): {capacity:,} a day",
        "with the reconciler down too for 3 days, then back:",
        f"{'events a day':>14} {'backlog':>10} {'caught up in':>13} {'longest recoverable':>20}",
    ]
    for daily in (1_000, 10_000, 100_000, 250_000):
        spare = capacity - daily
        if spare <= 0:
            rows.append(f"{daily:>14,} {3 * daily:>10,} {'never':>13} {'raise MAX_PAGES':>20}")
            continue
        caught_up = 3 * daily / spare * 24
        longest = EVENTS_API_DAYS * spare / capacity
        rows.append(f"{daily:>14,} {3 * daily:>10,} {caught_up:>11.1f} h {longest:>18.1f} d")
    return rows


def report(count: int, idle: Run, outage: Run, again: Run) -> str:
    lines = [
        "reconciler: Stripe API calls and DynamoDB units (in-process, moto, one recorded endpoint)",
        f"{'run':<34} {'Stripe calls':>12} {'DynamoDB calls':>15} {'write units':>12} {'read units':>11}",
    ]
    for name, run in (
        ("idle", idle),
        (f"after an outage: {count:,} undelivered", outage),
        ("the same window again", again),
    ):
        units = sum(call.write_units for call in run.dynamodb)
        reads = sum(call.read_units for call in run.dynamodb)
        lines.append(f"{name:<34} {run.stripe_calls:>12} {len(run.dynamodb):>15} {units:>12} {reads:>11.1f}")
    state = idle.dynamodb
    recovered = per_event(outage, outage.recovered) - per_event(idle, outage.recovered)
    known = per_event(again, again.known) - per_event(idle, again.known)
    daily_reads = idle.stripe_calls * 24 * 60 // INTERVAL_MINUTES
    lines += [
        f"per recovered event: {recovered:.2f} write units (a new event's, and the run's state per page)",
        f"per already-known event: {known:.2f} write units (a duplicate's refused claim)",
        f"a run's own state: {sum(call.write_units for call in state)} write units,"
        f" {sum(call.read_units for call in state):.1f} read units at idle (lease, endpoints, state)",
        f"Stripe reads: {idle.stripe_calls} per idle run ({daily_reads:,} a day at one run every"
        f" {INTERVAL_MINUTES} min), and one list call per {PAGE_SIZE} undelivered events;"
        f" Stripe allows {STRIPE_READ_LIMIT_PER_SECOND} reads/s in live mode",
        "",
        *outage_table(),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.recovery", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--events", type=int, default=200, help="undelivered events in the outage run (default 200)"
    )
    args = parser.parse_args(argv)
    print(
        f"measuring the reconciler over {args.events:,} undelivered events under moto…",
        file=sys.stderr,
        flush=True,
    )
    idle, outage, again = measure(args.events)
    print(report(args.events, idle, outage, again))
    if outage.recovered != args.events or again.recovered:
        print("error: the outage run did not recover every event exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_with(main)
