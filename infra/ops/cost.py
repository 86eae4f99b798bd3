"""What a million events cost on the deployed stack, computed from template.yaml's own settings.

    python -m infra.ops.cost [--duration-ms 40] [--event-kb 4]     (make cost)

Prices are AWS list prices for us-east-1 (see PRICES); the request path is what the function
does per new event: one DynamoDB transaction (event log item + one record), one SNS publish, one
DynamoDB update, one API Gateway request, one Lambda invocation, plus logs and storage.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from infra.cli import Problem, exit_with
from infra.template import function_properties, load_template

PRICES = {
    # USD, us-east-1 list prices (check https://aws.amazon.com/pricing before budgeting).
    "api_gateway_rest_per_million": 3.50,
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "dynamodb_on_demand_write_per_million_units": 0.625,
    "dynamodb_storage_per_gb_month": 0.25,
    "dynamodb_pitr_per_gb_month": 0.20,
    "sns_publish_per_million": 0.50,
    "cloudwatch_logs_ingest_per_gb": 0.50,
}
DEFAULT_DURATION_MS = 40.0
"""Billed duration at 512 MB: ~25 ms of CPU (infra.bench's ~7 ms at one full core, at 512/1769 of a
vCPU) plus ~15 ms waiting on three in-region AWS calls."""
DEFAULT_EVENT_KB = 1.5
"""A typical event as Stripe sends it: the median of the stored sample payloads when the docs'
table was computed (pretty-printed, 1.0-2.4 KB). A fixed basis, so adding a sample changes no figure."""
RECORD_KB = 0.6
"""A handler's record: ids, status, amounts (measured on the stored samples: 0.3-0.8 KB)."""
INDEX_ENTRY_KB = 0.3
LOG_KB_PER_EVENT = 1.2
"""One Powertools INFO line and one EMF metrics line per event."""


@dataclass(frozen=True)
class Line:
    item: str
    per_million: float
    basis: str


def estimate(duration_ms: float, event_kb: float) -> tuple[list[Line], dict[str, object]]:
    template = load_template()
    function = function_properties("WebhookFunction")
    memory_mb = int(function["MemorySize"])
    architecture = function["Architectures"][0]
    retention_days = int(template["Parameters"]["EventRetentionDays"]["Default"])
    if architecture != "arm64":
        raise Problem("prices here are for arm64; the template says " + architecture)

    event_item_kb = event_kb + 0.5  # the payload plus the event log's own attributes
    claim_units = 2 * (math.ceil(event_item_kb) + math.ceil(RECORD_KB))  # transactional writes cost double
    mark_units = math.ceil(event_item_kb)  # an update is billed on the item's size
    index_units = 2 * math.ceil(INDEX_ENTRY_KB) + math.ceil(RECORD_KB)  # by-type twice, by-customer once
    write_units = claim_units + mark_units + index_units
    stored_gb_months = (event_item_kb + RECORD_KB) * 1_000_000 / 1024**2 * retention_days / 30
    gb_seconds = memory_mb / 1024 * duration_ms / 1000

    lines = [
        Line("API Gateway (REST)", PRICES["api_gateway_rest_per_million"], "1 request per event"),
        Line(
            "Lambda",
            PRICES["lambda_requests_per_million"]
            + gb_seconds * 1_000_000 * PRICES["lambda_arm64_per_gb_second"],
            f"1 invocation, {memory_mb} MB arm64 x {duration_ms:g} ms",
        ),
        Line(
            "DynamoDB writes",
            write_units * PRICES["dynamodb_on_demand_write_per_million_units"],
            f"{write_units} write units per event (claim + record in a transaction, mark, indexes)",
        ),
        Line(
            "DynamoDB storage + PITR",
            stored_gb_months
            * (PRICES["dynamodb_storage_per_gb_month"] + PRICES["dynamodb_pitr_per_gb_month"]),
            f"{event_item_kb + RECORD_KB:.1f} KB per event kept {retention_days} days",
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
    return lines, {"memory_mb": memory_mb, "event_kb": event_kb, "duration_ms": duration_ms}


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
        "--event-kb",
        type=float,
        default=DEFAULT_EVENT_KB,
        help=f"average event size in KB (default {DEFAULT_EVENT_KB:g}, a typical event)",
    )
    args = parser.parse_args(argv)
    lines, _ = estimate(args.duration_ms, args.event_kb)
    print(render(lines))
    return 0


if __name__ == "__main__":
    exit_with(main)
