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

# Deployed, botocore does not check requests against its model (aws.client_config says why); in the
# tests it does, so a malformed request fails where our code makes it.
from contract import aws as _function_aws  # noqa: E402

_function_aws.VALIDATE_PARAMETERS = True

TEST_SECRET = "whsec_" + "7e3b" * 12  # a made-up test secret, not a real one


@pytest.fixture
def secret() -> str:
    return TEST_SECRET


WORKER_SUMMARIES: list[str] = []
"""What ``pytest -n`` workers reported (``pytest_testnodedown``), printed by the controller."""


def summary_lines() -> list[str]:
    """How many hostile-input cases the fuzz suite ran, what the chaos tests did, and how long the
    `sam local` path took, in this process."""
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
    lines = [line for report in reports for line in report]
    hostile = test_hostile_bodies.HOSTILE_CASES
    if hostile:
        answers = [f"{kind[7:]} {n}" for kind, n in sorted(hostile.items()) if kind.startswith("answer ")]
        mutations = [f"{kind[9:]} {n}" for kind, n in sorted(hostile.items()) if kind.startswith("mutation ")]
        lines.append(f"hostile signed bodies: {', '.join(answers)}; never a 5xx")
        lines.append(f"  mutations: {', '.join(mutations)}")
    cases = test_fuzz.FUZZ_CASES
    if cases["total"]:
        bodies = [f"{kind[5:]} {n}" for kind, n in sorted(cases.items()) if kind.startswith("body ")]
        headers = [f"{kind[7:]} {n}" for kind, n in sorted(cases.items()) if kind.startswith("header ")]
        lines.append(f"fuzz: {cases['total']} hostile requests ran; each got the right 4xx and left no trace")
        lines.append(f"  bodies:  {', '.join(bodies)}")
        lines.append(f"  headers: {', '.join(headers)}")
    return lines


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A ``pytest -n`` worker hands its summary to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["summary"] = summary_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    WORKER_SUMMARIES.extend(getattr(node, "workeroutput", {}).get("summary", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in summary_lines() + WORKER_SUMMARIES:
        terminalreporter.write_line(line)
