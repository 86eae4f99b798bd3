"""The reads the function makes from the Stripe API, only when an event needs them.

- ``related_object``: a thin notification's object (``related_object.url``), for a v1 resource
  a handler keeps a record of: the thin path's one extra call.
- ``full_event``: a thin event's full payload, for handlers that need more than a reference.
- ``current_object``: an object's state now, when two events about it cannot be ordered
  (``ordering``): ``GET /v1/<resource>/<id>`` at the stack's API version, on the connected
  account's behalf for Connect events.

A few lines of stdlib HTTP rather than the ``stripe`` package, which would cost the cold start
far more than these calls need.
"""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from stripe_webhook.errors import InvalidPayload, StripeApiError
from stripe_webhook.events import EVENT_ID, OBJECT_ID, StripeEvent, is_id, strict_json
from stripe_webhook.settings import API_VERSION

TIMEOUT_SECONDS = 5.0
OBJECT_TIMEOUT_SECONDS = 2.0
"""A state fetch happens inside the claim window (``budget.CLAIM_WINDOW_SECONDS``)."""
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


class StripeApi:
    def __init__(
        self,
        api_key: Callable[[], str],
        base_url: str = "https://api.stripe.com",
        urlopen: Callable[..., Any] = urllib.request.urlopen,
        *,
        api_version: str = API_VERSION,
    ) -> None:
        self._api_key = api_key
        self.api_version = api_version
        self._base_url = base_url.rstrip("/")
        self._urlopen = urlopen

    def _headers(self, event: StripeEvent) -> dict[str, str]:
        """The pinned version, and whose data it is: a thin event's ``context`` (a connected
        account, an organization path) as ``Stripe-Context``, as Stripe documents for thin events;
        a snapshot Connect event's account as ``Stripe-Account``."""
        headers = {
            "Authorization": f"Bearer {self._api_key()}",
            "Accept": "application/json",
            "Stripe-Version": self.api_version,
        }
        if event.account:
            headers["Stripe-Context" if event.thin else "Stripe-Account"] = event.account
        return headers

    def _get(self, path: str, event: StripeEvent, *, timeout: float, what: str) -> Any:
        """``GET path`` (already quoted) on the event's behalf: its JSON, or ``StripeApiError``."""
        request = urllib.request.Request(f"{self._base_url}{path}", headers=self._headers(event))  # noqa: S310
        try:
            with self._urlopen(request, timeout=timeout) as response:
                return strict_json(response.read())
        except urllib.error.HTTPError as error:
            raise StripeApiError(
                "stripe_api_failed", f"Stripe answered {error.code} for the {what}"
            ) from None
        except InvalidPayload:
            raise StripeApiError("stripe_api_failed", "Stripe's answer is not JSON") from None
        except (urllib.error.URLError, OSError, ValueError):
            raise StripeApiError(
                "stripe_api_unreachable", f"could not fetch the {what} from Stripe"
            ) from None

    def current_object(self, event: StripeEvent) -> dict[str, Any] | None:
        """The current state of the event's object, or None if Stripe has no retrieve path for it."""
        path = RESOURCE_PATHS.get(event.object_type)
        if path is None or event.object_id is None:
            return None
        if not is_id(OBJECT_ID, event.object_id):
            raise InvalidPayload("invalid_field", "the object id is not a valid Stripe id")
        quoted = urllib.parse.quote(event.object_id, safe="")
        body = self._get(f"/v1/{path}/{quoted}", event, timeout=OBJECT_TIMEOUT_SECONDS, what="object")
        if not isinstance(body, dict) or body.get("id") != event.object_id:
            raise StripeApiError("stripe_api_failed", "Stripe answered with another object")
        return body

    def related_object(self, event: StripeEvent) -> dict[str, Any]:
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
        body = self._get(url, event, timeout=TIMEOUT_SECONDS, what="object")
        if not isinstance(body, dict) or body.get("id") != object_id or body.get("object") != object_type:
            raise StripeApiError("stripe_api_mismatch", "Stripe answered with another object than notified")
        return body

    def full_event(self, event: StripeEvent) -> StripeEvent:
        """The thin event with its ``data`` (``GET /v2/core/events/{id}``) merged into ``data_object``.

        The id was checked when the notification was parsed (``events.EVENT_ID``) and is quoted
        anyway: nothing in a request can change the path the API key is sent to. An answer about
        another event (its ``id`` or ``type`` differs from the notification's) is refused with a
        503, so Stripe delivers again, rather than recorded under the notified id."""
        if not is_id(EVENT_ID, event.id):
            raise InvalidPayload("not_a_thin_event", "event id is not a valid Stripe id")
        quoted = urllib.parse.quote(event.id, safe="")
        body = self._get(f"/v2/core/events/{quoted}", event, timeout=TIMEOUT_SECONDS, what="event")
        if not isinstance(body, dict) or body.get("id") != event.id or body.get("type") != event.type:
            raise StripeApiError("stripe_api_mismatch", "Stripe answered with another event than notified")
        data = body.get("data")
        merged = {**event.data_object, **(data if isinstance(data, dict) else {})}
        return dataclasses.replace(event, data_object=merged)
