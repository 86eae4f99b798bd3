"""The performance benchmark: cold start, warm per-event CPU, AWS calls, package size — each
against a floor measured in the same run, plus the way most tutorials write the same job.

    python -m infra.bench            # make bench; about three minutes
    python -m infra.bench --quick    # a smoke run (the test suite uses it)

The local AWS endpoint is the local stack (moto) in its own process, started once, so its CPU is
never counted. Every figure is a ratio to a floor from this run, because absolute times on a
shared machine are noise.

- cold start: a fresh Python process that imports the handler and answers one signed event
  (reading the signing secret from Secrets Manager, as deployed). Floor: a fresh process that
  imports boto3, creates the same clients and makes the same AWS calls with no framework.
- warm: CPU time of this process per new event and per duplicate, over many events. Floor: the
  same AWS calls made directly with botocore.
- naive: ``stripe.Webhook.construct_event``, a boto3 ``Table.put_item`` and an SNS publish, with
  the X-Ray SDK patched in — the tutorial shape, with no dedup at all.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra import FUNCTIONS_DIR, REPO_ROOT
from infra.apigw import LocalContext, proxy_event
from infra.local_aws import SECRET_NAME, TABLE_NAME, TOPIC_NAME
from infra.python313 import find_python313
from infra.stripe_events import encode, fresh_event, generate_secret, signature_header

BUDGETS = {"cold": 1.2, "warm": 1.3, "calls_new": 3, "calls_duplicate": 1, "artifact_kib": 1024}
EVENT_TYPE = "payment_intent.succeeded"

# What each fresh process runs: parse argv[1] (a JSON request), answer it, report peak memory on stderr.
OURS = """
import json, resource, sys
from stripe_webhook.app import lambda_handler
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "cold"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
response = lambda_handler(json.loads(sys.argv[1]), Context())
assert response["statusCode"] == 200, response
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

WARM_MEMORY = """
import contextlib, io, resource, sys
from stripe_webhook.app import lambda_handler
from infra.stripe_events import encode, fresh_event, signature_header
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "warm"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
import os
secret, count = os.environ["BENCH_SIGNING_SECRET"], int(sys.argv[1])
for _ in range(count):  # one event at a time, as a container sees them
    event = fresh_event("payment_intent.succeeded")
    event["data"]["object"]["id"] = "pi_" + event["id"][4:]
    body = encode(event)
    request = {"resource": "/webhook", "httpMethod": "POST", "isBase64Encoded": False, "body": body.decode(),
               "headers": {"Stripe-Signature": signature_header(body, secret)}}
    with contextlib.redirect_stdout(io.StringIO()):
        assert lambda_handler(request, Context())["statusCode"] == 200
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

FLOOR = """
import json, os, resource, sys, time, uuid
import boto3
request = json.loads(sys.argv[1])
body = request["body"]
event = json.loads(body)
table, topic = os.environ["TABLE_NAME"], os.environ["TOPIC_ARN"]
secrets = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb")
sns = boto3.client("sns")
secrets.get_secret_value(SecretId=os.environ["STRIPE_WEBHOOK_SECRET_ARN"])
key = {"pk": {"S": "EVENT#" + event["id"]}, "sk": {"S": "EVENT"}}
dynamodb.transact_write_items(TransactItems=[
    {"Put": {"TableName": table, "Item": {**key, "payload": {"S": body}, "status": {"S": "IN_PROGRESS"}},
             "ConditionExpression": "attribute_not_exists(pk)"}},
    {"Put": {"TableName": table, "Item": {"pk": {"S": "OBJECT#" + event["data"]["object"]["id"]},
             "sk": {"S": "STATE"}, "status": {"S": event["data"]["object"]["status"]}}}},
])
message = sns.publish(TopicArn=topic, Message=body,
                      MessageAttributes={"event_type": {"DataType": "String", "StringValue": event["type"]}})
dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET #s = :p",
                     ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues={":p": {"S": "PUBLISHED"}})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

NAIVE = """
import json, os, resource, sys
os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
from aws_xray_sdk.core import patch_all
patch_all()
import boto3, stripe
request = json.loads(sys.argv[1])
secret = boto3.client("secretsmanager").get_secret_value(
    SecretId=os.environ["STRIPE_WEBHOOK_SECRET_ARN"])["SecretString"].split(",")[0]
event = stripe.Webhook.construct_event(request["body"], request["headers"]["Stripe-Signature"], secret)
boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"]).put_item(
    Item={"pk": "EVENT#" + event.id, "sk": "EVENT", "payload": request["body"]})
boto3.client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Message=request["body"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


class AwsEndpoint:
    """The local stack's AWS side in its own process (its CPU is not ours)."""

    def __init__(self, port: int, secret: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "STRIPE_WEBHOOK_SECRET": secret}
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "infra.local", "--aws-only", "--aws-port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "Press Ctrl-C" in line:
                break
        else:
            raise SystemExit("the local AWS endpoint did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def function_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": TABLE_NAME,
        "TOPIC_ARN": f"arn:aws:sns:us-east-1:123456789012:{TOPIC_NAME}",
        "STRIPE_WEBHOOK_SECRET_ARN": SECRET_NAME,
        "POWERTOOLS_SERVICE_NAME": "stripe-webhooks-bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(FUNCTIONS_DIR),
    }


def new_payment() -> dict[str, Any]:
    """A payment_intent.succeeded for a payment of its own, as in real traffic."""
    event = fresh_event(EVENT_TYPE)
    event["data"]["object"]["id"] = "pi_" + event["id"][4:]
    return event


def signed_request(secret: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    body = encode(event or new_payment())
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature_header(body, secret)}
    return proxy_event("POST", "/webhook", headers, body)


def run_python(arguments: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with the function's environment and none of ours; exits on failure."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRIPE_", "POWERTOOLS_"))}
    result = subprocess.run(  # noqa: S603
        [sys.executable, *arguments],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stderr[-3000:]}")
    return result


def cold_run(script: str, request: dict[str, Any], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds from spawn to exit of a fresh process answering one request, and its peak MB."""
    started = time.perf_counter()
    result = run_python(["-c", script, json.dumps(request)], env, "a cold run")
    elapsed = time.perf_counter() - started
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


def child_environment(env: dict[str, str], secret: str) -> dict[str, str]:
    """What the in-process runs need besides the function's environment: the tooling and the secret."""
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO_ROOT)]),
        "BENCH_SIGNING_SECRET": secret,
    }


def warm_container_peak_mb(secret: str, env: dict[str, str], events: int) -> float:
    """Peak memory of one process answering ``events`` events in turn: a warm Lambda container."""
    result = run_python(
        ["-c", WARM_MEMORY, str(events)], child_environment(env, secret), "the warm-container run"
    )
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def cold_starts(secret: str, env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall ms and median peak MB per variant, runs interleaved so drift hits all alike."""
    samples: dict[str, list[tuple[float, float]]] = {"ours": [], "floor": [], "naive": []}
    scripts = {"ours": OURS, "floor": FLOOR, "naive": NAIVE}
    for _ in range(runs):
        for name, script in scripts.items():
            samples[name].append(cold_run(script, signed_request(secret), env))
    return {
        name: (statistics.median(s[0] for s in runs_) * 1000, statistics.median(s[1] for s in runs_))
        for name, runs_ in samples.items()
    }


def settle() -> None:
    """Collect, then freeze what the benchmark itself holds, so no variant pays GC for our test data."""
    gc.collect()
    gc.freeze()


def cpu_ms_per_call(work: Callable[[], None], count: int) -> float:
    settle()
    started = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - started) / count * 1000


Call = tuple[str, str, dict[str, Any]]


def warm(secret: str, env: dict[str, str], events: int) -> dict[str, Any]:
    """Each variant in a fresh process of its own, so none pays for another's data or heap."""
    with tempfile.TemporaryDirectory() as workdir:
        calls_file = Path(workdir) / "calls.json"
        ours = run_child("ours", secret, env, events, calls_file)
        floor = run_child("floor", secret, env, events, calls_file)
        naive = run_child("naive", secret, env, events, calls_file)
    return {
        **ours,
        **floor,
        **naive,
        "peak_mb": warm_container_peak_mb(secret, env, min(events, 500)),
    }


def run_child(kind: str, secret: str, env: dict[str, str], events: int, calls_file: Path) -> dict[str, Any]:
    arguments = [
        "-m",
        "infra.bench",
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
    from stripe_webhook import app, aws

    recorded: list[tuple[str, dict[str, Any]]] = []

    def record(event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
        recorded.append((event_name, params))  # kept by reference: copying here would cost us CPU

    hook: Any = record
    aws._session().register("before-parameter-build", hook)
    context = LocalContext()
    with contextlib.redirect_stdout(io.StringIO()):  # EMF metric lines: serialised, then dropped
        app.lambda_handler(signed_request(secret), context)  # warm the container (secret, clients)
        new = [signed_request(secret) for _ in range(events)]
        recorded.clear()
        iterator = iter(new)
        ours_new = cpu_ms_per_call(lambda: app.lambda_handler(next(iterator), context), events)
        calls_new = _copied(recorded)
        duplicates = [signed_request(secret, json.loads(request["body"])) for request in new]
        del new
        recorded.clear()
        iterator = iter(duplicates)
        ours_duplicate = cpu_ms_per_call(lambda: app.lambda_handler(next(iterator), context), events)
        calls_duplicate = _copied(recorded)
    calls_file.write_text(json.dumps({"new": calls_new, "duplicate": calls_duplicate}))
    return {
        "ours_new": ours_new,
        "ours_duplicate": ours_duplicate,
        "calls_new": len(calls_new) / events,
        "calls_duplicate": len(calls_duplicate) / events,
        "calls_by_operation": dict(Counter(f"{service}.{operation}" for service, operation, _ in calls_new)),
    }


def child_floor(events: int, calls_file: Path) -> dict[str, Any]:
    calls = json.loads(calls_file.read_text())
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
        calls.append((service, operation, json.loads(json.dumps(params))))
    return calls


def floor_replay(calls: list[Call], events: int, *, rewrite: bool) -> float:
    """CPU per event of making exactly the same AWS requests straight through botocore.

    New events are replayed under fresh keys (``FLOOR#…``) so their conditional writes succeed as
    ours did; duplicates are replayed as they were, so they fail as ours did. Nothing else runs.
    """
    import botocore.session
    from botocore.exceptions import ClientError

    from stripe_webhook.aws import CLIENT_CONFIG

    session = botocore.session.get_session()
    services = {service for service, _, _ in calls}
    clients = {service: session.create_client(service, config=CLIENT_CONFIG) for service in services}

    def rekeyed(prefix: str, selected: list[Call]) -> list[Call]:
        text = (
            json.dumps(selected)
            .replace('"EVENT#', f'"{prefix}EVENT#')
            .replace('"OBJECT#', f'"{prefix}OBJECT#')
        )
        return [(service, operation, params) for service, operation, params in json.loads(text)]

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
    from aws_xray_sdk.core import patch_all  # type: ignore[import-untyped]

    patch_all()
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    sns = boto3.client("sns")
    logging.getLogger("aws_xray_sdk").setLevel(logging.CRITICAL)  # no segment outside Lambda
    requests = [signed_request(secret) for _ in range(events + 1)]
    iterator = iter(requests)

    def process(request: dict[str, Any]) -> None:
        event = stripe.Webhook.construct_event(
            request["body"], request["headers"]["Stripe-Signature"], secret
        )
        table.put_item(Item={"pk": "NAIVE#" + event.id, "sk": "EVENT", "payload": request["body"]})
        sns.publish(TopicArn=os.environ["TOPIC_ARN"], Message=request["body"])

    process(next(iterator))  # warm, as the others are
    return {"naive_new": cpu_ms_per_call(lambda: process(next(iterator)), events)}


def package_size(build: bool) -> dict[str, float] | None:
    """The zipped ``sam build`` artifact, bundled and with Powertools left to the managed layer."""
    python313 = find_python313()
    if not build or python313 is None:
        return None
    sam = Path(sys.executable).with_name("sam")
    with tempfile.TemporaryDirectory() as workdir:
        build_dir = Path(workdir) / "build"
        result = subprocess.run(  # noqa: S603
            [str(sam), "build", "--build-dir", str(build_dir), "--cache-dir", str(Path(workdir) / "cache")],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "SAM_CLI_TELEMETRY": "0",
                "PATH": f"{python313.parent}{os.pathsep}{os.environ['PATH']}",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"sam build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        artifact = build_dir / "WebhookFunction"
        sizes = {}
        for label, skip in (("bundled", ()), ("layer", ("aws_lambda_powertools",))):
            archive = Path(workdir) / f"{label}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
                for path in sorted(artifact.rglob("*")):
                    relative = path.relative_to(artifact)
                    if relative.parts[0].startswith(skip) if skip else False:
                        continue
                    bundle.write(path, relative)
            sizes[label] = archive.stat().st_size / 1024
        ours = sum(p.stat().st_size for p in (artifact / "stripe_webhook").rglob("*.py")) / 1024
        sizes["our_code"] = ours
        shutil.rmtree(build_dir, ignore_errors=True)
        return sizes


def report(
    cold: dict[str, tuple[float, float]], warm_figures: dict[str, Any], sizes: dict[str, float] | None
) -> list[str]:
    def row(name: str, ours: float, floor: float | None, budget: str, naive: str, *, digits: int = 0) -> str:
        ratio = f"{ours / floor:.2f}x" if floor else ""
        floor_text = f"{floor:.{digits}f}" if floor is not None else ""
        return f"| {name} | {ours:.{digits}f} | {floor_text} | {ratio} | {budget} | {naive} |"

    w = warm_figures
    rows = [
        "| Measure | This project | Floor | Ratio | Budget | Naive tutorial |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
        row(
            "Cold start to first response (median, ms)",
            cold["ours"][0],
            cold["floor"][0],
            f"≤ {BUDGETS['cold']}x",
            f"{cold['naive'][0]:.0f}",
        ),
        row("Peak memory, cold (MB)", cold["ours"][1], cold["floor"][1], "", f"{cold['naive'][1]:.0f}"),
        row(
            "Warm CPU per new event (ms)",
            w["ours_new"],
            w["floor_new"],
            f"≤ {BUDGETS['warm']}x",
            f"{w['naive_new']:.2f}",
            digits=2,
        ),
        row(
            "Warm CPU per duplicate (ms)",
            w["ours_duplicate"],
            w["floor_duplicate"],
            f"≤ {BUDGETS['warm']}x",
            "no dedup",
            digits=2,
        ),
        row("AWS calls per new event", w["calls_new"], None, f"≤ {BUDGETS['calls_new']}", "2"),
        row(
            "AWS calls per duplicate",
            w["calls_duplicate"],
            None,
            f"≤ {BUDGETS['calls_duplicate']}",
            "2 (publishes again)",
        ),
        row(
            f"Peak memory of a warm container after {min(w['events'], 500)} events (MB)",
            w["peak_mb"],
            None,
            "well under MemorySize",
            "",
        ),
    ]
    if sizes:
        rows += [
            row("Function artifact, zipped, Powertools bundled (KiB)", sizes["bundled"], None, "", ""),
            row(
                "Function artifact, zipped, Powertools from the layer (KiB)",
                sizes["layer"],
                None,
                f"≤ {BUDGETS['artifact_kib']}",
                "",
            ),
        ]
    return rows


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
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh processes per variant (default 15)")
    parser.add_argument("--events", type=int, default=2000, help="warm events per variant (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 cold runs, 30 events, no build")
    parser.add_argument("--no-build", action="store_true", help="skip sam build (package size)")
    parser.add_argument("--aws-port", type=int, default=5055)
    parser.add_argument("--child", choices=["ours", "floor", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--calls-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return run_as_child(args.child, args.events, args.calls_file)
    if args.quick:
        args.cold_runs, args.events, args.no_build = 2, 30, True
    secret = generate_secret()
    endpoint = AwsEndpoint(args.aws_port, secret)
    try:
        env = function_environment(endpoint.url)
        print(f"cold starts: {args.cold_runs} fresh processes per variant ...", file=sys.stderr, flush=True)
        cold = cold_starts(secret, env, args.cold_runs)
        print(
            f"warm: {args.events} new events and {args.events} duplicates per variant ...",
            file=sys.stderr,
            flush=True,
        )
        warm_figures = warm(secret, env, args.events) | {"events": args.events}
        print("package: sam build ...", file=sys.stderr, flush=True)
        sizes = package_size(not args.no_build)
    finally:
        endpoint.stop()
    print("\n".join(report(cold, warm_figures, sizes)))
    print(f"\nAWS calls per {args.events} new events: {warm_figures['calls_by_operation']}")
    failures = []
    if cold["ours"][0] > BUDGETS["cold"] * cold["floor"][0]:
        failures.append("cold start")
    if warm_figures["ours_new"] > BUDGETS["warm"] * warm_figures["floor_new"]:
        failures.append("warm CPU per new event")
    if warm_figures["ours_duplicate"] > BUDGETS["warm"] * warm_figures["floor_duplicate"]:
        failures.append("warm CPU per duplicate")
    if (
        warm_figures["calls_new"] > BUDGETS["calls_new"]
        or warm_figures["calls_duplicate"] > BUDGETS["calls_duplicate"]
    ):
        failures.append("AWS calls")
    print("budgets: " + ("all met" if not failures else "missed: " + ", ".join(failures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
