"""The event types Stripe sends, and the "did you mean" a tool gives for one it does not know.

The snapshot types are the pinned ``stripe`` library's list of what a webhook endpoint can enable
(``enabled_events``), read from its source without importing it; thin event types are Stripe's
``v1.…``/``v2.…`` names. A tool that takes a type (``trigger --thin``, ``ops redrive --type``,
``ops verify --type``) refuses one that is neither, naming the closest known types, instead of
finding nothing and saying "0 events".
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from infra.cli import Problem

THIN_PREFIXES = ("v1.", "v2.")
SHAPES = Path(__file__).parent / "bench" / "corpus" / "openapi-shapes.json"
"""Each Stripe resource's example object, derived from Stripe's OpenAPI fixtures (``bench.corpus``)."""


@cache
def snapshot_types() -> list[str]:
    """The snapshot event types a webhook endpoint can enable, from the pinned ``stripe`` library."""
    spec = importlib.util.find_spec("stripe")  # read, not imported: its import opens sockets
    if spec is None or not spec.submodule_search_locations:
        raise Problem("the stripe library is not installed (requirements.txt)")
    params = Path(spec.submodule_search_locations[0]) / "params" / "_webhook_endpoint_create_params.py"
    tree = ast.parse(params.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "enabled_events":
            found = [c.value for c in ast.walk(node.annotation) if isinstance(c, ast.Constant)]
            return sorted(value for value in found if isinstance(value, str) and value != "*")
    raise Problem("the stripe library no longer lists enabled_events where this looks")


@cache
def resources() -> frozenset[str]:
    """The Stripe object types (``invoice``, ``checkout.session``) the shapes know."""
    import json

    return frozenset(json.loads(SHAPES.read_text())["resources"])


def object_type(event_type: str) -> str | None:
    """The object an event type's ``data.object`` is: ``invoice.paid`` → ``invoice``,
    ``issuing_card.created`` → ``issuing.card``, ``customer.subscription.updated`` → ``subscription``."""
    subject = event_type.removeprefix("v1.").rsplit(".", 1)[0]
    candidates = [
        subject,
        subject.replace("_", ".", 1),
        subject.replace(".", "_"),
        subject.rsplit(".", 1)[-1],
    ]
    return next((name for name in candidates if name in resources()), None)


def unknown(event_type: str, extra: Iterable[str] = ()) -> str | None:
    """Why ``event_type`` is not one Stripe sends, with the closest ones; None when it is (a
    snapshot type, one of ``extra``, or a thin type)."""
    known = {*snapshot_types(), *extra}
    if event_type in known or event_type.startswith(THIN_PREFIXES):
        return None
    close = _closest(event_type, known)
    hint = f"; did you mean {close}?" if close else " (a thin event's type starts with v1. or v2.)"
    return f"{event_type!r} is not an event type Stripe sends{hint}"


def unknown_prefix(prefix: str, extra: Iterable[str] = ()) -> str | None:
    """Why no event type Stripe sends (nor one of ``extra``) starts with ``prefix``, with the
    closest ones; None when one does (or it is a thin type's)."""
    known = {*snapshot_types(), *extra}
    if not prefix or prefix.startswith(THIN_PREFIXES) or any(name.startswith(prefix) for name in known):
        return None
    close = _closest(prefix, known)
    return f"no event type starts with {prefix!r}" + (f"; did you mean {close}?" if close else "")


def _closest(value: str, known: set[str]) -> str:
    return ", ".join(difflib.get_close_matches(value, sorted(known), n=3))


def check_types(event_types: Iterable[str], extra: Iterable[str] = ()) -> None:
    """Refuse (``Problem``) any of ``event_types`` Stripe does not send, each named."""
    problems = [problem for event_type in event_types if (problem := unknown(event_type, extra))]
    if problems:
        raise Problem("; ".join(problems))


def known_type(value: str) -> str:
    """An ``argparse`` type: ``value`` if Stripe sends it, else the error with its "did you mean"."""
    import argparse

    problem = unknown(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value
