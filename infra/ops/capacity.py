"""The first limits a sustained rate of new events meets, computed from the measured write units
(``infra.bench.costs`` writes them, ``cost.Basis`` reads them) and the template's defaults.

    python -m infra.ops.cost        prints it after the cost table (docs/performance.md, "Capacity")

AWS quotas are the per-account, per-region defaults at the time of writing (Service Quotas shows
yours): API Gateway 10,000 requests/s per region; a new on-demand DynamoDB table starts at 4,000
write units/s and a table may use 40,000; one partition key takes 1,000 write units/s; SNS Publish
9,000/s in us-west-2 and eu-west-1 (30,000 in us-east-1); Lambda 1,000 concurrent executions.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.template import load_template

RATES = (10, 100, 1_000, 10_000)
API_ACCOUNT_RPS = 10_000
NEW_TABLE_WRITE_UNITS = 4_000
TABLE_WRITE_UNITS = 40_000
PARTITION_WRITE_UNITS = 1_000
SNS_PUBLISH_SMALLER_REGIONS = 9_000
LAMBDA_CONCURRENCY = 1_000
WARM_SECONDS = 0.04
"""The cost table's billed duration: concurrency is about rate x duration once containers are warm."""


@dataclass(frozen=True)
class Limit:
    name: str
    used: float
    allowed: float
    change: str


def limits(rate: int, write_units: float, shards: tuple[int, int], stage: int) -> list[Limit]:
    """Every limit at ``rate`` new events/s, in the order they are met (``stage``: the template's
    ``ThrottlingRateLimit``, met first; ``shards``: the ``by-type`` and ``by-time`` indexes')."""
    type_shards, log_shards = shards
    writes = rate * write_units
    return [
        Limit(
            "API stage throttle", rate, stage, "raise `ThrottlingRateLimit` (and the burst) above your peak"
        ),
        Limit("new on-demand table", writes, NEW_TABLE_WRITE_UNITS, "pre-warm the table (warm throughput)"),
        Limit("API Gateway account rate", rate, API_ACCOUNT_RPS, "ask for an API Gateway quota increase"),
        Limit("table write quota", writes, TABLE_WRITE_UNITS, "ask for a DynamoDB table quota increase"),
        Limit(
            "`by-type` key, one busy type", rate / type_shards, PARTITION_WRITE_UNITS, "raise `TYPE_SHARDS`"
        ),
        Limit("`by-time` key", rate / log_shards, PARTITION_WRITE_UNITS, "raise `LOG_SHARDS`"),
        Limit(
            "SNS Publish (smaller regions)",
            rate,
            SNS_PUBLISH_SMALLER_REGIONS,
            "ask for an SNS quota increase",
        ),
        Limit(
            "Lambda concurrency (warm)", rate * WARM_SECONDS, LAMBDA_CONCURRENCY, "ask for more concurrency"
        ),
    ]


def render(write_units: float) -> str:
    from stripe_webhook.adapters.schema import LOG_SHARDS, TYPE_SHARDS

    stage = int(load_template()["Parameters"]["ThrottlingRateLimit"]["Default"])
    rows = [
        "| New events/s | DynamoDB write units/s | Limits met, first first | What to change |",
        "| ---: | ---: | --- | --- |",
    ]
    for rate in RATES:
        met = [
            limit
            for limit in limits(rate, write_units, (TYPE_SHARDS, LOG_SHARDS), stage)
            if limit.used >= limit.allowed
        ]
        names = "; ".join(f"{limit.name} ({limit.used:,.0f} of {limit.allowed:,.0f})" for limit in met)
        changes = "; ".join(limit.change for limit in met)
        rows.append(f"| {rate:,} | {rate * write_units:,.0f} | {names or 'none'} | {changes or 'nothing'} |")
    return "\n".join(rows)
