"""The local stack's HTTP front: what API Gateway does for the deployed function.

Each ``POST /webhook`` (or ``/webhook/thin``) becomes the REST proxy event ``sam local start-api``
would send, is answered by the real ``lambda_handler``, and is printed as one line.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from infra.local.apigw import LocalContext, proxy_event

WEBHOOK_PATH = "/webhook"
THIN_WEBHOOK_PATH = "/webhook/thin"
MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's own payload limit; larger requests never reach the function."""
MAX_INVOKE_BYTES = 6_291_456
"""Lambda's limit for a synchronous invocation's request: the whole proxy event, body included.
API Gateway answers 413 ``{"message": "Request Too Long"}`` for an event above it."""


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
                self._discard(length)  # read it, so the client gets the answer instead of a broken pipe
                self._reply(413, {"message": f"HTTP content length exceeded {MAX_REQUEST_BYTES} bytes."})
                self.close_connection = True
                print(f"413 body of {length} bytes: over API Gateway's 10 MiB", flush=True)
                return
            body = self.rfile.read(length)
            event = proxy_event("POST", path, dict(self.headers.items()), body, resource=path)
            size = len(json.dumps(event).encode())
            if size > MAX_INVOKE_BYTES:
                self._reply(413, {"message": "Request Too Long"})
                print(
                    f"413 request of {size} bytes: over Lambda's {MAX_INVOKE_BYTES}-byte invoke limit",
                    flush=True,
                )
                return
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

        def _discard(self, length: int) -> None:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return
                length -= len(chunk)

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
