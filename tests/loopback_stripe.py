"""The Stripe API on loopback, for the function's own stdlib HTTP calls (thin events, state fetches,
the reconciler's event lists).

``objects`` maps a request path (``/v2/core/events/evt_…``, ``/v1/customers/cus_…``,
``/v1/webhook_endpoints/we_…``) to the JSON Stripe would answer; ``events`` is what
``GET /v1/events`` lists (``infra.fixtures.events_api``, as Stripe pages it) and
``GET /v1/events/{id}`` retrieves; anything else is a 404. ``fail_next`` answers the next requests
with those statuses first (a 429 with ``Retry-After: 1``), ``trickle`` sends a path's answer one
byte every ``trickle_seconds``. Every request is recorded with its headers, so a test can assert
what was asked, on whose behalf, and that the common path asked nothing.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.fixtures.events_api import Listed, list_events, list_query


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]


@dataclass
class LoopbackStripe:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    events: list[Listed] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    trickle: set[str] = field(default_factory=set)
    trickle_seconds: float = 2.0
    thin_events: list[dict[str, Any]] = field(default_factory=list)
    """What ``GET /v2/core/events`` lists (every thin event, newest first; no delivery filter)."""
    thin_page_size: int = 100
    """Thin events a page; more follow as ``next_page_url`` (``/v2/core/events?page=…``)."""
    listings: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    """A path, or a whole target (path and query), → the status it is refused with."""
    pages: dict[str, bytes] = field(default_factory=dict)
    """A path → the raw body it answers (200), whatever it asks: a hostile or broken Stripe."""

    def add_event(self, event: dict[str, Any], *, delivered: bool = False) -> None:
        self.events.append(Listed(event, delivered))

    def answer(self, target: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        refused = self.refused.get(target, self.refused.get(parts.path))
        if refused is not None:
            return refused, {"error": {"type": "invalid_request_error", "message": "refused"}}
        if parts.path == "/v1/events":
            return list_events(self.events, **list_query(dict(parse_qsl(parts.query))))
        if parts.path == "/v2/core/events":
            newest_first = list(reversed(self.thin_events))
            query = dict(parse_qsl(parts.query))
            if "page" not in query:  # a new listing: its pages get tokens of their own
                self.listings += 1
            start, listing = int(query.get("page", "0")), query.get("listing", str(self.listings))
            end = start + self.thin_page_size
            following = f"/v2/core/events?page={end}&listing={listing}" if end < len(newest_first) else None
            return 200, {
                "data": newest_first[start:end],
                "next_page_url": following,
                "previous_page_url": None,
            }
        if parts.path.startswith("/v1/events/"):
            wanted = parts.path.rsplit("/", 1)[1]
            found = next((entry.event for entry in self.events if entry.event["id"] == wanted), None)
            if found is not None:
                return 200, found
        found = self.objects.get(parts.path)
        return (200, found) if found else (404, {"error": {"message": "not found"}})

    def list_calls(self) -> int:
        return sum(1 for request in self.requests if urlsplit(request.path).path == "/v1/events")

    def start(self) -> str:
        """Serve on a free loopback port; return the base URL."""
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stripe.requests.append(Request(self.path, dict(self.headers.items())))
                failure = stripe.fail_next.pop(0) if stripe.fail_next else None
                status, answer = (
                    (failure, {"error": {"type": "api_error"}}) if failure else stripe.answer(self.path)
                )
                raw = stripe.pages.get(urlsplit(self.path).path)
                status, body = (
                    (200, raw) if raw is not None and not failure else (status, json.dumps(answer).encode())
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("Retry-After", "1")
                if urlsplit(self.path).path in stripe.trickle:
                    self.end_headers()
                    try:
                        for byte in body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(stripe.trickle_seconds)
                    except OSError:
                        pass  # the client gave up: what the trickle is for
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # shutdown() in 50 ms
        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self.trickle.clear()
        self._server.shutdown()
        self._server.server_close()
