"""Warm CPU per event: ours, the floor (the same AWS requests replayed through botocore), naive.

Each variant runs in a fresh process of its own (``python -m infra.bench.warm --child …``), so none
pays for another's data or heap.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import io
import json
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from infra.bench.cold import warm_container_peak_mb
from infra.bench.environment import child_environment, run_python, signed_request
from infra.cli import exit_with
from infra.lambda_context import LambdaContext


def settle() -> None:
    """Collect, then freeze what the benchmark itself holds, so no variant pays GC for our test data."""
    gc.collect()
    gc.freeze()


BATCH = 200
"""Requests are signed a batch at a time, just before they are timed: signatures expire after 300 s,
and a 2,000-event phase can take longer than that on a slow machine."""


def cpu_ms_per_call(work: Callable[[T], None], make: Callable[[], T], count: int) -> float:
    """CPU ms per ``work(item)``; items are made (untimed) in batches right before they are used."""
    spent, done = 0.0, 0
    while done < count:
        batch = [make() for _ in range(min(BATCH, count - done))]
        settle()
        started = time.process_time()
        for item in batch:
            work(item)
        spent += time.process_time() - started
        done += len(batch)
    return spent / count * 1000


Call = tuple[str, str, dict[str, Any]]
T = TypeVar("T")


def warm(secret: str, env: dict[str, str], events: int, rounds: int = 3) -> dict[str, Any]:
    """Each variant in a fresh process of its own, so none pays for another's data or heap; ours
    and the floor's runs alternate for ``rounds`` rounds, so that what the machine does meanwhile
    falls on both, and each figure is the median of its rounds (the floor alone has moved by a
    quarter between runs)."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": []}
    with tempfile.TemporaryDirectory() as workdir:
        calls_file = Path(workdir) / "calls.json"
        for round_ in range(rounds):  # the floor replays the calls ours recorded last (any round's)
            for kind in in_turn(round_, ("ours", "floor")):
                runs[kind].append(run_child(kind, secret, env, events, calls_file))
        naive = run_child("naive", secret, env, events, calls_file)
    figures: dict[str, Any] = {**runs["ours"][-1], **runs["floor"][-1], **naive}
    for kind, taken in runs.items():
        for name in (f"{kind}_new", f"{kind}_duplicate"):
            figures[name] = statistics.median(run[name] for run in taken)
    return figures | {"rounds": rounds, "peak_mb": warm_container_peak_mb(secret, env, min(events, 500))}


def in_turn(round_: int, kinds: tuple[str, str]) -> tuple[str, str]:
    """The order of round ``round_``'s runs: ours first, then the floor first, and so on. The machine
    drifts during a run (a quarter in minutes), and the second of a pair gains what the first paid:
    alternating the order (ABBA) cancels a steady drift instead of handing it to one side."""
    return kinds if round_ % 2 == 0 else (kinds[1], kinds[0])


def run_child(kind: str, secret: str, env: dict[str, str], events: int, calls_file: Path) -> dict[str, Any]:
    arguments = [
        "-m",
        "infra.bench.warm",
        "--child",
        kind,
        "--events",
        str(events),
        "--calls-file",
        str(calls_file),
    ]
    result = run_python(arguments, child_environment(env, secret), f"the {kind} warm run")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def child_ours(secret: str, events: int, calls_file: Path) -> dict[str, Any]:
    """A warm container: CPU per new event, then per duplicate; the AWS calls it made, for the floor."""
    from contract import aws
    from stripe_webhook import app

    recorded: list[tuple[str, dict[str, Any]]] = []

    def record(event_name: str, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        # the client's own service name (an event name spells some differently: secrets-manager),
        # the params kept by reference: copying here would cost us CPU
        recorded.append((f"call.{model.service_model.service_name}.{model.name}", params))

    hook: Any = record
    aws.session().register("before-parameter-build", hook)
    answers: list[dict[str, Any]] = []
    bodies: list[str] = []

    def answer(request: dict[str, Any]) -> None:
        # A context per invocation, as Lambda makes: its deadline is what the pipeline's budget reads
        answers.append(app.lambda_handler(request, LambdaContext()))  # checked after the timing

    def new_request() -> dict[str, Any]:
        request = signed_request(secret)
        bodies.append(request["body"])
        return request

    def duplicate_request() -> dict[str, Any]:
        return signed_request(secret, json.loads(bodies.pop()))

    with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines: serialised, then dropped
        app.lambda_handler(signed_request(secret), LambdaContext())  # warm the container (secret, clients)
        recorded.clear()
        ours_new = cpu_ms_per_call(answer, new_request, events)
        calls_new = _copied(recorded)
        recorded.clear()
        ours_duplicate = cpu_ms_per_call(answer, duplicate_request, events)
        calls_duplicate = _copied(recorded)
    outcomes = Counter(
        json.loads(response["body"]).get("status")
        if response["statusCode"] == 200
        else response["statusCode"]
        for response in answers
    )
    if outcomes != Counter({"processed": events, "duplicate": events}):
        raise SystemExit(f"ours did not answer every event as expected: {dict(outcomes)}")
    calls_file.write_text(_dumps({"new": calls_new, "duplicate": calls_duplicate}))
    return {
        "ours_new": ours_new,
        "ours_duplicate": ours_duplicate,
        "calls_new": len(calls_new) / events,
        "calls_duplicate": len(calls_duplicate) / events,
        "calls_by_operation": dict(Counter(f"{service}.{operation}" for service, operation, _ in calls_new)),
    }


def child_floor(events: int, calls_file: Path) -> dict[str, Any]:
    calls = _loads(calls_file.read_text())
    new = [(service, operation, params) for service, operation, params in calls["new"]]
    duplicate = [(service, operation, params) for service, operation, params in calls["duplicate"]]
    return {
        "floor_new": floor_replay(new, events, rewrite=True),
        "floor_duplicate": floor_replay(duplicate, events, rewrite=False),
    }


def _copied(recorded: list[tuple[str, dict[str, Any]]]) -> list[Call]:
    calls = []
    for event_name, params in recorded:
        _, service, operation = event_name.split(".", 2)
        calls.append((service, operation, _loads(_dumps(params))))
    return calls


def _dumps(value: Any) -> str:
    """JSON, with a binary attribute value (an event's deflated body) as ``{"__bytes__": base64}``."""
    return json.dumps(value, default=lambda raw: {"__bytes__": base64.b64encode(raw).decode("ascii")})


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=lambda o: base64.b64decode(o["__bytes__"]) if "__bytes__" in o else o)


def floor_replay(calls: list[Call], events: int, *, rewrite: bool) -> float:
    """CPU per event of making exactly the same AWS requests straight through botocore, with the
    clients anyone makes (botocore's defaults), as the consumer's floor does with boto3's: what our
    own clients save per call (no client-side validation, a User-Agent built once) is ours.

    New events are replayed under fresh keys (``FLOOR#…``) so their conditional writes succeed as
    ours did; duplicates are replayed as they were, so they fail as ours did. Nothing else runs.
    """
    import botocore.session
    from botocore.exceptions import ClientError

    session = botocore.session.get_session()
    services = {service for service, _, _ in calls}
    clients = {service: session.create_client(service) for service in services}

    def rekeyed(prefix: str, selected: list[Call]) -> list[Call]:
        text = (
            _dumps(selected).replace('"EVENT#', f'"{prefix}EVENT#').replace('"OBJECT#', f'"{prefix}OBJECT#')
        )
        return [(service, operation, params) for service, operation, params in _loads(text)]

    # One event's calls first, untimed, as ours had a warm container: first calls load models.
    for service, operation, params in rekeyed("WARM#", calls[: len(calls) // events]):
        with contextlib.suppress(ClientError):
            getattr(clients[service], _snake(operation))(**params)
    if rewrite:
        calls = rekeyed("FLOOR#", calls)
    methods = [(getattr(clients[service], _snake(operation)), params) for service, operation, params in calls]
    settle()
    started = time.process_time()
    for method, params in methods:
        with contextlib.suppress(ClientError):  # a duplicate's conditional write fails, as ours did
            method(**params)
    return (time.process_time() - started) / events * 1000


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def child_naive(secret: str, events: int) -> dict[str, Any]:
    os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
    import boto3
    import stripe
    from aws_xray_sdk.core import patch_all

    patch_all()
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    sns = boto3.client("sns")
    logging.getLogger("aws_xray_sdk").setLevel(logging.CRITICAL)  # no segment outside Lambda

    def process(request: dict[str, Any]) -> None:
        event = stripe.Webhook.construct_event(
            request["body"], request["headers"]["Stripe-Signature"], secret
        )
        table.put_item(Item={"pk": "NAIVE#" + event.id, "sk": "EVENT", "payload": request["body"]})
        sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message=request["body"])

    process(signed_request(secret))  # warm, as the others are
    return {"naive_new": cpu_ms_per_call(process, lambda: signed_request(secret), events)}


def run_as_child(kind: str, events: int, calls_file: Path) -> int:
    secret = os.environ["BENCH_SIGNING_SECRET"]
    if kind == "ours":
        figures = child_ours(secret, events, calls_file)
    elif kind == "floor":
        figures = child_floor(events, calls_file)
    else:
        figures = child_naive(secret, events)
    print(json.dumps(figures))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.warm", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--child", choices=["ours", "floor", "naive"], required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--calls-file", type=Path, required=True)
    args = parser.parse_args(argv)
    return run_as_child(args.child, args.events, args.calls_file)


if __name__ == "__main__":
    exit_with(main)
