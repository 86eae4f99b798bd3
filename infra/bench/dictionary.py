"""Build a preset dictionary for the event-log bodies (``stripe_webhook.adapters.bodies``).

    python -m infra.bench.dictionary --version 2    (writes stripe_webhook/adapters/stripe-json.v2.zdict)

The dictionary is the lines (indentation included) that recur across the project's own event
payloads, pretty-printed as Stripe sends them, the most common last (deflate reaches the end of
its window in the fewest bits). It is built from ``infra/fixtures/events`` and their variants
only, so the OpenAPI corpus it is measured on (``infra.bench.corpus``) is not what it learned.

A released version is never rewritten (stored bodies need it to be read): this refuses to write
over an existing file; a new dictionary is a new version, and ``bodies.VERSION`` then names it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import Problem, exit_with

SIZE = 32_768
"""deflate's window: a longer dictionary's start could never be referred to."""


def build(bodies: Iterable[bytes], size: int = SIZE) -> bytes:
    """The lines found in at least two bodies, least common first, cut to the last ``size`` bytes."""
    counts: Counter[bytes] = Counter()
    for body in bodies:
        counts.update(set(body.splitlines(keepends=True)))
    shared = sorted((count, line) for line, count in counts.items() if count >= 2)
    return b"".join(line for _count, line in shared)[-size:]


def project_bodies() -> list[bytes]:
    from infra.bench.corpus import project_events
    from infra.fixtures.payloads import encode

    return [encode(event) for event in project_events()]


def path_of(version: int) -> Path:
    return REPO_ROOT / "functions" / "stripe_webhook" / "adapters" / f"stripe-json.v{version}.zdict"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.dictionary",
        description="Write a new version of the event-log body dictionary from the project's payloads.",
    )
    parser.add_argument("--version", type=int, required=True, help="the new version's number")
    args = parser.parse_args(argv)
    target = path_of(args.version)
    if target.exists():
        raise Problem(f"{target.name} exists: a released dictionary is never rewritten")
    target.write_bytes(build(project_bodies()))
    print(f"wrote {target.relative_to(REPO_ROOT)} ({target.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_with(main)
