"""The performance benchmark: cold start, warm per-event CPU, AWS calls, package size — each
against a floor measured in the same run, plus the way most tutorials write the same job.

    python -m infra.bench            # make bench; about 20 minutes; exits 1 if a budget is missed
    python -m infra.bench --quick    # a smoke run (the test suite uses it): only the AWS-call budgets count

The local AWS endpoint is the local stack (moto) in its own process, started once, so its CPU is
never counted. Every figure is a ratio to a floor from this run, because absolute times on a
shared machine are noise.

- cold start: a fresh Python process that imports the handler and answers one signed event
  (reading the signing secret from Secrets Manager, as deployed). Floor: a fresh process that
  imports boto3, creates the same clients and makes the same AWS calls with no framework.
- warm: CPU time of this process per new event and per duplicate, over many events. Floor: the
  same AWS calls made directly with botocore.
- naive: ``stripe.Webhook.construct_event``, a boto3 ``Table.put_item`` and an SNS publish, with
  the X-Ray SDK patched in — the tutorial shape, with no dedup at all.
- the consumer kit (``consumer.py``): an actions function's cold start and warm CPU per message,
  against a bare SQS-triggered function making the same DynamoDB write; its AWS calls per message.
- latency (``latency.py``): on a local stack of its own, each event's 200 to its action's effect.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from infra.bench import corpus, latency, units
from infra.bench.cold import cold_starts
from infra.bench.consumer import cold_consumer_starts, warm_consumer
from infra.bench.environment import AwsEndpoint, XrayDaemon, function_environment
from infra.bench.package import package_size
from infra.bench.warm import warm
from infra.cli import exit_with
from infra.fixtures.signing import generate_secret

BUDGETS = {
    "cold": 1.1,
    "warm": 1.15,
    "calls_new": 3,
    "calls_duplicate": 1,
    "artifact_kib": 1024,
    "consumer_cold": 1.4,
    "consumer_warm": 2.0,
    "consumer_calls_new": 2,
    "consumer_calls_duplicate": 1,
}
"""The consumer's cold budget is looser than the webhook's: Powertools' batch utility imports asyncio
and every event data class (about 50 ms) and the contract compiles once (about 20 ms), and the
floor does neither. Its warm budget is per message: the floor makes one call per message (its
write), and so does ours when the message carries the record (the write, the note and the
record's check in one transaction: ``stripe_actions.handled``); the budget still allows the two
calls of a message without the record (the note and the record read together first), since in
botocore each call costs about the same CPU, and bounds everything else (parsing, the contract,
the batch), at the median of rounds that alternate ours and the floor's (one machine's noise
moves a single round's ratio by a tenth)."""


LATENCY_RUNS = ((100, 1), (300, 8))
"""The latency runs (events, concurrency): one sender at a time, then the burst tool's load, which
outruns what the local stack's one process acts on (its actions queue up behind the webhook)."""


def missed_budgets(
    cold: dict[str, tuple[float, float]], warm_figures: dict[str, Any], *, timed: bool = True
) -> list[str]:
    """The budgets these figures miss (``timed=False``: only the deterministic AWS-call counts)."""
    failures = []
    if timed and cold["ours"][0] > BUDGETS["cold"] * cold["floor"][0]:
        failures.append("cold start")
    if timed and warm_figures["ours_new"] > BUDGETS["warm"] * warm_figures["floor_new"]:
        failures.append("warm CPU per new event")
    if timed and warm_figures["ours_duplicate"] > BUDGETS["warm"] * warm_figures["floor_duplicate"]:
        failures.append("warm CPU per duplicate")
    if (
        warm_figures["calls_new"] > BUDGETS["calls_new"]
        or warm_figures["calls_duplicate"] > BUDGETS["calls_duplicate"]
    ):
        failures.append("AWS calls")
    return failures


def missed_consumer_budgets(
    cold: dict[str, tuple[float, float]], warm_figures: dict[str, Any], *, timed: bool = True
) -> list[str]:
    """The consumer kit's budgets these figures miss (``timed=False``: only the call counts)."""
    failures = []
    if timed and cold["ours"][0] > BUDGETS["consumer_cold"] * cold["floor"][0]:
        failures.append("consumer cold start")
    if timed and statistics.median(warm_figures["ratios"]) > BUDGETS["consumer_warm"]:
        failures.append("consumer warm CPU per new message")
    for counted in ("calls_new", "calls_duplicate"):
        if warm_figures[counted] > BUDGETS[f"consumer_{counted}"]:
            failures.append(f"consumer {counted.replace('_', ' ')}")
    return failures


def row(name: str, ours: float, floor: float | None, budget: str, naive: str, *, digits: int = 0) -> str:
    ratio = f"{ours / floor:.2f}x" if floor else ""
    floor_text = f"{floor:.{digits}f}" if floor is not None else ""
    return f"| {name} | {ours:.{digits}f} | {floor_text} | {ratio} | {budget} | {naive} |"


def consumer_report(cold: dict[str, tuple[float, float]], warm_figures: dict[str, Any]) -> list[str]:
    w = warm_figures

    def line(name: str, ours: float, floor: float | None, budget: str, *, digits: int = 0) -> str:
        return row(name, ours, floor, budget, "", digits=digits).removesuffix(" |  |") + " |"

    return [
        "| Consumer kit (entitlement action) | This project | Floor | Ratio | Budget |",
        "| --- | ---: | ---: | ---: | --- |",
        line("Cold start, one message (median, ms)", *_pair(cold, 0), f"≤ {BUDGETS['consumer_cold']}x"),
        line("Peak memory, cold (MB)", *_pair(cold, 1), ""),
        line(
            "Warm CPU per new message (ms)",
            w["ours_new"],
            w["floor_new"],
            f"≤ {BUDGETS['consumer_warm']}x (median of rounds: "
            + ", ".join(f"{ratio:.2f}x" for ratio in w["ratios"])
            + ")",
            digits=2,
        ),
        line(
            "Warm CPU per AWS call, new message (ms)",
            w["ours_new"] / w["calls_new"],
            w["floor_new"],
            "",
            digits=2,
        ),
        line("Warm CPU per duplicate message (ms)", w["ours_duplicate"], w["floor_new"], "", digits=2),
        line("AWS calls per new message", w["calls_new"], None, f"≤ {BUDGETS['consumer_calls_new']}"),
        line(
            "AWS calls per duplicate", w["calls_duplicate"], None, f"≤ {BUDGETS['consumer_calls_duplicate']}"
        ),
    ]


def _pair(figures: dict[str, tuple[float, float]], index: int) -> tuple[float, float]:
    return figures["ours"][index], figures["floor"][index]


def cold_rows(cold: dict[str, tuple[float, float]]) -> list[str]:
    """Cold start and memory, ours and the naive tutorial's; and ours with the X-Ray SDK (Powertools'
    ``Tracer``) in place of ``contract.tracing``, which is why the function does not use it."""
    ours, floor, naive = cold["ours"], cold["floor"], cold["naive"]
    rows = [
        row(
            "Cold start to first response (median, ms)",
            ours[0],
            floor[0],
            f"≤ {BUDGETS['cold']}x",
            f"{naive[0]:.0f}",
        ),
        row("Peak memory, cold (MB)", ours[1], floor[1], "", f"{naive[1]:.0f}"),
    ]
    if "xray_sdk" in cold:
        with_sdk = "Cold start with the X-Ray SDK (Powertools' Tracer) instead (median, ms)"
        rows.append(row(with_sdk, cold["xray_sdk"][0], floor[0], "not used", ""))
    return rows


def report(
    cold: dict[str, tuple[float, float]], warm_figures: dict[str, Any], sizes: dict[str, float] | None
) -> list[str]:
    w = warm_figures
    rows = [
        "| Measure | This project | Floor | Ratio | Budget | Naive tutorial |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
        *cold_rows(cold),
        row(
            "Warm CPU per new event (ms)",
            w["ours_new"],
            w["floor_new"],
            f"≤ {BUDGETS['warm']}x",
            f"{w['naive_new']:.2f}",
            digits=2,
        ),
        row(
            "Warm CPU per duplicate (ms)",
            w["ours_duplicate"],
            w["floor_duplicate"],
            f"≤ {BUDGETS['warm']}x",
            "no dedup",
            digits=2,
        ),
        row("AWS calls per new event", w["calls_new"], None, f"≤ {BUDGETS['calls_new']}", "2"),
        row(
            "AWS calls per duplicate",
            w["calls_duplicate"],
            None,
            f"≤ {BUDGETS['calls_duplicate']}",
            "2 (publishes again)",
        ),
        row(
            f"Peak memory of a warm container after {min(w['events'], 500)} events (MB)",
            w["peak_mb"],
            None,
            "well under MemorySize",
            "",
        ),
    ]
    if sizes:
        rows += [
            row("Function artifact, zipped, Powertools bundled (KiB)", sizes["bundled"], None, "", ""),
            row(
                "Function artifact, zipped, Powertools from the layer (KiB)",
                sizes["layer"],
                None,
                f"≤ {BUDGETS['artifact_kib']}",
                "",
            ),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh processes per variant (default 15)")
    parser.add_argument("--events", type=int, default=1000, help="warm events a round (default 1000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 cold runs, 30 events, no build")
    parser.add_argument("--no-build", action="store_true", help="skip sam build (package size)")
    parser.add_argument(
        "--part",
        choices=["all", "webhook", "consumer", "units", "latency"],
        default="all",
        help="measure the webhook function, the consumer kit, the DynamoDB units per event, the latency"
        " from POST to an action's effect on the local stack, or all (default)",
    )
    parser.add_argument("--aws-port", type=int, default=5055)
    parser.add_argument("--no-tracing", action="store_true", help="as Tracing=PassThrough (default: traced)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cold_runs, args.events, args.no_build = 2, 30, True
    secret = generate_secret()
    endpoint = AwsEndpoint(args.aws_port, secret)
    timed = not args.quick  # two cold runs and 30 events say nothing about ratios
    failures: list[str] = []
    lines: list[str] = []
    try:
        daemon = None if args.no_tracing else XrayDaemon()
        env = function_environment(endpoint.url, daemon)
        if args.part in ("all", "webhook"):
            say(f"cold starts: {args.cold_runs} fresh processes per variant ...")
            cold = cold_starts(secret, env, args.cold_runs)
            say(f"warm: {args.events} new events and {args.events} duplicates per variant ...")
            warm_figures = warm(secret, env, args.events, rounds=1 if args.quick else 3) | {
                "events": args.events
            }
            say("package: sam build ...")
            sizes = package_size(not args.no_build)
            lines += report(cold, warm_figures, sizes)
            lines.append(f"\nAWS calls per {args.events} new events: {warm_figures['calls_by_operation']}\n")
            failures += missed_budgets(cold, warm_figures, timed=timed)
        if args.part in ("all", "consumer"):
            say(f"consumer kit: {args.cold_runs} cold starts and {args.events} messages per variant ...")
            consumer_cold = cold_consumer_starts(env, args.cold_runs)
            consumer_warm = warm_consumer(env, args.events, rounds=1 if args.quick else 3)
            lines += consumer_report(consumer_cold, consumer_warm)
            calls = consumer_warm["calls_by_operation"]
            lines.append(f"\nconsumer AWS calls per {args.events} new messages: {calls}")
            failures += missed_consumer_budgets(consumer_cold, consumer_warm, timed=timed)
        lines += other_parts(args, failures)
    finally:
        endpoint.stop()
    lines.append(
        "tracing: " + ("off" if args.no_tracing else "on (sampled; spans sent to a loopback UDP port)")
    )
    print("\n".join(lines))
    print("budgets: " + ("all met" if not failures else "missed: " + ", ".join(failures)))
    if not timed:
        print("(a --quick run checks only the AWS-call budgets; timings are too few to compare)")
    return 1 if failures else 0


def other_parts(args: argparse.Namespace, failures: list[str]) -> list[str]:
    """The parts that need no warm endpoint of the benchmark's: the latency on a local stack of
    its own, and the DynamoDB units under moto (``failures`` gets what they miss)."""
    lines: list[str] = []
    if args.part in ("all", "latency"):
        lines.append("")
        for events, concurrency in [(15, 2)] if args.quick else LATENCY_RUNS:
            say(f"POST -> action done: a local stack of its own, {events} events, {concurrency} at once ...")
            measured = latency.measure(events, concurrency)
            lines += measured.lines(events, concurrency)
            failures += ["latency: actions not done"] if measured.missing else []
    if args.part in ("all", "units") and not args.quick:
        say("DynamoDB units: the openapi corpus under moto (about 30 s) ...")
        units_measured = units.measure(corpus.openapi_events())
        lines += ["", units.report(units_measured, "openapi")]
        failures += units.missed_targets(units_measured)
    return lines


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    exit_with(main)
