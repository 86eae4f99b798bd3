"""What every benchmark measurement shares: the AWS endpoint in its own process, the function's
environment, signed requests, and fresh interpreters to run programs in."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any

from infra import FUNCTIONS_DIR, REPO_ROOT
from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from infra.local.apigw import proxy_event
from infra.local.connect import SECRET_NAME
from infra.local.resources import TABLE_NAME, TOPIC_NAME

EVENT_TYPE = "payment_intent.succeeded"
PROGRAMS = REPO_ROOT / "infra" / "bench" / "programs"


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


TRACE_HEADER = "Root=1-6750a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
"""A sampled invocation's trace header, as Lambda sets it with ``Tracing: Active`` (the default)."""


class XrayDaemon:
    """A UDP port where the X-Ray daemon would listen: the runs send their spans to it, as in
    Lambda (it never reads them; the kernel drops what overflows, as UDP may)."""

    def __init__(self) -> None:
        import socket

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def environment(self) -> dict[str, str]:
        """What Lambda gives a traced invocation: the header, the daemon, and the function's name
        (with which botocore copies the header onto every AWS request)."""
        return {
            "_X_AMZN_TRACE_ID": TRACE_HEADER,
            "AWS_XRAY_DAEMON_ADDRESS": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": "stripe-webhooks-bench",
        }


def function_environment(endpoint: str, daemon: XrayDaemon | None = None) -> dict[str, str]:
    """The function's environment against ``endpoint``; traced as with ``Tracing: Active`` when a
    ``daemon`` is given."""
    return (daemon.environment() if daemon is not None else {}) | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": TABLE_NAME,
        "TOPIC_ARN": f"arn:aws:sns:us-east-1:123456789012:{TOPIC_NAME}",
        "STRIPE_WEBHOOK_SECRET_ARN": SECRET_NAME,
        "POWERTOOLS_SERVICE_NAME": "stripe-webhooks-bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # Lambda's Python runtime has no awscrt (aws/aws-lambda-base-images#147), so botocore signs
        # in Python there; our venv has it (through aws-sam-cli), and botocore would sign with it
        "BOTO_DISABLE_CRT": "true",
        # the function, and infra for the one Lambda context stand-in (stdlib only)
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO_ROOT)]),
    }


@functools.cache
def compiled_as_shipped() -> None:
    """Our modules' bytecode, as ``sam build`` ships it (``build.compile_bytecode``), for this
    Python, in ``functions/``'s ``__pycache__`` (git-ignored): the cold runs then start as a
    deployed function does, instead of compiling every module (the runs keep
    ``PYTHONDONTWRITEBYTECODE`` when it is set, so they would write none themselves). Once a run."""
    from pathlib import Path

    from infra.build import compile_bytecode

    compile_bytecode(FUNCTIONS_DIR, Path(sys.executable))


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


def program(name: str) -> list[str]:
    """The arguments that run ``programs/<name>.py`` as a script (no package imports to time)."""
    return [str(PROGRAMS / f"{name}.py")]


def child_environment(env: dict[str, str], secret: str) -> dict[str, str]:
    """What the in-process runs need besides the function's environment: the tooling and the secret."""
    return {
        **env,
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO_ROOT)]),
        "BENCH_SIGNING_SECRET": secret,
    }
