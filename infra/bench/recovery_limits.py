"""The bounds of recovery, measured: what Stripe returns cannot grow the reconciler's state or its
memory past them, and what ``ops verify`` costs.

    python -m infra.bench.recovery_limits [--failing 20000] [--verify 10000]

- **The state item while events keep failing.** The reconciler's own code (its sweeps, state and
  ``DynamoLedger`` on moto with the template's table) against an in-memory Events API listing
  ``--failing`` undelivered events, with every event failing (a pipeline that raises SNS's
  refusal), run after run until each has failed; the largest state item saved is printed.
- **Peak memory for a 16 MiB page of ``{}`` items.** A fresh process reads such a page from a
  loopback server through ``StripeApi.get`` with the reconciler's caps; its peak RSS (``VmHWM``)
  is printed beside the same process's before the read.
- **``ops verify`` for ``--verify`` events.** The command's own code against moto and the
  ``stripe`` library on an in-memory Stripe, at its default rate and unthrottled: its Stripe
  requests, DynamoDB reads and time.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.cli import exit_with

PAGE_PROGRAM = r"""
import http.server, json, sys, threading, time
sys.path[:0] = ["functions", "."]
from stripe_webhook.errors import StripeApiError
from stripe_webhook.adapters.stripe_api import MAX_PAGE_BYTES, MAX_PAGE_VALUES, StripeApi
items = b"{}," * ((16 * 1024 * 1024 - 64) // 3) + b"{}"
page = b'{"object":"list","has_more":false,"data":[' + items + b"]}"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(page))); self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
def peak_kb():  # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
before = peak_kb()
api = StripeApi(lambda: "rk_test_bench", f"http://127.0.0.1:{server.server_address[1]}")
try:
    guarded = MAX_PAGE_VALUES if sys.argv[1] == "guarded" else None
    api.get("/v1/events", deadline=time.time() + 30, max_bytes=MAX_PAGE_BYTES, max_values=guarded)
    outcome = "parsed"
except StripeApiError as error:
    outcome = error.code
after = peak_kb()
print(json.dumps({"before_kb": before, "after_kb": after, "outcome": outcome, "page_bytes": len(page)}))
"""


def state_while_failing(count: int) -> tuple[int, int, int]:
    """(the largest state item in bytes, runs, events that failed at least once)."""
    from infra.bench.recovery import EventsApi, _undelivered
    from infra.bench.units import function_on_moto
    from infra.fixtures.signing import generate_secret
    from stripe_webhook import composition
    from stripe_webhook.adapters.stripe_api import StripeApi
    from stripe_webhook.errors import PublishError
    from stripe_webhook.handlers import build_registry
    from stripe_webhook.recovery.reconciler import Reconciler
    from stripe_webhook.recovery.reconciliation import Endpoint, Limits

    class Failing:
        def process(self, event: Any, *, deadline: float | None = None) -> Any:
            raise PublishError("publish_failed", "SNS rejected the publish: InternalError")

    api = EventsApi()
    api.events = _undelivered(count)
    largest, runs, failed = 0, 0, set[str]()
    with function_on_moto(generate_secret()) as _:
        components = composition.components()
        patterns = tuple(build_registry().patterns())
        created = int(time.time()) - 86_400
        components.ledger.record_endpoints([Endpoint("we_bench", "webhook_endpoint", "-", patterns, created)])
        reconciler = Reconciler(
            Failing(),  # type: ignore[arg-type]
            StripeApi(lambda: "rk_test_bench", "https://api.stripe.test", transport=api),
            components.ledger,
            handled=patterns,
            api_version=components.settings.stripe_api_version,
            limits=Limits(max_pages=1_000, complete_every_seconds=10**9),
        )
        dynamodb, table = components.store.client, components.settings.table_name
        while len(failed) < count and runs < 20 * count:
            report = reconciler.run(time.time() + 3_600)
            runs += 1
            failed.update(report.failed)
            item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "RECONCILER"}, "sk": {"S": "STATE"}})[
                "Item"
            ]
            largest = max(largest, len(item["state"]["S"]))
    return largest, runs, len(failed)


def page_memory(mode: str = "guarded") -> dict[str, Any]:
    """The page read in a fresh process, with the value cap (``guarded``) or without (``parsed``)."""
    from infra import REPO_ROOT

    done = subprocess.run(  # noqa: S603 (this interpreter, this module's own program)
        [sys.executable, "-c", PAGE_PROGRAM, mode], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class EventsList:
    """The ``stripe`` library's HTTP client, answering ``GET /v1/events`` as Stripe pages it."""

    def __init__(self, events: list[Any]) -> None:
        import stripe

        from infra.fixtures.events_api import list_events, list_query

        class Client(stripe.HTTPClient):
            name = "bench-events-list"

            def request(
                self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: Any = None
            ) -> Any:
                outer.requests += 1
                parts = urlsplit(url)
                status, body = list_events(events, **list_query(dict(parse_qsl(parts.query))))
                return json.dumps(body), status, {"request-id": "req_bench"}

            def request_stream(self, *args: Any, **kwargs: Any) -> Any:
                raise NotImplementedError

            def close(self) -> None:
                pass

        outer = self
        self.requests = 0
        self.client = stripe.StripeClient("sk_test_bench", http_client=Client())


def verify_cost(count: int) -> list[tuple[str, int, int, float]]:
    """(rate, Stripe requests, DynamoDB reads, seconds) for ``ops verify`` over ``count`` events."""
    import tempfile
    from pathlib import Path

    import boto3

    from infra.bench.units import function_on_moto
    from infra.fixtures.events_api import Listed
    from infra.fixtures.payloads import fresh_event
    from infra.fixtures.signing import generate_secret
    from infra.ops import verify
    from infra.ops.deployed import Context, Stack
    from stripe_webhook import composition

    now = int(time.time())
    events = []
    for number in range(count):
        event = fresh_event("customer.created", created=now - 3_600 + number * 3_000 // count)
        event["id"] = f"evt_verify{number:08d}"
        events.append(Listed(event, delivered=True))
    rows = []
    with function_on_moto(generate_secret()) as _, tempfile.TemporaryDirectory() as kept:
        verify.STATE_DIR = Path(kept)
        settings = composition.components().settings
        stack = Stack("bench", "-", settings.table_name, settings.topic_arn, "-")
        for label, rate in (("default", verify.DEFAULT_RATE), ("unthrottled", 10_000.0)):
            reads: list[int] = []
            dynamodb: Any = boto3.client("dynamodb")
            dynamodb.meta.events.register(
                "before-call.dynamodb.BatchGetItem", lambda _r=reads, **_: _r.append(1)
            )

            def client(service: str, dynamodb: Any = dynamodb) -> Any:
                made: Any = boto3.client
                return dynamodb if service == "dynamodb" else made(service)

            ctx = Context(stack, client, out=io.StringIO())
            api = EventsList(events)
            ctx.stripe = api.client
            started = time.monotonic()
            verify.verify(ctx, verify.VerifyState(now - 7_200, now), rate=rate)
            rows.append((label, api.requests, len(reads), time.monotonic() - started))
    return rows


def report(failing: int, checked: int) -> str:
    largest, runs, failed = state_while_failing(failing)
    memory, parsed = page_memory(), page_memory("parsed")
    rows = verify_cost(checked)
    lines = [
        f"state item after {failed:,} failing events ({runs:,} runs): {largest / 1000:.1f} KB at most"
        " (bound 64 KB; DynamoDB's item limit 400 KB)",
        f"a {memory['page_bytes'] / 2**20:.0f} MiB page of {{}} items: {memory['outcome']}, peak RSS"
        f" {memory['after_kb'] / 1024:.0f} MB (the process serving the page itself; parsed without the"
        f" value cap: {parsed['after_kb'] / 1024:.0f} MB)",
    ]
    for label, listed, reads, seconds in rows:
        lines.append(
            f"ops verify, {checked:,} events, {label} rate: {listed} Stripe list requests,"
            f" {reads} DynamoDB BatchGetItem calls, {seconds:.1f} s"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.recovery_limits", description=__doc__)
    parser.add_argument(
        "--failing", type=int, default=20_000, help="events that keep failing (default 20000)"
    )
    parser.add_argument("--verify", type=int, default=10_000, help="events ops verify checks (default 10000)")
    args = parser.parse_args(argv)
    print(report(args.failing, args.verify))
    return 0


if __name__ == "__main__":
    exit_with(main)
