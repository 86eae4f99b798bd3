"""The console's HTTP server: its page (``ui/``) and JSON, on loopback only.

Who may ask is the inbox's rule (``infra.local.guard.inbox_refusal``): a loopback ``Host`` with
this port (no DNS rebinding), no CORS preflight, the JSON only for the console's own page, and a
change only with the ``X-Inbox-Request`` header from the console's own origin. Every answer
carries the inbox's headers (no framing, a strict CSP, ``no-store``). A request body over
``MAX_BODY`` is refused before it is read. Nothing is logged but the method, path and status.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.console.actions import ConsoleActions, Refused
from infra.console.event_log import Filters
from infra.console.reads import ConsoleReads
from infra.fixtures.payloads import TIMESTAMP_KEY, TIMESTAMPS
from infra.local.guard import BAD_LENGTH, HostPolicy, declared_length, inbox_refusal, linger
from infra.local.inbox_routes import INBOX_HEADERS
from infra.ops.progress import parse_time
from stripe_webhook.core.events import EVENT_ID, OBJECT_ID, is_id

UI_DIR = Path(__file__).with_name("ui")
INBOX_UI = Path(__file__).parent.parent / "local" / "inbox_ui"
STATIC = {
    "console.js": (UI_DIR, "text/javascript; charset=utf-8"),
    "console.css": (UI_DIR, "text/css; charset=utf-8"),
    "inbox.css": (INBOX_UI, "text/css; charset=utf-8"),
}
MAX_BODY = 4096


@dataclass
class App:
    reads: ConsoleReads
    actions: ConsoleActions
    allow_actions: bool

    def get(self, path: str, query: dict[str, str]) -> Any:
        parts = [urllib.parse.unquote(part) for part in path.removeprefix("/api/").strip("/").split("/")]
        if parts == ["events"]:
            return self.reads.events(
                _filters(query), query.get("cursor") or None, _size(query), scan=query.get("scan") == "1"
            )
        if len(parts) == 2 and parts[0] == "events":
            return self.reads.event(_id(parts[1], EVENT_ID, "event"))
        if len(parts) == 2 and parts[0] == "objects":
            return self.reads.timeline(_id(parts[1], OBJECT_ID, "object"), query.get("cursor") or None)
        if parts == ["consumers"]:
            return self.reads.consumers()
        if parts == ["health"]:
            return self.reads.health()
        if parts == ["audit"]:
            return {"entries": self.actions.audit()}
        if parts == ["about"]:
            stack = self.reads.ctx.stack
            return {
                "stack": stack.name,
                "local": stack.local,
                "who": self.actions.caller,
                "allow_actions": self.allow_actions,
                "region": self.reads.deployment.region,
                "event_types": self.reads.event_types,
                "time_fields": TIMESTAMP_KEY.pattern,  # the page shows these fields' Unix times as dates
                "time_range": [TIMESTAMPS.start, TIMESTAMPS.stop],
            }
        raise LookupError(f"no console route GET {path}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        kind, target = str(body.get("kind", "")), str(body.get("target", ""))
        verdict = str(body.get("verdict", ""))
        if path == "/api/plan":
            plan = self.actions.plan(kind, target, verdict)
            return {"says": plan.says, "allowed": self.allow_actions}
        if path == "/api/actions":
            if not self.allow_actions:
                raise PermissionError(
                    "the console is read-only: start it with --allow-actions to change anything"
                )
            if body.get("confirmed") is not True:
                raise ValueError("an action runs only once confirmed (confirmed: true)")
            return self.actions.run(kind, target, verdict)
        raise LookupError(f"no console route POST {path}")


def _filters(query: dict[str, str]) -> Filters:
    def when(name: str) -> int | None:
        value = query.get(name, "").strip()
        try:
            return parse_time(value) if value else None
        except Exception as error:  # argparse's message, as a 400
            raise ValueError(f"{name}: {error}") from None

    return Filters(
        query.get("type", "").strip(),
        query.get("object", "").strip(),
        when("since"),
        when("until"),
        query.get("status", "").strip(),
    )


def _size(query: dict[str, str]) -> int:
    value = query.get("size", "50")
    if not value.isdigit():
        raise ValueError("size must be a whole number")
    return int(value)


def _id(value: str, rule: re.Pattern[str], kind: str) -> str:
    """An id by the function's own rule (``events.EVENT_ID``, ``events.OBJECT_ID``), so every id
    the function keeps (``prod-basic``, ``price_1.2``, ``coupon:SUMMER``) can be looked up."""
    if not is_id(rule, value):
        raise ValueError(f"{value[:80]!r} is not a Stripe {kind} id")
    return value


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, ConsoleHandler)
        self.policy = HostPolicy.of(self.server_address[1])
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

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        refusal = inbox_refusal(
            method, parsed.path, dict(self.headers.items()), self.server.policy, None, page="console"
        )
        length = declared_length(self.headers, method)
        if refusal is not None or length is None or length > MAX_BODY:
            message = refusal or (
                BAD_LENGTH if length is None else f"a request body is at most {MAX_BODY} bytes"
            )
            status = 403 if refusal else (400 if length is None else 413)
            self._answer(status, "application/json", json.dumps({"error": message}).encode(), close=True)
            if length:
                linger(self.connection, self.rfile, length)
            return
        if method == "GET" and not parsed.path.startswith("/api/"):
            self._static(parsed.path)
            return
        query = {name: values[-1] for name, values in urllib.parse.parse_qs(parsed.query).items()}
        self._api(method, parsed.path, query, self.rfile.read(length) if length else b"")

    def _static(self, path: str) -> None:
        if path in ("/", "/index.html"):
            self._answer(200, "text/html; charset=utf-8", (UI_DIR / "index.html").read_bytes())
            return
        name = path.removeprefix("/static/")
        if path.startswith("/static/") and name in STATIC:
            folder, kind = STATIC[name]
            self._answer(200, kind, (folder / name).read_bytes())
            return
        self._answer(404, "application/json", b'{"error": "not found"}')

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        app = self.server.app
        try:
            if method == "GET":
                content = app.get(path, query)
            else:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("a JSON object, please")
                content = app.post(path, body)
            status = 200
        except LookupError as error:
            status, content = 404, {"error": str(error)}
        except PermissionError as error:
            status, content = 403, {"error": str(error)}
        except (ValueError, Refused) as error:
            status, content = 400, {"error": str(error)}
        except ClientError as error:  # e.g. AccessDenied: it names the permission the policy lacks
            detail = error.response.get("Error", {})
            status, content = 502, {"error": f"AWS said {detail.get('Code')}: {detail.get('Message')}"}
        except BotoCoreError as error:
            status, content = 502, {"error": f"AWS could not be reached: {error}"}
        except Exception as error:  # e.g. a publish whose answer was lost: said, and in the audit log
            status, content = 500, {"error": f"{type(error).__name__}: {error} (see the audit log)"}
        self._answer(status, "application/json", json.dumps(content, default=str).encode())

    def _answer(self, status: int, kind: str, body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in INBOX_HEADERS:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
