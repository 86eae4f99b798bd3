"""The capacity measurement prices the calls the real handler sends (``infra.bench.units``)."""

from __future__ import annotations

from infra import REPO_ROOT
from infra.bench.capacity import write_units
from infra.bench.units import S3_PUT_IN_WRITE_UNITS, measure, report
from infra.fixtures.payloads import available_events
from infra.ops.cost import DEFAULT_DURATION_MS, Basis, estimate, render


def test_each_kind_of_delivery_is_priced_from_its_calls() -> None:
    measured = measure(["charge.refunded", "customer.created"])

    assert measured.calls["new"] == [2, 2]  # the claim (event + record in a transaction), the mark
    assert measured.calls["duplicate"] == [1, 1]  # the refused claim
    # the refused claim still pays for each of its items, doubled: at least 2 x (event item + record)
    assert all(units >= 2 * 2 for units in measured.writes["duplicate"])
    # a new event pays more than its duplicate: the mark and the index entries come on top
    assert all(
        new > dup for new, dup in zip(measured.writes["new"], measured.writes["duplicate"], strict=True)
    )
    # an older event reads the record it loses to
    assert all(reads >= 1 for reads in measured.reads["out of order"])
    # the large event's S3 PUT is counted in write units
    (large,) = measured.writes["large (S3)"]
    assert large >= S3_PUT_IN_WRITE_UNITS + 2 * write_units(1)
    assert all(stored > body for stored, body in zip(measured.stored, measured.bodies, strict=True))
    assert "duplicate" in report(measured)


def test_the_docs_cost_and_capacity_figures_are_make_cost_s_measurement() -> None:
    measured = measure(available_events())
    lines, _ = estimate(DEFAULT_DURATION_MS, Basis.of(measured))
    performance = (REPO_ROOT / "docs" / "performance.md").read_text()
    assert render(lines) in performance
    assert report(measured) in performance
