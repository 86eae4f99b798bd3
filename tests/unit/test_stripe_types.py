"""A type Stripe does not send is named with the closest ones, wherever a tool takes a type."""

from __future__ import annotations

import pytest

from infra.ops.cli import parse_args
from infra.stripe_types import snapshot_types, unknown


def test_a_typo_gets_the_closest_types_and_real_types_pass() -> None:
    assert "checkout.session.completed" in snapshot_types() and len(snapshot_types()) > 200
    assert unknown("checkout.session.completed") is None
    assert unknown("v1.billing.meter.error_report_triggered") is None  # thin types are Stripe's own
    assert unknown("checkout.sesion.completed") == (
        "'checkout.sesion.completed' is not an event type Stripe sends; did you mean"
        " checkout.session.completed, checkout.session.expired, checkout.session.async_payment_failed?"
    )
    assert (
        unknown("zzz")
        == "'zzz' is not an event type Stripe sends (a thin event's type starts with v1. or v2.)"
    )


@pytest.mark.parametrize("command", [["redrive", "--since", "1d"], ["verify"]])
def test_ops_refuses_an_unknown_type_before_reading_anything(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args([*command, "--local", "--type", "checkout.sesion.completed"])

    assert exited.value.code == 2
    assert "did you mean checkout.session.completed" in capsys.readouterr().err
