"""DynamoDB write and read units, S3 PUTs and stored bytes per event, measured from the requests the
function sends (``capacity`` prices each one by DynamoDB's documented rules).

    python -m infra.bench.units [--json]           (make cost prints the dollars it makes)

The real handler runs in-process against moto with the template's table. Each event of the corpus
(one per handled type, pretty-printed as Stripe sends it) is delivered as Stripe would: new, then
again (a duplicate), then an older event about the same object (out of order), then another of
the same second (a tie); and one event too big for SNS goes through S3. ``Meter`` sees every
DynamoDB call through botocore's own event hooks and reads the item before and after it from moto
directly, so each call is priced by what it changed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from infra.bench import corpus
from infra.bench.capacity import Index, Item, Table, item_size, read_units, write_cost
from infra.bench.environment import signed_request
from infra.cli import exit_with
from infra.fixtures.payloads import encode
from stripe_webhook.adapters.schema import event_key

S3_PUT_IN_WRITE_UNITS = 8
"""An S3 PUT ($0.005 per 1,000) in on-demand DynamoDB write units ($0.625 per million): 8."""
WRITES = ("PutItem", "UpdateItem", "DeleteItem")


@dataclass
class Priced:
    operation: str
    write_units: int = 0
    read_units: float = 0.0


@dataclass
class Meter:
    """Prices every DynamoDB call a botocore session sends (install it on the function's session)."""

    reader: Any
    """A DynamoDB client on another session: reads the items before and after, unseen and unpriced."""
    table_name: str
    calls: list[Priced] = field(default_factory=list)
    s3_puts: int = 0
    _pending: tuple[str, dict[str, Any], list[tuple[dict[str, Any], Item | None]]] | None = None
    _table: Table | None = None

    def install(self, session: Any) -> None:
        events = session.get_component("event_emitter")
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        events.register("after-call.s3.PutObject", self._s3_put)

    @property
    def table(self) -> Table:
        if self._table is None:
            described = self.reader.describe_table(TableName=self.table_name)["Table"]
            keys = tuple(key["AttributeName"] for key in described["KeySchema"])
            indexes = tuple(Index.of(index) for index in described.get("GlobalSecondaryIndexes", []))
            self._table = Table(keys, indexes)
        return self._table

    def _current(self, key: dict[str, Any]) -> Item | None:
        found: Item | None = self.reader.get_item(
            TableName=self.table_name, Key=key, ConsistentRead=True
        ).get("Item")
        return found

    def _key(self, write: dict[str, Any]) -> dict[str, Any]:
        if "Key" in write:
            return dict(write["Key"])
        return {name: write["Item"][name] for name in self.table.keys}

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "TransactWriteItems":
            writes = [next(iter(action.values())) for action in params["TransactItems"]]
        elif name in WRITES:
            writes = [params]
        else:
            writes = []
        self._pending = (name, params, [(write, self._current(self._key(write))) for write in writes])

    def _after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if self._pending is None:
            return
        name, params, befores = self._pending
        self._pending = None
        failed = "Error" in parsed
        priced = Priced(name)
        for write, before in befores:
            after = before if failed else self._current(self._key(write))
            priced.write_units += write_cost(
                self.table,
                before,
                after,
                new=write.get("Item"),
                applied=not failed,
                transactional=name == "TransactWriteItems",
            )
        if name == "GetItem":
            priced.read_units = read_units(
                item_size(parsed.get("Item")), consistent=bool(params.get("ConsistentRead"))
            )
        elif name == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            priced.read_units = read_units(size, consistent=bool(params.get("ConsistentRead")))
        self.calls.append(priced)

    def _s3_put(self, **_: Any) -> None:
        self.s3_puts += 1

    @contextmanager
    def measuring(self) -> Iterator[list[Priced]]:
        """The calls made inside the block."""
        start = len(self.calls)
        puts = self.s3_puts
        taken: list[Priced] = []
        yield taken
        taken.extend(self.calls[start:])
        taken.extend(
            Priced("S3 PutObject", write_units=S3_PUT_IN_WRITE_UNITS) for _ in range(self.s3_puts - puts)
        )


KINDS = ("new", "duplicate", "out of order", "same second")
TARGETS = {"median new": 6, "median duplicate": 2, "max new": 10, "median stored KB": 1.8}
"""Issue 26's budgets on the openapi corpus: half the write units and stored bytes measured before
(a new event's median 8, a duplicate's 3, the largest 44; 2.6 KB stored), none over 10; issue 36's
``by-object`` index entry (1 unit, about 0.25 KB: the console's timeline) took the largest to 11
and the median stored to 1.6 KB, and issue 47 brought the largest back under 10 (the body is
written with the mark, not twice in the claim's transaction). Issue 48's ``by-time`` index entry
(1 unit, about 0.2 KB: the console's list, at most 10 queries a page) took the largest to 10 and
the median stored to 1.8 KB."""


def missed_targets(measured: Measured) -> list[str]:
    """The ``TARGETS`` these figures miss."""
    figures = {
        "median new": statistics.median(measured.writes["new"]),
        "median duplicate": statistics.median(measured.writes["duplicate"]),
        "max new": max(measured.writes["new"]),
        "median stored KB": round(statistics.median(measured.stored) / 1024, 1),
    }
    return [
        f"{name} {figures[name]:g} > {limit:g}" for name, limit in TARGETS.items() if figures[name] > limit
    ]


@dataclass
class Measured:
    """Per kind of delivery: the write units, read units and calls of each event of the corpus."""

    writes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    reads: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    stored: list[int] = field(default_factory=list)
    """Bytes each new event keeps in the table: its event-log item and index entries."""
    bodies: list[int] = field(default_factory=list)
    by_type: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, kind: str, event_type: str, calls: list[Priced]) -> None:
        units = sum(call.write_units for call in calls)
        self.writes[kind].append(units)
        self.reads[kind].append(sum(call.read_units for call in calls))
        self.calls[kind].append(sum(call.operation != "S3 PutObject" for call in calls))
        self.by_type[event_type][kind] = units


@contextmanager
def function_on_moto(secret: str) -> Iterator[tuple[Meter, Callable[[dict[str, Any]], list[Priced]]]]:
    """The real handler in-process against moto with the template's table, its DynamoDB calls
    priced by a ``Meter``: (the meter, deliver an event and get its priced calls). The process's
    environment and log level are put back afterwards."""
    import boto3
    from moto import mock_aws

    from contract import aws as function_aws
    from infra.lambda_context import LambdaContext
    from infra.local.resources import create_resources
    from stripe_webhook import app, composition
    from stripe_webhook.observability import logger

    level, saved = logger.log_level, dict(os.environ)
    logger.setLevel("ERROR")  # one line per delivery would bury the figures
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto")  # noqa: S106 (moto)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "STRIPE_API_KEY"):
        os.environ.pop(name, None)
    try:
        with mock_aws():
            clients: dict[str, Any] = {name: boto3.client(name) for name in ("dynamodb", "sns", "sqs", "s3")}
            made = create_resources(clients["dynamodb"], clients["sns"], clients["sqs"], s3=clients["s3"])
            os.environ.update(
                TABLE_NAME=made.table_name,
                TOPIC_ARN=made.topic_arn,
                PAYLOAD_BUCKET=str(made.bucket),
                STRIPE_WEBHOOK_SECRET=secret,
            )
            composition.reset()
            meter = Meter(clients["dynamodb"], made.table_name)
            meter.install(function_aws.session())

            def deliver(event: dict[str, Any]) -> list[Priced]:
                request = signed_request(secret, event)
                with meter.measuring() as calls, contextlib.redirect_stdout(io.StringIO()):  # metrics lines
                    answer = app.lambda_handler(request, LambdaContext())
                if answer["statusCode"] != 200:
                    raise RuntimeError(f"{event['type']}: {answer['statusCode']} {answer['body']}")
                return calls

            yield meter, deliver
    finally:
        os.environ.clear()
        os.environ.update(saved)
        logger.setLevel(level)
        composition.reset()


def measure(events: list[dict[str, Any]]) -> Measured:
    """Deliver each event's variants (``corpus.variants``) to the real handler under moto, pricing
    every call."""
    from infra.fixtures.signing import generate_secret

    measured = Measured()
    with function_on_moto(generate_secret()) as (meter, deliver):
        for number, original in enumerate(events):
            event = corpus.measured(original, number)
            measured.bodies.append(len(encode(event)))
            for kind, delivery in corpus.variants(event, number).items():
                measured.add(kind, event["type"], deliver(delivery))
            stored = meter.reader.get_item(
                TableName=meter.table_name, Key=event_key(event["id"]), ConsistentRead=True
            )["Item"]
            measured.stored.append(meter.table.stored_bytes(stored))
        measured.add("large (S3)", "invoice.paid", deliver(corpus.large_event()))
    return measured


def spread(values: list[float] | list[int]) -> str:
    return f"{statistics.median(values):g} / {statistics.fmean(values):.1f} / {max(values):g}"


def report(measured: Measured, corpus_name: str) -> str:
    body_kb = statistics.median(measured.bodies) / 1024
    lines = [
        f"{corpus_name}: {corpus.TITLES[corpus_name]}",
        f"DynamoDB per delivery, {len(measured.bodies)} event types"
        f" (pretty-printed, body median {body_kb:.1f} KB)",
        f"{'delivery':<14} {'write units (median / mean / max)':>34} {'read units':>11} {'calls':>6}",
    ]
    for kind in (*KINDS, "large (S3)"):
        writes, reads, calls = measured.writes[kind], measured.reads[kind], measured.calls[kind]
        lines.append(f"{kind:<14} {spread(writes):>34} {statistics.fmean(reads):>11.1f} {max(calls):>6}")
    stored = [value / 1024 for value in measured.stored]
    lines.append(
        f"stored per event (event log + index entries): median {statistics.median(stored):.1f} KB,"
        f" max {max(stored):.1f} KB"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.units", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print the figures per event type as JSON")
    parser.add_argument(
        "--corpus",
        choices=sorted(corpus.CORPORA),
        default="openapi",
        help="openapi: one event of every current type (default); project: the handled types' payloads",
    )
    args = parser.parse_args(argv)
    events = corpus.CORPORA[args.corpus]()
    print(f"measuring {len(events)} event types x 4 deliveries under moto…", file=sys.stderr, flush=True)
    measured = measure(events)
    print(
        json.dumps(measured.by_type, indent=2, sort_keys=True) if args.json else report(measured, args.corpus)
    )
    return 0


if __name__ == "__main__":
    exit_with(main)
