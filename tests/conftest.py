"""Shared test setup: fake AWS credentials, a signing secret, and a clean function state."""

from __future__ import annotations

import os

import pytest

import infra  # noqa: F401  (puts functions/ on sys.path, as in the deployed function)

# Tests never talk to real AWS: fixed fake credentials, a fixed region, no custom endpoint.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "STRIPE_WEBHOOK_SECRET"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "stripe-webhooks-test",
        "POWERTOOLS_METRICS_NAMESPACE": "StripeWebhooks",
    }
)

TEST_SECRET = "whsec_" + "7e3b" * 12  # a made-up test secret, not a real one


@pytest.fixture
def secret() -> str:
    return TEST_SECRET


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many hostile-input cases the fuzz suite ran, what the chaos test did, and how long
    the `sam local` path took."""
    from tests.e2e import test_sam_local_docker
    from tests.integration import (
        test_action_effects,
        test_actions_chaos,
        test_chaos,
        test_fuzz,
        test_hostile_bodies,
    )

    reports = (
        test_chaos.CHAOS_REPORT,
        test_action_effects.KILL_REPORT,
        test_actions_chaos.ACTIONS_CHAOS_REPORT,
        test_sam_local_docker.SAM_REPORT,
    )
    for line in (line for report in reports for line in report):
        terminalreporter.write_line(line)
    hostile = test_hostile_bodies.HOSTILE_CASES
    if hostile:
        answers = [f"{kind[7:]} {n}" for kind, n in sorted(hostile.items()) if kind.startswith("answer ")]
        mutations = [f"{kind[9:]} {n}" for kind, n in sorted(hostile.items()) if kind.startswith("mutation ")]
        terminalreporter.write_line(f"hostile signed bodies: {', '.join(answers)}; never a 5xx")
        terminalreporter.write_line(f"  mutations: {', '.join(mutations)}")
    cases = test_fuzz.FUZZ_CASES
    if not cases["total"]:
        return
    bodies = [f"{kind[5:]} {n}" for kind, n in sorted(cases.items()) if kind.startswith("body ")]
    headers = [f"{kind[7:]} {n}" for kind, n in sorted(cases.items()) if kind.startswith("header ")]
    write = terminalreporter.write_line
    write(f"fuzz: {cases['total']} hostile requests ran; each got the right 4xx and left no trace")
    write(f"  bodies:  {', '.join(bodies)}")
    write(f"  headers: {', '.join(headers)}")
