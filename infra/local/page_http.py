"""How every local page server answers a browser: the console's page, files and JSON, whether
``make run`` serves it (beside the webhook) or ``make console`` does (on its own).

``serve_page`` is the one HTTP rule for both: ``guard.page_refusal`` first (Host, cross-site,
preflight, the change header, a public console's token), then the body's declared length (at most
``MAX_PAGE_BODY``, refused before it is read), then the page's own answer (``Respond``: the
console's route table, ``infra.console.routes``), always with ``guard.PAGE_HEADERS``. The live
stream of the local stack's requests (``inbox_stream``) is served here too, when there is one.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from infra.local.guard import BAD_LENGTH, PAGE_HEADERS, HostPolicy, declared_length, linger, page_refusal
from infra.local.inbox_stream import STREAM_HEADERS, STREAM_PATH, Changes, stream

Respond = Callable[[str, str, bytes], tuple[int, str, bytes]]
"""(method, request target, body) → (status, content type, body): the console's routes."""
MAX_PAGE_BODY = 4096
"""The page posts small JSON (an action and its target); anything larger is refused unread."""
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


@dataclass(frozen=True)
class PageRules:
    """Who a page server answers: ``policy``'s Host names; ``token`` on the JSON when it is public;
    ``remote``: clients beyond loopback too (``--inbox-public``); ``live``: the requests' stream."""

    policy: HostPolicy
    token: str | None = None
    remote: bool = True
    live: Changes | None = None


def serve_page(handler: BaseHTTPRequestHandler, respond: Respond, rules: PageRules) -> None:
    """Answer ``handler``'s request to the page server by the one rule (module docstring)."""
    method, path = handler.command, urllib.parse.urlsplit(handler.path).path
    length = declared_length(handler.headers, method)
    refusal = page_refusal(method, path, dict(handler.headers.items()), rules.policy, rules.token)
    if refusal is None and not rules.remote and handler.client_address[0] not in LOOPBACK:
        refusal = "the console answers only on loopback (start with --inbox-public)"
    if refusal is not None or length is None or length > MAX_PAGE_BODY:
        status, code, message = (
            (403, "forbidden", refusal)
            if refusal
            else (400, "bad_request", BAD_LENGTH)
            if length is None
            else (413, "too_large", f"a request body is at most {MAX_PAGE_BODY} bytes")
        )
        answer(handler, status, "application/json", error_body(code, str(message)), close=True)
        if length:
            linger(handler.connection, handler.rfile, length)
        return
    if method == "GET" and path == STREAM_PATH and rules.live is not None:
        handler.close_connection = True
        handler.send_response(200)
        for name, value in STREAM_HEADERS + PAGE_HEADERS:
            handler.send_header(name, value)
        handler.end_headers()
        stream(rules.live, handler.wfile.write)
        return
    raw = handler.rfile.read(length) if length else b""
    answer(handler, *respond(method, handler.path, raw))


def error_body(code: str, message: str) -> bytes:
    """The JSON of a refusal or an error: the HTTP contract's shape, ``{"error", "message"}``."""
    return json.dumps({"error": code, "message": message}).encode()


def answer(
    handler: BaseHTTPRequestHandler, status: int, kind: str, body: bytes, *, close: bool = False
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in PAGE_HEADERS:
        handler.send_header(name, value)
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
