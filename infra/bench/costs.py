"""``make cost``'s measurement: DynamoDB units and stored bytes per event under moto for each
corpus, and the reconciler's calls and units; it writes the bases ``infra.ops.cost`` prices
(``infra/ops/measured.json``), so pricing never starts moto.

    python -m infra.bench.costs      (then python -m infra.ops.cost; make cost runs both)
"""

from __future__ import annotations

import argparse
import statistics
import sys

from infra import REPO_ROOT
from infra.bench import corpus, recovery
from infra.bench.units import Measured, measure, report
from infra.cli import exit_with
from infra.ops.cost import MEASURED, PERFORMANCE_DOC, Basis, write_docs, write_measured

RECOVERY_EVENTS = 200
"""Undelivered events in the reconciler's measured outage run (``infra.bench.recovery``)."""


def basis_of(measured: Measured) -> Basis:
    """What one event costs in DynamoDB: the medians over a corpus."""
    return Basis(
        statistics.median(measured.writes["new"]),
        statistics.median(measured.writes["duplicate"]),
        round(statistics.median(measured.stored) / 1024, 1),
        len(measured.bodies),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.costs", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.parse_args(argv)
    bases, reports = {}, {}
    for name, events in corpus.CORPORA.items():
        made = events()
        print(f"measuring {len(made)} event types ({name}) under moto…", file=sys.stderr, flush=True)
        measured = measure(made)
        bases[name] = basis_of(measured)
        reports[f"units {name}"] = f"```\n{report(measured, name)}\n```"
        print(report(measured, name), end="\n\n")
    write_measured(bases)
    write_docs(reports)
    print(
        f"wrote {MEASURED.relative_to(REPO_ROOT)} (what python -m infra.ops.cost prices) and the"
        f" figures into {PERFORMANCE_DOC.relative_to(REPO_ROOT)}",
        file=sys.stderr,
    )
    print("measuring the reconciler under moto…", file=sys.stderr, flush=True)
    print(recovery.report(RECOVERY_EVENTS, *recovery.measure(RECOVERY_EVENTS)), end="\n\n")
    return 0


if __name__ == "__main__":
    exit_with(main)
