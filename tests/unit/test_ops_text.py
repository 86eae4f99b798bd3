"""What the ops commands say matches what they do: --local only where the local stack answers,
the Stripe key named where Stripe is called, a missing region said as such."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import EndpointConnectionError, NoRegionError

from infra.cli import _aws_or_stripe_problem
from infra.ops.cli import LOCAL_COMMANDS, STRIPE_COMMANDS, parse_args


@pytest.mark.parametrize("command", ["register", "rotate-secret", "enable-endpoint", "backfill"])
def test_local_is_not_offered_where_the_local_stack_cannot_answer(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_args([command, "--help"])
    shown = capsys.readouterr().out
    assert raised.value.code == 0 and "--local" not in shown and "STRIPE_API_KEY" in shown
    with pytest.raises(SystemExit) as refused:
        parse_args([command, "--local"])
    assert refused.value.code == 2


@pytest.mark.parametrize("command", LOCAL_COMMANDS)
def test_local_is_offered_where_it_works(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([command, "--help"])
    shown = re.sub(r"-\s+", "-", " ".join(capsys.readouterr().out.split()))  # argparse's wrapping
    assert "--local" in shown
    if command in STRIPE_COMMANDS:  # verify: Stripe's list, or locally the stand-in's
        assert "STRIPE_API_KEY; with --local, the local stack's stand-in (no key)" in shown
    else:
        assert "STRIPE_API_KEY" not in shown


def test_a_missing_region_or_an_unreachable_aws_is_not_called_a_refusal() -> None:
    assert _aws_or_stripe_problem(NoRegionError()) == (
        "no AWS region: pass --region, or set one as for `sam deploy` (AWS_REGION, AWS_PROFILE)"
    )
    unreachable = _aws_or_stripe_problem(EndpointConnectionError(endpoint_url="https://x"))
    assert unreachable is not None and unreachable.startswith("AWS did not answer")
