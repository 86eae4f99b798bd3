"""A corpus of current-API events: one of every snapshot event type at the pinned version, with
each object shaped as Stripe's published OpenAPI fixtures shape it.

    python -m infra.bench.corpus --derive openapi/fixtures3.json   (re)write the committed shapes
    python -m infra.bench.corpus                                      the corpus's types and sizes

Two sources, neither copied:
- the event types are the ``enabled_events`` values of the ``stripe`` library pinned in
  ``requirements-dev.txt`` (``StripeClient`` for the same API version as ``StripeApiVersion``);
- the objects' shapes are derived from ``openapi/fixtures3.json`` (github.com/stripe/openapi) by
  ``derive``: field names, nesting, types and enum-like values (``"succeeded"``, ``"usd"``) are
  kept; every id is a new one of the same prefix and length, every other text the same length of
  our own words, every time our own. Only the derived shapes are committed
  (``corpus/openapi-shapes.json``), with the fixtures' commit they came from.

Sized as Stripe sends them: pretty-printed, invoices with ``INVOICE_LINES`` lines, Checkout
Sessions with ``SESSION_LINE_ITEMS`` line items (as when expanded).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from infra.cli import Problem, exit_with
from infra.stripe_types import SHAPES, object_type, snapshot_types

CORPUS_CREATED = 1_796_000_000
MEASURED_CREATED = 1_796_000_123
"""Every measured event's ``created`` (2026-12-01): a number's size depends on its digits."""
INVOICE_LINES = 4
SESSION_LINE_ITEMS = 3
_ID = re.compile(r"^([a-z]+(?:_[a-z]+)*)_([A-Za-z0-9]{8,})$")
_CODE = re.compile(r"^[a-z0-9_.\-]{0,40}$")
_WORDS = ["northwind", "harbor", "ledger", "maple", "quartz", "orbit", "cedar", "willow", "summit", "river"]
_TIME_FIELDS = re.compile(r"(^|_)(created|at|date|start|end|expires|period_start|period_end|time)$|_at$")


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _alnum(seed: str, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    digest = bytes.fromhex(_digest(seed) * (1 + length // 32))
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


def _text(seed: str, length: int) -> str:
    start = int(_digest(seed)[:4], 16)
    words = " ".join(_WORDS[(start + index) % len(_WORDS)] for index in range(length // 4 + 2))
    return words[:length]


def _derive_value(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {name: _derive_value(item, f"{path}.{name}") for name, item in value.items()}
    if isinstance(value, list):
        return [_derive_value(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        name = path.rsplit(".", 1)[-1]
        if 1_000_000_000 <= value <= 4_000_000_000 and _TIME_FIELDS.search(name):
            return CORPUS_CREATED - 86_400 + int(_digest(path)[:4], 16) % 86_400
        return value
    if isinstance(value, str):
        match = _ID.match(value)
        if match is not None and re.search(r"[A-Z0-9]", match.group(2)):  # an id, not "balance_settings"
            return f"{match.group(1)}_{_alnum(path + value, len(match.group(2)))}"
        if _CODE.match(value):
            return value
        if path.endswith(".id"):  # an id without a prefix (a coupon's): still one word
            return _alnum(path + value, len(value))
        return _text(path, len(value))
    raise TypeError(f"unexpected {type(value).__name__} at {path}")


def derive(fixtures: dict[str, Any], source: str) -> dict[str, Any]:
    """The committed shapes: each resource's example object with our own ids, text and times."""
    resources = fixtures.get("resources")
    if not isinstance(resources, dict):
        raise Problem("not Stripe's fixtures3.json: it has no 'resources'")
    shaped = {name: _derive_value(obj, name) for name, obj in resources.items()}
    return {"source": source, "resources": shaped}


@cache
def shapes() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(SHAPES.read_text())["resources"]
    return resources


def _sized(resource: str, obj: dict[str, Any], number: int) -> dict[str, Any]:
    """Invoices with their lines, Checkout Sessions with line items, as real ones are."""
    listed = {"invoice": ("lines", INVOICE_LINES), "checkout.session": ("line_items", SESSION_LINE_ITEMS)}
    if resource not in listed:
        return obj
    field, count = listed[resource]
    template = (obj.get(field) or {}).get("data") or [shapes().get("line_item") or {"object": "item"}]
    rows = [
        {**copy.deepcopy(template[0]), "id": f"li_{_alnum(f'{number}.{row}', 24)}"} for row in range(count)
    ]
    obj[field] = {"object": "list", "data": rows, "has_more": False, "total_count": count, "url": "/v1/x"}
    return obj


def event(event_type: str, number: int, api_version: str) -> dict[str, Any] | None:
    """The event of ``event_type`` as Stripe sends it, or None if no fixture shapes its object."""
    resource = object_type(event_type)
    if resource is None:
        return None
    obj = _sized(resource, copy.deepcopy(shapes()[resource]), number)
    return {
        "id": f"evt_{_alnum(f'event {number}', 24)}",
        "object": "event",
        "api_version": api_version,
        "created": CORPUS_CREATED,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{_alnum(f'request {number}', 14)}", "idempotency_key": None},
        "type": event_type,
    }


def events(api_version: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every shaped event, and the types no fixture shapes (reported, not measured)."""
    made: list[dict[str, Any]] = []
    missing: list[str] = []
    for number, event_type in enumerate(snapshot_types()):
        built = event(event_type, number, api_version)
        if built is None:
            missing.append(event_type)
        else:
            made.append(built)
    return made, missing


def measured_id(number: int, tag: str) -> str:
    """An event id as long as Stripe's (28 characters), the same on every run: the figures repeat."""
    return f"evt_{number:04d}{tag}".ljust(28, "0")


def variants(event: dict[str, Any], number: int) -> dict[str, dict[str, Any]]:
    """The deliveries measured for one event: itself (new, then again), an older event about the
    same object (out of order), and another of the same second with a different state."""
    older = copy.deepcopy(event)
    older.update(id=measured_id(number, "b"), created=event["created"] - 60)
    tie = copy.deepcopy(event)
    tie["id"] = measured_id(number, "c")
    tie["data"]["object"]["metadata"] = {"measured": "tie"}
    return {"new": event, "duplicate": event, "out of order": older, "same second": tie}


def large_event() -> dict[str, Any]:
    """An invoice with enough lines to be over SNS's 256 KiB: it goes through S3."""
    from infra.fixtures.payloads import fresh_event

    event = fresh_event("invoice.paid", created=MEASURED_CREATED)
    invoice = event["data"]["object"]
    lines = invoice.setdefault("lines", {"object": "list", "data": []})
    line = lines["data"][0] if lines.get("data") else {"id": "il_1", "object": "line_item", "amount": 100}
    lines["data"] = [{**line, "id": f"il_{index:06d}"} for index in range(600)]
    return event


def measured(event: dict[str, Any], number: int) -> dict[str, Any]:
    """``event`` as measured: ids and time fixed (the figures repeat), its object its own (the
    first event writes its record new)."""
    event = copy.deepcopy(event)
    event.update(id=measured_id(number, "a"), created=MEASURED_CREATED)
    obj = event["data"]["object"]
    if isinstance(obj.get("id"), str):
        obj["id"] = f"{obj['id']}m{number}"
    return event


def project_events() -> list[dict[str, Any]]:
    """One event of each type the project has a payload for (the handled types)."""
    from infra.fixtures.payloads import available_events, load_event

    return [load_event(event_type) for event_type in available_events()]


def openapi_events() -> list[dict[str, Any]]:
    from stripe_webhook.settings import API_VERSION

    return events(API_VERSION)[0]


CORPORA = {"openapi": openapi_events, "project": project_events}
TITLES = {
    "openapi": "one event of every current type (Stripe's OpenAPI fixtures)",
    "project": "the handled types, what `register` subscribes an endpoint to (the project's payloads)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--derive", type=Path, metavar="FIXTURES3_JSON", help="rewrite the committed shapes")
    parser.add_argument(
        "--source", default="stripe/openapi openapi/fixtures3.json", help="where it came from"
    )
    args = parser.parse_args(argv)
    if args.derive is not None:
        try:
            fixtures = json.loads(args.derive.read_text())
        except (OSError, ValueError) as error:
            raise Problem(f"cannot read {args.derive}: {error}") from error
        SHAPES.parent.mkdir(exist_ok=True)
        SHAPES.write_text(json.dumps(derive(fixtures, args.source), indent=1) + "\n")
        print(f"wrote {SHAPES} ({len(fixtures['resources'])} resources)", file=sys.stderr)
        return 0
    from infra.fixtures.payloads import encode
    from stripe_webhook.settings import API_VERSION

    made, missing = events(API_VERSION)
    sizes = sorted(len(encode(item)) for item in made)
    median = sizes[len(sizes) // 2]
    print(f"{len(made)} event types at {API_VERSION}; body median {median:,} B, max {sizes[-1]:,} B")
    if missing:
        print(f"no fixture shapes {len(missing)}: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    exit_with(main)
