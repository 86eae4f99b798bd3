"""The reads the function and the reconciler make from the Stripe API, only when they need them.

- ``related_object``: a thin notification's object (``related_object.url``), for a v1 resource
  a handler keeps a record of: the thin path's one extra call.
- ``full_event``: a thin event's full payload, for handlers that need more than a reference.
- ``current_object``: an object's state now, when two events about it cannot be ordered
  (``ordering``), or when Stripe reports that it never generated an event about it
  (``health``): ``GET /v1/<resource>/<id>`` at the stack's API version, on the connected
  account's behalf for Connect events.
- ``get``: any other read (the reconciler's event lists, an endpoint's status), retried on 429
  and 5xx while its deadline allows.

Every call has an overall deadline (never later than the invocation's) and a cap on the bytes it
reads: a socket timeout alone is per read, so a body trickled a byte at a time would keep a call
open long past it. A watchdog shuts the connection at the deadline (``http_get``).

A few lines of stdlib HTTP rather than the ``stripe`` package, which would cost the cold start
far more than these calls need.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stripe_webhook.core.events import EVENT_ID, OBJECT_ID, StripeEvent, is_id, strict_json
from stripe_webhook.errors import InvalidPayload, StripeApiError
from stripe_webhook.settings import API_VERSION, key_livemode

TIMEOUT_SECONDS = 5.0
"""The longest one fetch on a webhook's path may take, start to last byte."""
OBJECT_TIMEOUT_SECONDS = 2.0
"""A state fetch happens inside the claim window (``budget.CLAIM_WINDOW_SECONDS``)."""
RESPONSE_MARGIN_SECONDS = 1.0
"""A fetch ends this long before the invocation's deadline, so the function still answers itself."""
MAX_OBJECT_BYTES = 2 * 1024 * 1024
"""The most a fetch of one object or event reads; Stripe's objects are far smaller."""
MAX_PAGE_BYTES = 16 * 1024 * 1024
"""The most a list page reads (100 events of up to ~160 KB each)."""
MAX_PAGE_VALUES = MAX_PAGE_BYTES // 16
"""The most JSON values (counted from its ``{``, ``[`` and ``,`` bytes) a page may hold before
it is parsed: Stripe's compact JSON runs about 20 bytes a value, while a page of ``{}`` items
(3 bytes each) would parse into millions of objects (a 16 MiB one peaked at 494 MiB)."""
TOO_LARGE = "stripe_answer_too_large"
"""The code of an answer larger than its cap: refused unread, never retried (the reconciler asks
for fewer events a page)."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_PAUSE_SECONDS = 8.0
RESOURCE_PATHS = {
    "charge": "charges",
    "checkout.session": "checkout/sessions",
    "customer": "customers",
    "dispute": "disputes",
    "invoice": "invoices",
    "invoice_payment": "invoice_payments",
    "payment_intent": "payment_intents",
    "payment_method": "payment_methods",
    "payout": "payouts",
    "price": "prices",
    "product": "products",
    "refund": "refunds",
    "subscription": "subscriptions",
    "transfer": "transfers",
}
"""``object`` value → its retrieve path under ``/v1``."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: float | None = None
    """Seconds from ``Retry-After``, when Stripe sent one."""


Transport = Callable[[str, Mapping[str, str], float, int], Answer]
"""``(url, headers, deadline, max_bytes)`` → the answer; ``OSError`` when none came in time."""


class TooLarge(OSError):
    """The answer is larger than the call's cap: not read."""


def _shut(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):  # already closed: nothing to cut
            sock.shutdown(socket.SHUT_RDWR)


def http_get(url: str, headers: Mapping[str, str], deadline: float, max_bytes: int) -> Answer:
    """``GET url`` that ends by ``deadline`` however the server trickles its answer, and reads at
    most ``max_bytes`` of body (a larger declared or sent body is refused, not read)."""
    remaining = deadline - time.time()
    if remaining <= 0:
        raise TimeoutError("no time left for the call")
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=remaining)
    opened: list[socket.socket] = []
    watchdog = threading.Timer(remaining, _shut, (opened,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        if connection.sock is not None:
            opened.append(connection.sock)  # the response keeps reading it after the connection lets go
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=dict(headers))
        response = connection.getresponse()
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge("the answer is larger than the cap")
        body = response.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise TooLarge("the answer is larger than the cap")
        retry_after = response.getheader("Retry-After")
    except (http.client.HTTPException, ValueError) as error:
        raise OSError("no readable answer") from error
    finally:
        watchdog.cancel()
        connection.close()
        for sock in opened:
            sock.close()
    if time.time() > deadline:  # the watchdog cut it short: whatever was read is not the answer
        raise TimeoutError("the call ran past its deadline")
    pause = float(retry_after) if retry_after and retry_after.isdigit() else None
    return Answer(response.status, body, pause)


def _values(body: bytes) -> int:
    """An upper bound of the JSON values in ``body`` without parsing it (three C-speed scans)."""
    return body.count(b",") + body.count(b"{") + body.count(b"[")


class StripeApi:
    def __init__(
        self,
        api_key: Callable[[], str],
        base_url: str = "https://api.stripe.com",
        transport: Transport = http_get,
        *,
        api_version: str = API_VERSION,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.api_version = api_version
        self._base_url = base_url.rstrip("/")
        self._transport = transport
        self._clock = clock
        self._sleep = sleep

    def _headers(self, account: str | None, *, thin: bool) -> dict[str, str]:
        """The pinned version, and whose data it is: a thin event's ``context`` (a connected
        account, an organization path) as ``Stripe-Context``, as Stripe documents for thin events;
        a snapshot Connect event's account as ``Stripe-Account``."""
        headers = {
            "Authorization": f"Bearer {self._api_key()}",
            "Accept": "application/json",
            "Stripe-Version": self.api_version,
            "User-Agent": "stripe-webhooks-aws",
        }
        if account:
            headers["Stripe-Context" if thin else "Stripe-Account"] = account
        return headers

    def key_livemode(self) -> bool | None:
        """The key's mode (``settings.key_livemode``)."""
        return key_livemode(self._api_key())

    def _deadline(self, timeout: float, deadline: float | None) -> float:
        own = self._clock() + timeout
        return own if deadline is None else min(own, deadline - RESPONSE_MARGIN_SECONDS)

    def get(
        self,
        path: str,
        *,
        deadline: float,
        params: Mapping[str, str] | None = None,
        account: str | None = None,
        thin: bool = False,
        what: str = "answer",
        max_bytes: int = MAX_OBJECT_BYTES,
        max_values: int | None = None,
        retry: bool = True,
    ) -> Any:
        """``GET path`` (already quoted): its JSON, or ``StripeApiError``. With ``retry``, a 429 or
        5xx (or no answer) is tried again after a jittered pause while ``deadline`` allows. An
        answer over ``max_bytes``, or over ``max_values`` values, is ``TOO_LARGE``, unread."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self._base_url}{path}{query}"
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self._transport(url, self._headers(account, thin=thin), deadline, max_bytes)
            except TooLarge:
                raise StripeApiError(TOO_LARGE, f"Stripe's {what} is larger than {max_bytes} bytes") from None
            except OSError:
                answer = None
            if answer is not None and answer.status < 300:
                if max_values is not None and _values(answer.body) > max_values:
                    raise StripeApiError(TOO_LARGE, f"Stripe's {what} holds more than {max_values} values")
                try:
                    return strict_json(answer.body)
                except InvalidPayload:
                    raise StripeApiError("stripe_api_failed", "Stripe's answer is not JSON") from None
            if answer is not None and answer.status not in RETRY_STATUSES:
                raise StripeApiError(
                    "stripe_api_failed", f"Stripe answered {answer.status} for the {what}", answer.status
                )
            pause = min(MAX_RETRY_PAUSE_SECONDS, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311
            if answer is not None and answer.retry_after is not None:
                pause = max(pause, answer.retry_after)
            if not retry or self._clock() + pause >= deadline - RESPONSE_MARGIN_SECONDS:
                if answer is None:
                    raise StripeApiError("stripe_api_unreachable", f"could not fetch the {what} from Stripe")
                raise StripeApiError(
                    "stripe_api_failed", f"Stripe answered {answer.status} for the {what}", answer.status
                )
            self._sleep(pause)

    def _event_get(self, path: str, event: StripeEvent, timeout: float, deadline: float | None) -> Any:
        return self.get(
            path,
            deadline=self._deadline(timeout, deadline),
            account=event.account,
            thin=event.thin,
            what="object" if path.startswith("/v1/") else "event",
            retry=False,
        )

    def current_object(self, event: StripeEvent, deadline: float | None = None) -> dict[str, Any] | None:
        """The current state of the event's object, or None if Stripe has no retrieve path for it."""
        path = RESOURCE_PATHS.get(event.object_type)
        if path is None or event.object_id is None:
            return None
        if not is_id(OBJECT_ID, event.object_id):
            raise InvalidPayload("invalid_field", "the object id is not a valid Stripe id")
        quoted = urllib.parse.quote(event.object_id, safe="")
        body = self._event_get(f"/v1/{path}/{quoted}", event, OBJECT_TIMEOUT_SECONDS, deadline)
        if not isinstance(body, dict) or body.get("id") != event.object_id:
            raise StripeApiError("stripe_api_failed", "Stripe answered with another object")
        return body

    def related_object(self, event: StripeEvent, deadline: float | None = None) -> dict[str, Any]:
        """The object a thin notification names, as Stripe serves it now.

        The URL comes from the notification (signed, so Stripe's), and still has to be the
        object's own: ``/v1/<the resource's path>/<its id>``, the id URL-quoted. Anything else is a
        400, as no retry can make it right. An answer about another object is a 503
        (``stripe_api_mismatch``), so Stripe delivers again."""
        object_id, object_type = event.object_id, event.object_type
        path = RESOURCE_PATHS.get(object_type)
        if object_id is None or path is None or not is_id(OBJECT_ID, object_id):
            raise InvalidPayload("not_a_thin_event", f"no v1 retrieve path for a {object_type} object")
        url = f"/v1/{path}/{urllib.parse.quote(object_id, safe='')}"
        if event.data_object.get("url") not in (None, url):
            raise InvalidPayload("not_a_thin_event", "related_object.url is not the object's own /v1 path")
        body = self._event_get(url, event, TIMEOUT_SECONDS, deadline)
        if not isinstance(body, dict) or body.get("id") != object_id or body.get("object") != object_type:
            raise StripeApiError("stripe_api_mismatch", "Stripe answered with another object than notified")
        return body

    def full_event(self, event: StripeEvent, deadline: float | None = None) -> StripeEvent:
        """The thin event with its ``data`` (``GET /v2/core/events/{id}``) merged into ``data_object``.

        The id was checked when the notification was parsed (``events.EVENT_ID``) and is quoted
        anyway: nothing in a request can change the path the API key is sent to. An answer about
        another event (its ``id`` or ``type`` differs from the notification's) is refused with a
        503, so Stripe delivers again, rather than recorded under the notified id."""
        if not is_id(EVENT_ID, event.id):
            raise InvalidPayload("not_a_thin_event", "event id is not a valid Stripe id")
        quoted = urllib.parse.quote(event.id, safe="")
        body = self._event_get(f"/v2/core/events/{quoted}", event, TIMEOUT_SECONDS, deadline)
        if not isinstance(body, dict) or body.get("id") != event.id or body.get("type") != event.type:
            raise StripeApiError("stripe_api_mismatch", "Stripe answered with another event than notified")
        data = body.get("data")
        merged = {**event.data_object, **(data if isinstance(data, dict) else {})}
        return dataclasses.replace(event, data_object=merged)
