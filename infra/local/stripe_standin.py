"""The local Stripe API stand-in: what the function fetches for a thin notification, and the
Events API the reconciler reads, offline.

``make trigger --thin invoice.paid`` stores the object it announces in the local AWS endpoint's
bucket ``stripe-local-api``, under the object's API path (``v1/invoices/in_…``), then sends the
signed ``v1.invoice.paid`` notification. When the function fetches ``related_object.url``, this
server answers from that bucket, as Stripe's API would (a 404 in Stripe's error shape for an
object it does not hold), and records the fetch for the terminal and the console.

``make trigger ARGS=--undelivered`` stores the event under ``v1/events/<id>`` instead of sending
it, as an event Stripe could not deliver; every snapshot event ``make trigger`` sends is kept too
(``v1/sent/<id>``, as delivered when the webhook answered 2xx, else as undelivered, as Stripe
would count it). ``GET /v1/events`` lists them as Stripe does (``infra.fixtures.events_api``:
newest first, ``delivery_success``, ``created``, ``starting_after``): the local stack's reconciler
recovers the undelivered ones on its timer, and ``ops verify --local`` checks them all against
the log.

It listens on loopback and answers only what an SDK sends (``guard.browser_refusal``: no browser
request, no preflight, no foreign ``Host``): the objects are test-mode customers' data too.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from contract.records import FIXED_BY_PREFIX
from infra.cli import Problem
from infra.fixtures.events_api import Listed, list_events, list_query
from infra.local.guard import HostPolicy, browser_refusal
from stripe_webhook.adapters.bodies import UnreadableBody

BUCKET = "stripe-local-api"
EVENTS_PREFIX = "v1/events/"
SENT_PREFIX = "v1/sent/"
EVENT_LISTS = ("/v1/events", "/v2/core/events")
"""What the reconciler lists: an empty page is not printed (12 lines a minute of nothing)."""
MAX_EVENT_BYTES = 6_291_456
"""The largest body the webhook admits (``MAX_BODY_BYTES``): a larger stored event is skipped unread."""
MAX_LISTED = 1000
"""The most events of each kind (undelivered, sent) the stand-in reads for one list (one S3
listing page each)."""
DEFAULT_PORT = 12111
"""stripe-mock's port, the one Stripe's own tooling uses for a local API."""
API_KEY = "sk_test_local_stand_in"
"""What the function sends the stand-in as its key (it checks only the ``sk_`` form): no key."""


def object_key(url: str) -> str:
    """Where ``trigger`` keeps the object the API path ``url`` names."""
    return url.lstrip("/")


@dataclass(frozen=True)
class Fetch:
    time: float
    path: str
    status: int
    context: str | None


class LocalStripeApi:
    def __init__(
        self,
        s3: Any,
        port: int,
        *,
        latest: Callable[[str], dict[str, Any] | None] = lambda _object_id: None,
        keep: int = 500,
    ) -> None:
        self._s3 = s3
        self._latest = latest
        self.port = port
        self._fetches: deque[Fetch] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStripeApi:
        self._s3.create_bucket(Bucket=BUCKET)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # shutdown() in 50 ms
        threading.Thread(target=serve, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fetches(self, path: str) -> list[Fetch]:
        """The fetches of ``path`` so far, oldest first."""
        with self._lock:
            return [fetch for fetch in self._fetches if fetch.path == path]

    def listed(self) -> list[Listed]:
        """The events ``trigger`` kept, oldest first (an unreadable one is skipped)."""
        found = []
        for prefix, delivered in ((EVENTS_PREFIX, False), (SENT_PREFIX, True)):
            listing = self._s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix, MaxKeys=MAX_LISTED)
            for item in listing.get("Contents", []):
                if int(item.get("Size", 0)) > MAX_EVENT_BYTES:
                    continue  # no event Stripe sends is this large: not read at all
                try:
                    event = json.loads(self._s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
                except (ValueError, RecursionError):
                    continue
                if isinstance(event, dict) and isinstance(event.get("created"), int) and "id" in event:
                    found.append(Listed(event, delivered=delivered))
        return sorted(found, key=lambda listed: (listed.event["created"], listed.event["id"]))

    def answer(self, path: str, query: str = "") -> tuple[int, dict[str, Any]]:
        """What Stripe's API would answer for ``GET path``: the stored object, or its 404."""
        from botocore.exceptions import ClientError

        if path == "/v1/events":
            return list_events(self.listed(), **list_query(dict(parse_qsl(query))))
        if path == "/v2/core/events":  # thin events the stand-in was never asked to keep: none
            return 200, {"data": [], "next_page_url": None, "previous_page_url": None}
        try:
            stored = self._s3.get_object(Bucket=BUCKET, Key=object_key(path))["Body"].read()
        except ClientError:
            latest = self._latest(path.rstrip("/").rsplit("/", 1)[-1])
            if latest is not None:
                return 200, latest
            message = (
                f"No such object: '{path.rsplit('/', 1)[-1]}' (the local stand-in holds what"
                " make trigger --thin sent)"
            )
            return 404, {
                "error": {"type": "invalid_request_error", "code": "resource_missing", "message": message}
            }
        return 200, json.loads(stored)

    def _record(self, fetch: Fetch, *, say: bool = True) -> None:
        with self._lock:
            self._fetches.append(fetch)
        if say:
            print(f"  fetched {fetch.path}  {fetch.status}  (local Stripe API)", flush=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in, policy = self, HostPolicy.of(self.port)

        class Handler(BaseHTTPRequestHandler):
            server_version = "stripe-local-api"

            def do_GET(self) -> None:
                if self._refused():
                    return
                path, _, query = self.path.partition("?")
                try:
                    status, body = stand_in.answer(path, query)
                except ValueError:  # a query no Stripe client sends (limit=abc)
                    status, body = 400, {"error": {"type": "invalid_request_error", "message": "bad query"}}
                # recorded (and said) before it is answered: whoever got the answer finds the
                # fetch; the reconciler's look every few seconds is said only when it finds something
                idle = status == 200 and path in EVENT_LISTS and not body.get("data")
                fetch = Fetch(time.time(), path, status, self.headers.get("Stripe-Context"))
                stand_in._record(fetch, say=not idle)
                self._json(status, body)

            def do_OPTIONS(self) -> None:
                self._refused()

            def do_POST(self) -> None:
                if not self._refused():
                    self._json(
                        405, {"error": {"type": "invalid_request_error", "message": "read-only stand-in"}}
                    )

            def _refused(self) -> bool:
                """Browsers, preflights and foreign Hosts get a 403 (``guard.browser_refusal``)."""
                refusal = browser_refusal(self.command, dict(self.headers.items()), policy)
                if refusal is not None:
                    self._json(403, {"error": {"type": "invalid_request_error", "message": refusal}})
                return refusal is not None

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def use_stripe_standin(base_url: str) -> bool:
    """Send the function's Stripe API reads to the local stand-in, unless you set your own
    (``STRIPE_API_BASE``/``STRIPE_API_KEY``: a test-mode key fetches from your account instead)."""
    if os.environ.get("STRIPE_API_BASE") or os.environ.get("STRIPE_API_KEY"):
        return False
    os.environ.update({"STRIPE_API_BASE": base_url, "STRIPE_API_KEY": API_KEY})
    return True


def latest_object(queries: Any) -> Callable[[str], dict[str, Any] | None]:
    """An object as the stack last stored it: its record's last event's ``data.object``."""

    def latest(object_id: str) -> dict[str, Any] | None:
        record = queries.get_record(object_id)
        event_id = record.get("last_event_id") if record else None
        if isinstance(event_id, str) and event_id.startswith(FIXED_BY_PREFIX):  # ops verify --records --fix's
            event_id = queries.newest_event_id(object_id)  # snapshot: the object as last delivered
        try:
            stored = queries.get_event(event_id) if isinstance(event_id, str) else None
        except UnreadableBody:
            return None  # as if unknown: Stripe's own copy is what a fetch would get
        if stored is None or "payload" not in stored:  # no body until the event is marked
            return None
        obj = json.loads(stored["payload"]).get("data", {}).get("object")
        return obj if isinstance(obj, dict) and obj.get("id") == object_id else None

    return latest


def keep_undelivered(s3: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep snapshot events as ones Stripe could not deliver: what ``GET /v1/events`` lists."""
    for event in events:
        if event.get("object") != "event":
            raise Problem("--undelivered takes snapshot events (the v1 Events API lists them), not --thin")
        s3.put_object(Bucket=BUCKET, Key=f"{EVENTS_PREFIX}{event['id']}", Body=json.dumps(event).encode())
    return events


def keep_sent(s3: Any, event: dict[str, Any], *, delivered: bool) -> None:
    """Keep a snapshot event ``trigger`` sent as Stripe's Events API would hold it: delivered (the
    webhook answered 2xx) or not (the reconciler recovers it, as from Stripe)."""
    if event.get("object") == "event":
        prefix = SENT_PREFIX if delivered else EVENTS_PREFIX
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{event['id']}", Body=json.dumps(event).encode())


def store_undelivered(events: list[dict[str, Any]], aws_endpoint: str) -> int:
    """``trigger --undelivered``: keep the events in the stand-in as undelivered, and say so."""
    from infra.local.connect import START_HINT, check_reachable, client
    from infra.local.views import count

    check_reachable(aws_endpoint, "local AWS endpoint", START_HINT)
    for event in keep_undelivered(client("s3", aws_endpoint), events):
        print(f"-> {event['type']} {event['id']}: not delivered (Stripe's Events API lists it)")
    print(f"kept {count(len(events), 'event')} as undelivered: {when_recovered(aws_endpoint)}")
    return 0


def when_recovered(aws_endpoint: str) -> str:
    """When the stack at ``aws_endpoint`` recovers what ``--undelivered`` kept, as it was started."""
    from infra.local.state import read_state

    try:
        state = read_state()
    except Problem:  # a file a stopped stack left: removed, and nothing runs to recover them
        state = None
    every = state.reconcile_every if state and state.aws_endpoint == aws_endpoint else None
    if every == 0:
        return (
            "the running stack's reconciler is off (--reconcile-every 0 or --aws-only); start it"
            ' with make run (or make run ARGS="--reconcile-every 10") to recover them'
        )
    within = f"within {every:g} s" if every else "on its next run (every 10 s by default)"
    return f"the local stack's reconciler recovers them {within}; watch the console's Requests tab"


def sent_bucket(aws_endpoint: str) -> Any:
    """The stand-in's bucket, where ``trigger`` keeps what it sends for the Events API
    (``ops verify --local``), or None when there is no stand-in (``make run --aws-only``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.local.connect import check_reachable, client

    try:
        check_reachable(aws_endpoint, "local AWS endpoint", "")
        s3 = client("s3", aws_endpoint)
        s3.head_bucket(Bucket=BUCKET)
    except (Problem, ClientError, BotoCoreError):
        return None
    return s3
