"""The console's one route table: its page and files (``ui/``) and its JSON, for a deployed stack
(``make console``) and for the local stack (``make run``), which adds what only it knows.

Every stack: ``GET /api/events`` (the event log, filtered and paged), ``/api/events/<id>``,
``/api/objects/<id>`` (an object's timeline), ``/api/consumers``, ``/api/health``, ``/api/audit``,
``/api/about``; ``POST /api/plan`` and ``/api/actions`` (redrive, resend, settle: confirmed,
audited). The local stack also: ``GET /api/requests`` (every HTTP request the webhook answered,
refused ones too), ``/api/requests/<n>`` (one, with why it was refused and its traceback),
``/api/requests/objects/<id>``, ``/api/outcomes/<event id>``, and ``POST
/api/requests/<n>/replay|resend|redrive`` (``infra.local.inbox_api``). Ids follow the function's own
rule (``events.EVENT_ID``, ``events.OBJECT_ID``). Who may ask is ``infra.local.page_http``'s.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.console.actions import ConsoleActions, Refused
from infra.console.event_log import Filters
from infra.console.reads import ConsoleReads
from infra.fixtures.payloads import TIMESTAMP_KEY, TIMESTAMPS
from infra.local.page_http import error_body
from infra.ops.progress import parse_time
from stripe_webhook.core.events import EVENT_ID, OBJECT_ID, is_id

if TYPE_CHECKING:
    from infra.local.inbox_api import InboxApi

UI_DIR = Path(__file__).with_name("ui")
STATIC = {
    "page.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "requests.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
REQUEST_ACTIONS = ("replay", "resend", "redrive")
JSON = "application/json"


@dataclass
class App:
    """The console's answers. ``local``: the local stack's requests (``make run``), or None."""

    reads: ConsoleReads
    actions: ConsoleActions
    allow_actions: bool
    local: InboxApi | None = None

    def respond(self, method: str, target: str, raw: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request the page server let through."""
        parsed = urllib.parse.urlsplit(target)
        if not parsed.path.startswith("/api/"):
            return _static(method, parsed.path)
        query = {name: values[-1] for name, values in urllib.parse.parse_qs(parsed.query).items()}
        status, content = _json(lambda: self._api(method, parsed.path, query, raw))
        if status != 200:
            return status, JSON, error_body(*content)
        return status, JSON, json.dumps(content, default=str).encode()

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> Any:
        if method == "GET":
            return self.get(path, query)
        if method == "POST":
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("a JSON object, please")
            return self.post(path, body)
        raise LookupError(f"no console route {method} {path}")

    def get(self, path: str, query: dict[str, str]) -> Any:
        parts = _parts(path)
        if parts[0] in ("requests", "outcomes"):
            return self._local_get(parts, query)
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
            return self.about()
        raise LookupError(f"no console route GET /api/{'/'.join(parts)}")

    def about(self) -> dict[str, Any]:
        stack = self.reads.ctx.stack
        return {
            "stack": stack.name,
            "local": stack.local,
            "requests": self.local is not None,  # served by make run: the requests view and its stream
            "who": self.actions.caller,
            "allow_actions": self.allow_actions,
            "region": self.reads.deployment.region,
            "event_types": self.reads.event_types,
            "time_fields": TIMESTAMP_KEY.pattern,  # the page shows these fields' Unix times as dates
            "time_range": [TIMESTAMPS.start, TIMESTAMPS.stop],
        }

    def post(self, path: str, body: dict[str, Any]) -> Any:
        parts = _parts(path)
        kind, target = str(body.get("kind", "")), str(body.get("target", ""))
        verdict = str(body.get("verdict", ""))
        if len(parts) == 3 and parts[0] == "requests" and parts[2] in REQUEST_ACTIONS:
            return getattr(self._requests(), parts[2])(_seq(parts[1]))
        if parts == ["plan"]:
            plan = self.actions.plan(kind, target, verdict)
            return {"says": plan.says, "allowed": self.allow_actions}
        if parts == ["actions"]:
            if not self.allow_actions:
                raise PermissionError(
                    "the console is read-only: start it with --allow-actions to change anything"
                )
            if body.get("confirmed") is not True:
                raise ValueError("an action runs only once confirmed (confirmed: true)")
            return self.actions.run(kind, target, verdict)
        raise LookupError(f"no console route POST /api/{'/'.join(parts)}")

    def _local_get(self, parts: list[str], query: dict[str, str]) -> Any:
        local = self._requests()
        if parts == ["requests"]:
            return local.requests(query)
        if len(parts) == 2 and parts[0] == "requests":
            return local.detail(_seq(parts[1]))
        if len(parts) == 3 and parts[:2] == ["requests", "objects"]:
            return local.timeline(_id(parts[2], OBJECT_ID, "object"))
        if len(parts) == 2 and parts[0] == "outcomes":
            return local.outcomes(_id(parts[1], EVENT_ID, "event"))
        raise LookupError(f"no console route GET /api/{'/'.join(parts)}")

    def _requests(self) -> InboxApi:
        if self.local is None:
            raise LookupError(
                "the requests the webhook answered are shown on the local stack only (make run)"
            )
        return self.local


def _parts(path: str) -> list[str]:
    """``/api/objects/coupon%3ASUMMER`` → ``["objects", "coupon:SUMMER"]``."""
    return [urllib.parse.unquote(part) for part in path.removeprefix("/api/").strip("/").split("/")]


def _json(work: Callable[[], Any]) -> tuple[int, Any]:
    """(200, the answer), or an error's (status, (code, message)): botocore's named as AWS's."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return 200, work()
    except LookupError as error:
        return 404, ("not_found", str(error))
    except PermissionError as error:
        return 403, ("forbidden", str(error))
    except (ValueError, Refused) as error:
        return 400, ("invalid_request", str(error))
    except ClientError as error:  # e.g. AccessDenied: it names the permission the policy lacks
        detail = error.response.get("Error", {})
        return 502, ("aws_error", f"AWS said {detail.get('Code')}: {detail.get('Message')}")
    except BotoCoreError as error:
        return 502, ("aws_unreachable", f"AWS could not be reached: {error}")
    except Exception as error:  # e.g. a publish whose answer was lost: said, and in the audit log
        return 500, ("failed", f"{type(error).__name__}: {error} (see the audit log)")


def _static(method: str, path: str) -> tuple[int, str, bytes]:
    name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
    if method in ("GET", "HEAD") and name == "index.html":
        return 200, "text/html; charset=utf-8", (UI_DIR / name).read_bytes()
    if method in ("GET", "HEAD") and path.startswith("/static/") and name in STATIC:
        return 200, STATIC[name], (UI_DIR / name).read_bytes()
    return 404, JSON, error_body("not_found", f"no console page {method} {path}")


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


def _seq(value: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise ValueError(f"{value[:80]!r} is not a request number")
    return int(value)


def _id(value: str, rule: re.Pattern[str], kind: str) -> str:
    """An id by the function's own rule (``events.EVENT_ID``, ``events.OBJECT_ID``), so every id
    the function keeps (``prod-basic``, ``price_1.2``, ``coupon:SUMMER``) can be looked up."""
    if not is_id(rule, value):
        raise ValueError(f"{value[:80]!r} is not a Stripe {kind} id")
    return value
