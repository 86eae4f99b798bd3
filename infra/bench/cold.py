"""Cold starts (fresh processes answering one request) and a warm container's peak memory."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from infra.bench.environment import (
    child_environment,
    compiled_as_shipped,
    program,
    run_python,
    signed_request,
)


def cold_run(name: str, request: dict[str, Any], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds from spawn to exit of a fresh process answering one request, and its peak MB."""
    started = time.perf_counter()
    result = run_python([*program(name), json.dumps(request)], env, "a cold run")
    elapsed = time.perf_counter() - started
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


def warm_container_peak_mb(secret: str, env: dict[str, str], events: int) -> float:
    """Peak memory of one process answering ``events`` events in turn: a warm Lambda container."""
    result = run_python(
        [*program("warm_memory"), str(events)], child_environment(env, secret), "the warm-container run"
    )
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def cold_starts(secret: str, env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall ms and median peak MB per variant, runs interleaved so drift hits all alike."""
    compiled_as_shipped()
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "floor": [], "naive": [], "xray_sdk": []}
    for _ in range(runs):
        for name, runs_so_far in samples.items():
            runs_so_far.append(cold_run(f"cold_{name}", signed_request(secret), env))
    return {
        name: (statistics.median(s[0] for s in runs_) * 1000, statistics.median(s[1] for s in runs_))
        for name, runs_ in samples.items()
    }
