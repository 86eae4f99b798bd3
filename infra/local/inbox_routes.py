"""The inbox's HTTP routes: its page and files (``inbox_ui/``), and its JSON (``inbox_api.InboxApi``),
with the headers every answer carries. Who may ask is ``server.py``'s and ``guard.py``'s business."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from infra.local.inbox_api import InboxApi

UI_DIR = Path(__file__).with_name("inbox_ui")
API_PREFIX = "/api/"
STATIC_PREFIX = "/static/"
STATIC_TYPES = {"inbox.js": "text/javascript; charset=utf-8", "inbox.css": "text/css; charset=utf-8"}
ACTIONS = ("replay", "resend", "redrive")
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
        return json_answer(404, {"error": "not_found", "message": f"no file {name}"})
    parts = path[len(API_PREFIX) :].strip("/").split("/")
    query = {name: values[-1] for name, values in urllib.parse.parse_qs(parsed.query).items()}
    try:
        if method == "GET" and parts == ["requests"]:
            return json_answer(200, api.requests(query))
        if method == "GET" and len(parts) == 2 and parts[0] == "requests":
            return json_answer(200, api.detail(_seq(parts[1])))
        if method == "GET" and len(parts) == 2 and parts[0] == "objects":
            return json_answer(200, api.timeline(urllib.parse.unquote(parts[1])))
        if method == "GET" and len(parts) == 2 and parts[0] == "outcomes":
            return json_answer(200, api.outcomes(urllib.parse.unquote(parts[1])))
        if method == "POST" and len(parts) == 3 and parts[0] == "requests" and parts[2] in ACTIONS:
            action = getattr(api, parts[2])
            return json_answer(200, action(_seq(parts[1])))
    except ValueError as error:
        return json_answer(400, {"error": "invalid_request", "message": str(error)})
    return json_answer(404, {"error": "not_found", "message": f"no inbox route for {method} {path}"})


def _seq(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{value!r} is not a request number")
    return int(value)


def json_answer(status: int, content: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(content).encode("utf-8")
