"""The benchmark runs end to end (a smoke run); its figures are for people, not for pass/fail."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_tool
from tests.support import free_port


@pytest.mark.slow
def test_the_benchmark_runs_and_reports_every_measure() -> None:
    result = run_tool("bench", "--quick", "--aws-port", str(free_port()))

    assert result.returncode == 0, result.stderr[-2000:]
    for measure in ("Cold start to first response", "Warm CPU per new event", "Warm CPU per duplicate"):
        assert measure in result.stdout
    assert "| AWS calls per new event | 3 |" in result.stdout
    assert "| AWS calls per duplicate | 1 |" in result.stdout
    # The consumer kit: a write action's write, note and the carried record's check, one transaction
    assert "| AWS calls per new message | 1 |" in result.stdout
    assert "| AWS calls per duplicate | 1 |" in result.stdout
    # POST -> the action's effect, on a local stack of its own: every event's action done
    assert "POST -> action done, local stack, 15 events" in result.stdout
    assert "; 15 done, 0 not done" in result.stdout
