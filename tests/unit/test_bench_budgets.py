"""The benchmark fails (exit 1) when a budget is missed; a --quick run checks only the call counts."""

from __future__ import annotations

from typing import Any

import pytest

from infra.bench.benchmark import BUDGETS, missed_budgets, missed_consumer_budgets

COLD = {"ours": (440.0, 61.0), "floor": (420.0, 64.0), "naive": (670.0, 88.0)}


def _warm(**changes: float) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "ours_new": 6.9,
        "floor_new": 6.3,
        "ours_duplicate": 2.1,
        "floor_duplicate": 1.9,
        "calls_new": 3.0,
        "calls_duplicate": 1.0,
    }
    return figures | changes


def test_figures_inside_every_budget_miss_nothing() -> None:
    assert missed_budgets(COLD, _warm()) == []


def test_a_slow_cold_start_or_warm_path_is_a_miss() -> None:
    slow_cold = {**COLD, "ours": (COLD["floor"][0] * BUDGETS["cold"] + 1, 61.0)}

    assert missed_budgets(slow_cold, _warm()) == ["cold start"]
    assert missed_budgets(COLD, _warm(ours_new=6.3 * BUDGETS["warm"] + 0.1)) == ["warm CPU per new event"]
    assert missed_budgets(COLD, _warm(ours_duplicate=9.0)) == ["warm CPU per duplicate"]


def test_an_untimed_run_checks_only_the_aws_call_counts() -> None:
    slow_cold = {**COLD, "ours": (9_999.0, 61.0)}

    assert missed_budgets(slow_cold, _warm(ours_new=99.0), timed=False) == []
    assert missed_budgets(COLD, _warm(calls_new=4.0), timed=False) == ["AWS calls"]
    assert missed_budgets(COLD, _warm(calls_duplicate=2.0), timed=False) == ["AWS calls"]


CONSUMER_COLD = {"ours": (1200.0, 67.0), "floor": (990.0, 64.0)}


def _consumer(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "ours_new": 6.6,
        "floor_new": 3.7,
        "ours_duplicate": 3.6,
        "calls_new": 2.0,
        "calls_duplicate": 1.0,
        "ratios": [1.7, 1.8, 1.9],
    }
    return figures | changes


def test_the_consumer_budgets_bound_cold_start_cpu_per_message_and_calls() -> None:
    assert missed_consumer_budgets(CONSUMER_COLD, _consumer()) == []
    slow = {**CONSUMER_COLD, "ours": (990.0 * BUDGETS["consumer_cold"] + 1, 67.0)}
    assert missed_consumer_budgets(slow, _consumer()) == ["consumer cold start"]
    heavy = _consumer(ratios=[1.9, BUDGETS["consumer_warm"] + 0.01, 2.3])
    assert missed_consumer_budgets(CONSUMER_COLD, heavy) == ["consumer warm CPU per new message"]
    chatty = _consumer(calls_new=3.0, calls_duplicate=2.0)
    assert missed_consumer_budgets(CONSUMER_COLD, chatty, timed=False) == [
        "consumer calls new",
        "consumer calls duplicate",
    ]
    assert missed_consumer_budgets(slow, heavy, timed=False) == []


def test_warm_rounds_alternate_which_side_runs_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that drifts during a run favours the second of each pair: the rounds take turns."""
    from infra.bench import warm

    order: list[str] = []

    def child(kind: str, *args: object) -> dict[str, float]:
        order.append(kind)
        return {f"{kind}_new": 1.0, f"{kind}_duplicate": 1.0}

    monkeypatch.setattr(warm, "run_child", child)
    monkeypatch.setattr(warm, "warm_container_peak_mb", lambda *args: 60.0)

    warm.warm("whsec_x", {}, 10, rounds=4)

    assert order == ["ours", "floor", "floor", "ours", "ours", "floor", "floor", "ours", "naive"]
