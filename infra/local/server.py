"""The local stack's HTTP front: what API Gateway does for the deployed function, and the console.

Each ``POST /webhook`` (or ``/webhook/thin``) becomes the REST proxy event ``sam local start-api``
would send, is answered by the real ``lambda_handler``, and is printed as one line. Every request
the webhook side answers is recorded in the inbox (``inbox.py``); the console, in its local mode
(``Front.page``: ``infra.console``'s routes, which show those requests too), is served at ``/`` by
the rule every local page server follows (``page_http``).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contract import MAX_BODY_BYTES
from infra.lambda_context import LambdaContext
from infra.local.apigw import proxy_event
from infra.local.guard import BAD_LENGTH, declared_length, linger, webhook_refusal
from infra.local.inbox import Inbox
from infra.local.page_http import PageRules, Respond, serve_page
from infra.local.stopping import Deliveries
from infra.local.views import CAPTURED, console_line, take_traceback

WEBHOOK_PATH = "/webhook"
THIN_WEBHOOK_PATH = "/webhook/thin"
MAX_REQUEST_BYTES = MAX_BODY_BYTES
"""API Gateway's own payload limit; larger requests never reach the function."""
DRAIN_BYTES = 64 * 1024
"""The most of a refused body read (and dropped) so that its client gets the answer cleanly."""
MAX_INVOKE_BYTES = 6_291_456
"""Lambda's limit for a synchronous invocation's request: the whole proxy event, body included.
API Gateway answers 413 ``{"message": "Request Too Long"}`` for an event above it."""
API_PREFIX = "/api/"
STATIC_PREFIX = "/static/"


@dataclass(frozen=True)
class Front:
    """What the HTTP front serves with: the function, the inbox it records requests in, the
    console's page, and who may ask.

    ``rules``: who the console answers (``page_http``; its ``policy`` holds for ``POST /webhook``
    too); ``any_host``: the front listens beyond loopback, so ``POST /webhook`` cannot hold foreign
    Hosts to loopback's rule (``guard.webhook_refusal``)."""

    invoke: Callable[[dict[str, Any], Any], dict[str, Any]]
    show_records: Callable[[bytes], list[str]] | None
    inbox: Inbox
    page: Respond
    rules: PageRules
    any_host: bool = False


class LocalHTTPServer(ThreadingHTTPServer):
    """The stack's HTTP front. A client that goes away mid-answer (a browser tab closed during
    the console's live stream, a curl interrupted) is routine, not a traceback on the console."""

    daemon_threads = True
    request_queue_size = 128
    """The listen backlog (socketserver's 5 reset ``make burst``'s 16 senders)."""

    def __init__(self, address: tuple[str, int], front: Front) -> None:
        self.front = front
        self.deliveries = Deliveries()  # a stop refuses new ones and waits for these (``stopping``)
        super().__init__(address, FrontHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # reset, aborted, broken pipe
            return
        super().handle_error(request, client_address)


def _is_webhook(path: str) -> bool:
    return path in (WEBHOOK_PATH, THIN_WEBHOOK_PATH)


def _is_page(path: str) -> bool:
    return path in ("/", "/index.html") or path.startswith((STATIC_PREFIX, API_PREFIX))


ROUTES: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("POST", lambda path: path.startswith(API_PREFIX), "serve_console"),
    ("POST", lambda path: True, "serve_webhook"),  # other paths: 404, after the size check
    ("GET", _is_page, "serve_console"),
    ("GET", lambda path: path == "/favicon.ico", "serve_no_content"),  # the browser's own request
    ("OPTIONS", _is_webhook, "serve_wrong_method"),  # no CORS anywhere: the webhook's preflight is a 405,
    ("OPTIONS", lambda path: True, "serve_console"),  # the console refuses every preflight
)
"""(method, path test, handler method): the first match serves; nothing matches: 405 or 404."""


class FrontHandler(BaseHTTPRequestHandler):
    """The stack's HTTP handler: the webhook, and the console's page and JSON (``Front.page``).

    Every request the webhook side answers, 404s and 405s included, is recorded in the inbox. The
    console answers only what ``page_http`` lets through; ``POST /webhook`` refuses what
    ``guard.webhook_refusal`` refuses."""

    server: LocalHTTPServer
    server_version = "stripe-webhooks-local"
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        for method, matches, serve in ROUTES:
            if method == self.command and matches(path):
                getattr(self, serve)(path)
                return
        self.serve_wrong_method(path)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch  # noqa: N815

    def serve_webhook(self, path: str) -> None:
        """``POST /webhook`` as API Gateway and ``sam local`` serve it: limits, the proxy event, the
        function's answer (a crash is API Gateway's 502); a 503 once the stack is stopping."""
        with self.server.deliveries.one() as taken:
            self._serve_webhook(path, taken)

    def _serve_webhook(self, path: str, taken: bool) -> None:
        front = self.server.front
        started = time.perf_counter()
        length = declared_length(self.headers, self.command)
        if length is None or not taken:
            status, error, message = (
                (400, "bad_request", BAD_LENGTH)
                if length is None
                else (503, "stopping", "the stack is stopping")
            )
            self._refuse_unread(started, status, {"error": error, "message": message}, length)
            return
        if length > MAX_REQUEST_BYTES:
            self._too_long(started, length, f"HTTP content length exceeded {MAX_REQUEST_BYTES} bytes.")
            return
        if not _is_webhook(path):
            message = f"no route for POST {path}; the webhook is POST {WEBHOOK_PATH}"
            self._refuse_unread(started, 404, {"error": "not_found", "message": message}, length)
            return
        refusal = webhook_refusal(dict(self.headers.items()), front.rules.policy, any_host=front.any_host)
        if refusal is not None:
            self._refuse_unread(started, 403, {"error": "forbidden", "message": refusal}, length)
            return
        if length > MAX_INVOKE_BYTES:  # Lambda's limit: its proxy event could not be smaller
            self._too_long(started, length, "Request Too Long")
            return
        body = self.rfile.read(length)
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
        if len(json.dumps(event).encode()) > MAX_INVOKE_BYTES:
            self._answer(started, body, 413, {"message": "Request Too Long"})
            return
        take_traceback()  # nothing of an earlier request on this thread
        try:
            response = front.invoke(event, LambdaContext())
        except Exception:
            # API Gateway answers 502 when the function itself crashes; show why.
            traceback.print_exc()
            CAPTURED.text = traceback.format_exc()
            self._answer(started, body, 502, {"message": "Internal server error (traceback above)"})
            return
        self._record(started, body, response)  # before the answer: whoever got it finds the entry
        self._send(response)
        if front.show_records is not None and response.get("statusCode") == 200:
            print("\n".join(front.show_records(body)), flush=True)

    def serve_no_content(self, path: str) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def serve_wrong_method(self, path: str) -> None:
        """A webhook path with another method: 405; any other path: 404 (the contract's JSON)."""
        started = time.perf_counter()
        length = declared_length(self.headers, self.command)
        if length is None:
            self._refuse_unread(started, 400, {"error": "bad_request", "message": BAD_LENGTH})
        elif _is_webhook(path):
            content = {"error": "method_not_allowed", "message": f"use POST {path}"}
            self._refuse_unread(started, 405, content, length)
        else:
            content = {"error": "not_found", "message": f"no route for {self.command} {path}"}
            self._refuse_unread(started, 404, content, length)

    def serve_console(self, path: str) -> None:
        """The console's page, its files and its JSON (``page_http``'s rule, ``Front.page``'s answers)."""
        serve_page(self, self.server.front.page, self.server.front.rules)

    def _drain(self, length: int) -> None:
        """Drop a small body nobody keeps; leave a larger one unread and close after the answer."""
        if 0 < length <= DRAIN_BYTES:
            self._discard(length)
        elif length:
            self.close_connection = True

    def _too_long(self, started: float, length: int, message: str) -> None:
        """413, the body unread; what the client still sends is dropped until it reads the answer."""
        self._answer(started, b"", 413, {"message": message})
        linger(self.connection, self.rfile, length)
        self.close_connection = True

    def _refuse_unread(
        self, started: float, status: int, content: dict[str, Any], length: int | None = None
    ) -> None:
        """Refuse, keeping nothing of the body (recorded without one), reading at most ``DRAIN_BYTES``."""
        if length is None:
            self.close_connection = True
        else:
            self._drain(length)
        self._answer(started, b"", status, content)

    def _discard(self, length: int) -> None:
        while length > 0 and (chunk := self.rfile.read(min(length, 1 << 20))):
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
        entry = self.server.front.inbox.record(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers=dict(self.headers.items()),
            body=body,
            status=int(response.get("statusCode", 502)),
            response_body=response.get("body") or "",
            latency_ms=(time.perf_counter() - started) * 1000,
            traceback=take_traceback(),
        )
        print(console_line(entry), flush=True)

    def _send(self, response: dict[str, Any]) -> None:
        """The answer; to ``HEAD``, the same status and headers without the body."""
        payload = (response.get("body") or "").encode("utf-8")
        self.send_response(int(response.get("statusCode", 502)))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log; ``views.console_line`` prints a better one."""
