"""What a million events cost on the deployed stack: template.yaml's settings, and the DynamoDB
write units and stored bytes measured from the requests the function sends.

    python -m infra.ops.cost [--duration-ms 40] [--write-docs]   (prices what was measured)
    make cost                                                     (measures again, prices, writes the docs)

The measurement is the bench's (``infra.bench.costs``, moto): it writes ``measured.json`` beside
this module, which this reads, so pricing starts no moto and ``ops`` imports nothing of the bench.

Prices are AWS list prices for us-east-1 (see PRICES). The DynamoDB figures are the medians over one
event of each type the project has a payload for, pretty-printed as Stripe sends them; the
measurement's distribution is printed first. ``--write-docs`` writes the cost and capacity tables
into docs/performance.md (between their ``<!-- make cost -->`` markers), so the page says what was
measured last; a test keeps it so.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import Problem, exit_with
from infra.ops import capacity
from infra.template import function_properties, load_template

PRICES = {
    # USD, us-east-1 list prices (check https://aws.amazon.com/pricing before budgeting).
    "api_gateway_rest_per_million": 3.50,
    "api_gateway_http_per_million": 1.00,
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "dynamodb_on_demand_write_per_million_units": 0.625,
    "dynamodb_storage_per_gb_month": 0.25,
    "dynamodb_pitr_per_gb_month": 0.20,
    "sns_publish_per_million": 0.50,
    "cloudwatch_logs_ingest_per_gb": 0.50,
}
BASIS_CORPUS = "project"
"""The dollars are priced on the handled types: what ``register`` subscribes an endpoint to, and
dearer than the average current type (they write records)."""
DEFAULT_DURATION_MS = 40.0
"""Billed duration at 512 MB: ~25 ms of CPU (infra.bench's ~7 ms at one full core, at 512/1769 of a
vCPU) plus ~15 ms waiting on three in-region AWS calls."""
MEASURED = Path(__file__).with_name("measured.json")
"""What ``make cost`` measured last (``infra.bench.costs``): a Basis per corpus."""
PERFORMANCE_DOC = REPO_ROOT / "docs" / "performance.md"
FRONTS = ("REST", "HTTP")
"""The template's ``ApiType`` values: the API Gateway front Stripe posts to."""
LOG_KB_PER_EVENT = 1.2
"""One Powertools INFO line and one EMF metrics line per event."""


@dataclass(frozen=True)
class Basis:
    """What one event costs in DynamoDB, measured (medians over the corpus)."""

    write_units: float
    duplicate_write_units: float
    stored_kb: float
    event_types: int


def read_measured(path: Path = MEASURED) -> dict[str, Basis]:
    """The last measurement, by corpus; a clear error when there is none."""
    try:
        values = json.loads(path.read_text())
        return {name: Basis(**basis) for name, basis in values["corpora"].items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise Problem(f"no measurement to price in {path} ({error}): run make cost") from None


def write_measured(bases: dict[str, Basis], path: Path = MEASURED) -> None:
    corpora = {name: asdict(basis) for name, basis in sorted(bases.items())}
    path.write_text(json.dumps({"corpora": corpora}, indent=2) + "\n")


@dataclass(frozen=True)
class Line:
    item: str
    per_million: dict[str, float]
    """USD per million events, by front (``FRONTS``)."""
    basis: str


def estimate(duration_ms: float, basis: Basis) -> list[Line]:
    """What a million events cost, item by item, on each front (``FRONTS``): the template's
    settings, ``basis`` (measured) and ``PRICES``."""
    template = load_template()
    function = function_properties("WebhookFunction")
    memory_mb = int(function["MemorySize"])
    architecture = function["Architectures"][0]
    retention_days = int(template["Parameters"]["EventRetentionDays"]["Default"])
    if architecture != "arm64":
        raise Problem("prices here are for arm64; the template says " + architecture)

    write_units = basis.write_units
    stored_gb_months = basis.stored_kb * 1_000_000 / 1024**2 * retention_days / 30
    gb_seconds = memory_mb / 1024 * duration_ms / 1000

    def everywhere(price: float) -> dict[str, float]:
        return dict.fromkeys(FRONTS, price)

    return [
        Line(
            "API Gateway",
            {front: PRICES[f"api_gateway_{front.lower()}_per_million"] for front in FRONTS},
            "1 request per event (an HTTP API meters per 512 KB)",
        ),
        Line(
            "Lambda",
            everywhere(
                PRICES["lambda_requests_per_million"]
                + gb_seconds * 1_000_000 * PRICES["lambda_arm64_per_gb_second"]
            ),
            f"1 invocation, {memory_mb} MB arm64 x {duration_ms:g} ms",
        ),
        Line(
            "DynamoDB writes",
            everywhere(write_units * PRICES["dynamodb_on_demand_write_per_million_units"]),
            f"{write_units:g} write units per new event, measured (median of {basis.event_types} types);"
            f" a duplicate {basis.duplicate_write_units:g}",
        ),
        Line(
            "DynamoDB storage + PITR",
            everywhere(
                stored_gb_months
                * (PRICES["dynamodb_storage_per_gb_month"] + PRICES["dynamodb_pitr_per_gb_month"])
            ),
            f"{basis.stored_kb:.1f} KB per event (measured) kept {retention_days} days",
        ),
        Line(
            "SNS",
            everywhere(PRICES["sns_publish_per_million"]),
            "1 publish per event (under 64 KB); SQS delivery is free",
        ),
        Line(
            "CloudWatch Logs",
            everywhere(LOG_KB_PER_EVENT * 1_000_000 / 1024**2 * PRICES["cloudwatch_logs_ingest_per_gb"]),
            f"{LOG_KB_PER_EVENT:g} KB of logs per event",
        ),
    ]


def render(lines: list[Line]) -> str:
    """The cost table: USD per million events on each front."""
    fronts = " | ".join(f"{front} API" for front in FRONTS)
    rows = [f"| Item | {fronts} | Basis |", "| --- |" + " ---: |" * len(FRONTS) + " --- |"]
    for line in lines:
        prices = " | ".join(f"{line.per_million[front]:,.2f}" for front in FRONTS)
        rows.append(f"| {line.item} | {prices} | {line.basis} |")
    totals = " | ".join(f"**{sum(line.per_million[front] for line in lines):,.2f}**" for front in FRONTS)
    rows.append(f"| **Total** | {totals} | |")
    return "\n".join(rows)


def generated(basis: Basis, duration_ms: float = DEFAULT_DURATION_MS) -> dict[str, str]:
    """The tables docs/performance.md shows, by marker name."""
    return {"cost": render(estimate(duration_ms, basis)), "capacity": capacity.render(basis.write_units)}


def marked(text: str, name: str) -> tuple[int, int]:
    """Where the block between ``<!-- make cost: NAME -->`` and ``<!-- make cost: end NAME -->`` is."""
    begin, end = f"<!-- make cost: {name} -->\n", f"<!-- make cost: end {name} -->"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise Problem(f"{PERFORMANCE_DOC.name} has no {begin.strip()} … {end} block")
    return start + len(begin), stop


def write_docs(blocks: dict[str, str], path: Path = PERFORMANCE_DOC) -> None:
    text = path.read_text()
    for name, block in blocks.items():
        start, stop = marked(text, name)
        text = text[:start] + block + "\n" + text[stop:]
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.ops.cost", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--duration-ms",
        type=float,
        default=DEFAULT_DURATION_MS,
        help=f"average billed duration (default {DEFAULT_DURATION_MS:g})",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write the tables into {PERFORMANCE_DOC.relative_to(REPO_ROOT)}",
    )
    args = parser.parse_args(argv)
    basis = read_measured()[BASIS_CORPUS]
    blocks = generated(basis, args.duration_ms)
    print(blocks["cost"], end="\n\n")
    print(blocks["capacity"])
    if args.write_docs:
        if args.duration_ms != DEFAULT_DURATION_MS:
            raise Problem(f"the docs price {DEFAULT_DURATION_MS:g} ms: --write-docs takes no --duration-ms")
        write_docs(blocks)
        print(f"wrote the tables into {PERFORMANCE_DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    exit_with(main)
