"""The local stack's HTTP front: what API Gateway does for the deployed function, and the inbox.

Each ``POST /webhook`` (or ``/webhook/thin``) becomes the REST proxy event ``sam local start-api``
would send, is answered by the real ``lambda_handler``, and is printed as one line. Every request
the webhook side answers is recorded in the inbox (``inbox.py``), whose page is served at ``/``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.local.apigw import LocalContext, proxy_event
from infra.local.guard import HostPolicy, inbox_refusal, webhook_refusal

if TYPE_CHECKING:
    from infra.local.inbox import Entry, InboxApi

WEBHOOK_PATH = "/webhook"
THIN_WEBHOOK_PATH = "/webhook/thin"
MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""API Gateway's own payload limit; larger requests never reach the function."""
MAX_INVOKE_BYTES = 6_291_456
"""Lambda's limit for a synchronous invocation's request: the whole proxy event, body included.
API Gateway answers 413 ``{"message": "Request Too Long"}`` for an event above it."""
UI_DIR = Path(__file__).with_name("inbox_ui")
API_PREFIX = "/api/"
STATIC_PREFIX = "/static/"
STATIC_TYPES = {"inbox.js": "text/javascript; charset=utf-8", "inbox.css": "text/css; charset=utf-8"}
ACTIONS = ("replay", "resend", "redrive")
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""No inline script or style, nothing from elsewhere: a body can never run code in the page; and
no other page may frame it."""
INBOX_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
)
"""Every inbox answer's headers; none grants CORS (``guard``)."""


def console_line(entry: Entry) -> str:
    """The stack's one line per request: time, status, verdict, type, event id, records, latency."""
    parts = [time.strftime("%H:%M:%S", time.localtime(entry.time)), str(entry.status), entry.verdict]
    parts += [value for value in (entry.event_type, entry.event_id) if value]
    if entry.status == 200:
        parts.append(f"records={entry.records_written} stale={entry.records_stale}")
    if entry.status != 200 or not entry.event_id:
        parts.append(f"{entry.method} {entry.path}")
    parts.append(f"{entry.latency_ms:.0f} ms")
    return "  ".join(parts)


class LocalHTTPServer(ThreadingHTTPServer):
    """The stack's HTTP front. A client that goes away mid-answer (a browser tab closed during
    the inbox's polling, a curl interrupted) is routine, not a traceback on the console."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # reset, aborted, broken pipe
            return
        super().handle_error(request, client_address)


def make_handler(
    invoke: Callable[[dict[str, Any], Any], dict[str, Any]],
    show_records: Callable[[bytes], list[str]] | None,
    *,
    api: InboxApi,
    policy: HostPolicy,
    allow_remote_inbox: bool = False,
    token: str | None = None,
    any_host: bool = False,
) -> type[BaseHTTPRequestHandler]:
    """The stack's HTTP handler: the webhook, and the inbox page and its JSON (``api``).

    Every request the webhook side answers, 404s and 405s included, is recorded in the inbox. The
    inbox answers only what ``guard.inbox_refusal`` lets through (``policy``: the ``Host`` values
    it answers; ``token``: required on its JSON when it is public). ``POST /webhook`` refuses what
    ``guard.webhook_refusal`` refuses (``any_host``: the front listens beyond loopback)."""

    class WebhookRequestHandler(BaseHTTPRequestHandler):
        server_version = "stripe-webhooks-local"
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith(API_PREFIX):
                self._inbox("POST", path)
                return
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._discard(length)  # read it, so the client gets the answer instead of a broken pipe
                self._answer(
                    started, b"", 413, {"message": f"HTTP content length exceeded {MAX_REQUEST_BYTES} bytes."}
                )
                self.close_connection = True
                return
            body = self.rfile.read(length)
            if path not in (WEBHOOK_PATH, THIN_WEBHOOK_PATH):
                message = f"no route for POST {path}; the webhook is POST {WEBHOOK_PATH}"
                self._answer(started, body, 404, {"error": "not_found", "message": message})
                return
            refusal = webhook_refusal(dict(self.headers.items()), policy, any_host=any_host)
            if refusal is not None:
                self._answer(started, body, 403, {"error": "forbidden", "message": refusal})
                return
            event = proxy_event(
                "POST",
                path,
                list(self.headers.items()),
                body,
                resource=path,
                port=self.connection.getsockname()[1],
                host=self.headers.get("Host") or "localhost",
                source_ip=self.client_address[0],
            )
            size = len(json.dumps(event).encode())
            if size > MAX_INVOKE_BYTES:
                self._answer(started, body, 413, {"message": "Request Too Long"})
                return
            try:
                response = invoke(event, LocalContext())
            except Exception:
                # API Gateway answers 502 when the function itself crashes; show why.
                traceback.print_exc()
                self._answer(started, body, 502, {"message": "Internal server error (traceback above)"})
                return
            self._record(started, body, response)  # before the answer: whoever got it finds the entry
            self._send(response)
            if show_records is not None and response.get("statusCode") == 200:
                print("\n".join(show_records(body)), flush=True)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html") or path.startswith((STATIC_PREFIX, API_PREFIX)):
                self._inbox("GET", path)
                return
            if path == "/favicon.ico":  # the browser's own request, not the webhook's
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._wrong_method()

        def do_PUT(self) -> None:
            self._wrong_method()

        def do_OPTIONS(self) -> None:
            """No CORS anywhere: a preflight for the inbox is refused, the webhook's is a 405."""
            path = self.path.split("?", 1)[0]
            if path in (WEBHOOK_PATH, THIN_WEBHOOK_PATH):
                self._wrong_method()
            else:
                self._inbox("OPTIONS", path)

        def do_HEAD(self) -> None:
            self._wrong_method()  # the same status and headers as GET, without the body (``_send``)

        do_DELETE = do_PATCH = do_PUT  # noqa: N815

        def _wrong_method(self) -> None:
            """A webhook path with another method: 405; any other path: 404 (the contract's JSON)."""
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if 0 < length <= MAX_REQUEST_BYTES else b""
            path = self.path.split("?", 1)[0]
            if path in (WEBHOOK_PATH, THIN_WEBHOOK_PATH):
                content = {"error": "method_not_allowed", "message": f"use POST {path}"}
                self._answer(started, body, 405, content)
            else:
                content = {"error": "not_found", "message": f"no route for {self.command} {path}"}
                self._answer(started, body, 404, content)

        def _inbox(self, method: str, path: str) -> None:
            """The inbox page, its files and its JSON: loopback only unless the stack was told otherwise."""
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(length, MAX_REQUEST_BYTES))
            refusal = inbox_refusal(method, path, dict(self.headers.items()), policy, token)
            if refusal is None and not allow_remote_inbox and self.client_address[0] not in LOOPBACK:
                refusal = "the inbox answers only on loopback (start with --inbox-public)"
            if refusal is not None:
                status, content_type, payload = _json(403, {"error": "forbidden", "message": refusal})
            else:
                status, content_type, payload = inbox_response(api, method, self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in INBOX_HEADERS:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _discard(self, length: int) -> None:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return
                length -= len(chunk)

        def _answer(self, started: float, body: bytes, status: int, content: dict[str, Any]) -> None:
            """Answer a webhook-side request with the HTTP contract's JSON error shape, and record it."""
            response = {
                "statusCode": status,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(content),
            }
            self._record(started, body, response)
            self._send(response)

        def _record(self, started: float, body: bytes, response: dict[str, Any]) -> None:
            """Record the request in the inbox and print its console line."""
            entry = api.inbox.record(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers=dict(self.headers.items()),
                body=body,
                status=int(response.get("statusCode", 502)),
                response_body=response.get("body") or "",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            print(console_line(entry), flush=True)

        def _send(self, response: dict[str, Any]) -> None:
            payload = (response.get("body") or "").encode("utf-8")
            self.send_response(int(response.get("statusCode", 502)))
            for name, value in (response.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default access log; ``console_line`` prints a better one."""

    return WebhookRequestHandler


def inbox_response(api: InboxApi, method: str, target: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for a request to the inbox page, its files or its JSON."""
    parsed = urllib.parse.urlsplit(target)
    path = parsed.path
    if method == "GET" and path in ("/", "/index.html"):
        return 200, "text/html; charset=utf-8", (UI_DIR / "index.html").read_bytes()
    if method == "GET" and path.startswith(STATIC_PREFIX):
        name = path[len(STATIC_PREFIX) :]
        if name in STATIC_TYPES:
            return 200, STATIC_TYPES[name], (UI_DIR / name).read_bytes()
        return _json(404, {"error": "not_found", "message": f"no file {name}"})
    parts = path[len(API_PREFIX) :].strip("/").split("/")
    query = {name: values[-1] for name, values in urllib.parse.parse_qs(parsed.query).items()}
    try:
        if method == "GET" and parts == ["requests"]:
            return _json(200, api.requests(query))
        if method == "GET" and len(parts) == 2 and parts[0] == "requests":
            return _json(200, api.detail(_seq(parts[1])))
        if method == "GET" and len(parts) == 2 and parts[0] == "objects":
            return _json(200, api.timeline(urllib.parse.unquote(parts[1])))
        if method == "POST" and len(parts) == 3 and parts[0] == "requests" and parts[2] in ACTIONS:
            action = getattr(api, parts[2])
            return _json(200, action(_seq(parts[1])))
    except ValueError as error:
        return _json(400, {"error": "invalid_request", "message": str(error)})
    return _json(404, {"error": "not_found", "message": f"no inbox route for {method} {path}"})


def _seq(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{value!r} is not a request number")
    return int(value)


def _json(status: int, content: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(content).encode("utf-8")
