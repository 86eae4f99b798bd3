"""``make console``'s HTTP server: the console's page and JSON (``routes``) for one stack, on loopback.

It answers by the one rule of every local page server (``infra.local.page_http``): a loopback
``Host`` with this port (no DNS rebinding), no CORS preflight, the JSON only for the console's own
page, a change only with the ``X-Inbox-Request`` header from its own origin, a body over
``MAX_PAGE_BODY`` refused unread, and every answer with no framing, a strict CSP and ``no-store``.
``make run`` serves the same page with the same rule beside the webhook. Nothing is logged but the
method, path and status.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.console.routes import App
from infra.local.guard import HostPolicy
from infra.local.page_http import PageRules, serve_page


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, ConsoleHandler)
        self.rules = PageRules(HostPolicy.of(self.server_address[1]))
        """The ``Host`` values it answers: loopback names with the port it listens on."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ConsoleHandler(BaseHTTPRequestHandler):
    server: ConsoleServer
    server_version = "stripe-webhooks-console"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request line holds ids only, and the console prints nothing per request

    def _serve(self) -> None:
        serve_page(self, self.server.app.respond, self.server.rules)

    do_GET = do_POST = do_OPTIONS = do_HEAD = _serve  # noqa: N815
