"""Run the webhook locally without Docker or an AWS account.

Starts an embedded moto server as the AWS endpoint (DynamoDB, SNS, SQS,
Secrets Manager), creates the table and topic from template.yaml, subscribes
an SQS queue standing in for a downstream consumer, and serves
``POST /webhook`` on 127.0.0.1, turning each request into the API Gateway
proxy event ``sam local start-api`` would send to the real handler.

    python -m infra.local [--port 3000] [--aws-port 5000]
    stripe listen --forward-to localhost:3000/webhook   # with STRIPE_WEBHOOK_SECRET set
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.apigw import LocalContext, proxy_event
from infra.local_aws import REGION, SECRET_NAME, client, summarize
from infra.local_moto import start_aws
from infra.stripe_events import generate_secret
from infra.template_resources import LocalResources, create_resources

WEBHOOK_PATH = "/webhook"
THIN_WEBHOOK_PATH = "/webhook/thin"
MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's own payload limit; larger requests never reach the function."""


class LocalStackError(Exception):
    """A problem the person running the stack can fix; printed without a traceback."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description=(
            "Run the Stripe webhook function locally: moto as the AWS endpoint, the table and topic "
            "from template.yaml, an SQS consumer queue, and POST /webhook on an HTTP port. "
            "Uses STRIPE_WEBHOOK_SECRET when set (e.g. the secret `stripe listen` prints), "
            "else generates one."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="webhook HTTP port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=5000, help="local AWS endpoint port (default 5000)")
    parser.add_argument(
        "--aws-host",
        default="127.0.0.1",
        help="address the local AWS endpoint listens on (default 127.0.0.1; use 0.0.0.0 so that "
        "`sam local start-api` containers can reach it as host.docker.internal)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print the stored record and the function's own logs"
    )
    parser.add_argument(
        "--aws-only",
        action="store_true",
        help="only the AWS side (for `sam local start-api`, which serves the webhook itself)",
    )
    return parser.parse_args(argv)


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise LocalStackError(
                f"cannot use {host}:{port} for the {what}: {error.strerror}. "
                f"Stop whatever is using it, or pick another port with {option}."
            ) from None


def resolve_secret() -> tuple[str, bool]:
    """The signing secret(s) to use, and whether they came from the environment."""
    from stripe_webhook.errors import ConfigurationError
    from stripe_webhook.settings import parse_secrets

    value = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    if not value:
        return generate_secret(), False
    try:
        parse_secrets(value, "STRIPE_WEBHOOK_SECRET")
    except ConfigurationError as error:
        raise LocalStackError(
            f"{error.message}. Set it to the whsec_... value that `stripe listen` prints, or unset it "
            "to have one generated."
        ) from None
    return value, True


def configure_environment(endpoint: str, secret: str, verbose: bool) -> None:
    """Point every AWS client in this process at the local endpoint, with throwaway credentials."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "STRIPE_WEBHOOK_SECRET": secret,
            # `stripe listen --forward-thin-to …/webhook/thin` signs thin events with the same secret
            "STRIPE_THIN_WEBHOOK_SECRET": os.environ.get("STRIPE_THIN_WEBHOOK_SECRET") or secret,
            "POWERTOOLS_SERVICE_NAME": "stripe-webhooks-local",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "ERROR",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)


def provision(endpoint: str, secret: str) -> tuple[LocalResources, str]:
    resources = create_resources(
        client("dynamodb", endpoint), client("sns", endpoint), client("sqs", endpoint)
    )
    secret_arn = client("secretsmanager", endpoint).create_secret(Name=SECRET_NAME, SecretString=secret)[
        "ARN"
    ]
    os.environ["TABLE_NAME"] = resources.table_name
    os.environ["TOPIC_ARN"] = resources.topic_arn
    return resources, str(secret_arn)


def describe(response: dict[str, Any]) -> str:
    """One line per request: status, then what the function did."""
    status = response.get("statusCode", 502)
    try:
        body = json.loads(response.get("body") or "{}")
    except ValueError:
        body = {}
    if status == 200:
        handler = body.get("handler") or "none"
        return (
            f"{status} {body.get('event_type')} {body.get('event_id')} {body.get('status')}"
            f" handler={handler} records={body.get('records_written', 0)}"
            f" sns={body.get('message_id') or '-'}"
        )
    return f"{status} {body.get('error', 'error')}: {body.get('message', '')}"


def stored_records(dynamodb: Any, table: str, body: bytes) -> list[str]:
    """What the function stored for this request, one line each (for --verbose)."""
    from infra.queries import get_record

    try:
        event = json.loads(body)
        object_id = event["data"]["object"]["id"]
    except (ValueError, KeyError, TypeError):
        return []
    record = get_record(dynamodb, table, object_id) if isinstance(object_id, str) else None
    return [f"    record OBJECT#{object_id}: {summarize(record)}"] if record else []


def make_handler(
    invoke: Callable[[dict[str, Any], Any], dict[str, Any]],
    show_records: Callable[[bytes], list[str]] | None = None,
) -> type[BaseHTTPRequestHandler]:
    class WebhookRequestHandler(BaseHTTPRequestHandler):
        server_version = "stripe-webhooks-local"
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in (WEBHOOK_PATH, THIN_WEBHOOK_PATH):
                self._reply(404, {"message": f"no route for POST {path}; the webhook is POST {WEBHOOK_PATH}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._reply(413, {"message": "request body too large"})
                self.close_connection = True
                return
            body = self.rfile.read(length)
            event = proxy_event("POST", path, dict(self.headers.items()), body, resource=path)
            try:
                response = invoke(event, LocalContext())
            except Exception:
                # API Gateway answers 502 when the function itself crashes; show why.
                traceback.print_exc()
                self._reply(502, {"message": "Internal server error"})
                print(f"502 the function raised (traceback above) for POST {path}", flush=True)
                return
            self._send(response)
            lines = [describe(response)]
            if show_records is not None and response.get("statusCode") == 200:
                lines += show_records(body)
            print("\n".join(lines), flush=True)

        def do_GET(self) -> None:
            self._reply(405, {"message": f"use POST {WEBHOOK_PATH}"})

        do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            self._send(
                {
                    "statusCode": status,
                    "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(body),
                }
            )

        def _send(self, response: dict[str, Any]) -> None:
            payload = (response.get("body") or "").encode("utf-8")
            self.send_response(int(response.get("statusCode", 502)))
            for name, value in (response.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default access log; ``describe`` prints a better line."""

    return WebhookRequestHandler


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if not args.aws_only:
            check_port_free(args.host, args.port, "webhook", "--port")
        check_port_free(args.aws_host, args.aws_port, "local AWS endpoint", "--aws-port")
        secret, from_env = resolve_secret()
    except LocalStackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    reachable_host = "127.0.0.1" if args.aws_host in ("0.0.0.0", "::") else args.aws_host
    endpoint = f"http://{reachable_host}:{args.aws_port}"
    aws = start_aws(args.aws_host, args.aws_port)
    server: ThreadingHTTPServer | None = None
    try:
        configure_environment(endpoint, secret, args.verbose)
        resources, secret_arn = provision(endpoint, secret)
        if not args.aws_only:
            from stripe_webhook.app import lambda_handler

            dynamodb = client("dynamodb", endpoint)
            show = (
                (lambda body: stored_records(dynamodb, resources.table_name, body)) if args.verbose else None
            )
            server = ThreadingHTTPServer((args.host, args.port), make_handler(lambda_handler, show))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        print_banner(
            args=args,
            endpoint=endpoint,
            secret=secret,
            from_env=from_env,
            resources=resources,
            secret_arn=secret_arn,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        aws.stop()
    return 0


def print_banner(
    *,
    args: argparse.Namespace,
    endpoint: str,
    secret: str,
    from_env: bool,
    resources: LocalResources,
    secret_arn: str,
) -> None:
    origin = "from STRIPE_WEBHOOK_SECRET" if from_env else "generated; set STRIPE_WEBHOOK_SECRET to choose"
    webhook = (
        "served by `sam local start-api`"
        if args.aws_only
        else f"http://{args.host}:{args.port}{WEBHOOK_PATH}"
    )
    lines = [
        "Stripe webhook local stack is running",
        f"  webhook URL     {webhook}",
        *([] if args.aws_only else [f"  thin events     {webhook}/thin"]),
        f"  AWS endpoint    {endpoint}  (region {REGION}, any credentials)",
        f"  signing secret  {secret}  ({origin})",
        f"  secret ARN      {secret_arn}",
        f"  table           {resources.table_name}",
        f"  topic           {resources.topic_arn}",
        f"  consumer queue  {resources.queue_url}",
        "",
        "  send events     make trigger EVENT=payment_intent.succeeded   (or --flow checkout; --list)",
        "  look inside     python -m infra.inspect events | event <evt_id> | tail",
        f"  Stripe CLI      stripe listen --forward-to localhost:{args.port}{WEBHOOK_PATH}"
        "   (start this stack with STRIPE_WEBHOOK_SECRET set to the secret it prints)",
    ]
    if args.aws_host in ("0.0.0.0", "::"):
        lines.append(
            f"  sam local       reaches the AWS endpoint as http://host.docker.internal:{args.aws_port}"
            " (see env.json)"
        )
    lines.append("Press Ctrl-C to stop. One line per request follows.")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
