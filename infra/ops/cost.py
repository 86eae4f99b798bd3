"""What a million events cost on the deployed stack: template.yaml's settings, and the DynamoDB
write units and stored bytes measured from the requests the function sends.

    python -m infra.ops.cost [--duration-ms 40] [--api-type HTTP]   (prices what was measured)
    make cost                                                        (measures again, then prices)

The measurement is the bench's (``infra.bench.costs``, moto): it writes ``measured.json`` beside
this module, which this reads, so pricing starts no moto and ``ops`` imports nothing of the bench.

Prices are AWS list prices for us-east-1 (see PRICES). The DynamoDB figures are the medians over one
event of each type the project has a payload for, pretty-printed as Stripe sends them; the
measurement's distribution is printed first.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

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
    per_million: float
    basis: str


def estimate(
    duration_ms: float, basis: Basis, *, api_type: str = "REST"
) -> tuple[list[Line], dict[str, object]]:
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

    lines = [
        Line(
            f"API Gateway ({api_type})",
            PRICES[f"api_gateway_{api_type.lower()}_per_million"],
            "1 request per event" + (" (metered per 512 KB)" if api_type == "HTTP" else ""),
        ),
        Line(
            "Lambda",
            PRICES["lambda_requests_per_million"]
            + gb_seconds * 1_000_000 * PRICES["lambda_arm64_per_gb_second"],
            f"1 invocation, {memory_mb} MB arm64 x {duration_ms:g} ms",
        ),
        Line(
            "DynamoDB writes",
            write_units * PRICES["dynamodb_on_demand_write_per_million_units"],
            f"{write_units:g} write units per new event, measured (median of {basis.event_types} types);"
            f" a duplicate {basis.duplicate_write_units:g}",
        ),
        Line(
            "DynamoDB storage + PITR",
            stored_gb_months
            * (PRICES["dynamodb_storage_per_gb_month"] + PRICES["dynamodb_pitr_per_gb_month"]),
            f"{basis.stored_kb:.1f} KB per event (measured) kept {retention_days} days",
        ),
        Line(
            "SNS",
            PRICES["sns_publish_per_million"],
            "1 publish per event (under 64 KB); SQS delivery is free",
        ),
        Line(
            "CloudWatch Logs",
            LOG_KB_PER_EVENT * 1_000_000 / 1024**2 * PRICES["cloudwatch_logs_ingest_per_gb"],
            f"{LOG_KB_PER_EVENT:g} KB of logs per event",
        ),
    ]
    return lines, {"memory_mb": memory_mb, "duration_ms": duration_ms}


def render(lines: list[Line]) -> str:
    rows = ["| Item | USD per million events | Basis |", "| --- | ---: | --- |"]
    rows += [f"| {line.item} | {line.per_million:,.2f} | {line.basis} |" for line in lines]
    rows.append(f"| **Total** | **{sum(line.per_million for line in lines):,.2f}** | |")
    return "\n".join(rows)


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
        "--api-type", choices=("REST", "HTTP"), default="REST", help="the template's ApiType (default REST)"
    )
    args = parser.parse_args(argv)
    basis = read_measured()[BASIS_CORPUS]
    lines, _ = estimate(args.duration_ms, basis, api_type=args.api_type)
    print(render(lines), end="\n\n")
    print(capacity.render(basis.write_units))
    return 0


if __name__ == "__main__":
    exit_with(main)
