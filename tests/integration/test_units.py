"""The capacity measurement prices the calls the real handler sends (``infra.bench.units``)."""

from __future__ import annotations

import pytest

from infra import REPO_ROOT
from infra.bench import corpus
from infra.bench.capacity import write_units
from infra.bench.costs import basis_of
from infra.bench.units import S3_PUT_IN_WRITE_UNITS, measure, missed_targets, report
from infra.fixtures.payloads import load_event
from infra.ops.cost import BASIS_CORPUS, PERFORMANCE_DOC, generated, marked, read_measured


def test_each_kind_of_delivery_is_priced_from_its_calls() -> None:
    measured = measure([load_event("charge.refunded"), load_event("customer.created")])

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
    assert "duplicate" in report(measured, "project")


@pytest.mark.slow  # measures every corpus (about 2 min of CPU): make test and CI run it, make check not
@pytest.mark.parametrize("name", sorted(corpus.CORPORA))
def test_the_docs_cost_and_capacity_figures_are_make_cost_s_measurement(name: str) -> None:
    measured = measure(corpus.CORPORA[name]())
    performance = (REPO_ROOT / "docs" / "performance.md").read_text()
    start, stop = marked(performance, f"units {name}")
    assert performance[start:stop] == f"```\n{report(measured, name)}\n```\n", "run make cost"
    assert read_measured()[name] == basis_of(measured)  # what ops.cost prices is this measurement
    if name == BASIS_CORPUS:  # the page's tables are what make cost wrote from this measurement
        for block, table in generated(basis_of(measured)).items():
            start, stop = marked(performance, block)
            assert performance[start:stop] == table + "\n", f"{PERFORMANCE_DOC.name}: run make cost"
    if name == "openapi":  # issue 26's targets (units.TARGETS), on the corpus of every current type
        assert missed_targets(measured) == []
