"""The Stripe API on loopback, for the function's own stdlib HTTP calls (thin events, state fetches).

``objects`` maps a request path (``/v2/core/events/evt_…``, ``/v1/customers/cus_…``) to the JSON
Stripe would answer; anything else is a 404. Every request is recorded with its headers, so a
test can assert what was asked, on whose behalf, and that the common path asked nothing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class LoopbackStripe:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def start(self) -> str:
        """Serve on a free loopback port; return the base URL."""
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stripe.requests.append(Request(self.path, dict(self.headers.items())))
                found = stripe.objects.get(self.path)
                body = json.dumps(found or {"error": {"message": "not found"}}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
