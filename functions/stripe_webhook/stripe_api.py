"""Fetch a thin event's full payload from the Stripe API, for handlers that need more than a reference.

A few lines of stdlib HTTP rather than the ``stripe`` package, which would cost the cold start
far more than this one call needs.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from stripe_webhook.errors import StripeApiError
from stripe_webhook.events import StripeEvent

TIMEOUT_SECONDS = 5.0


class StripeApi:
    def __init__(
        self,
        api_key: Callable[[], str],
        base_url: str = "https://api.stripe.com",
        urlopen: Callable[..., Any] = urllib.request.urlopen,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._urlopen = urlopen

    def full_event(self, event: StripeEvent) -> StripeEvent:
        """The thin event with its ``data`` (``GET /v2/core/events/{id}``) merged into ``data_object``."""
        request = urllib.request.Request(  # noqa: S310 (https in production; the base URL is configuration)
            f"{self._base_url}/v2/core/events/{event.id}",
            headers={"Authorization": f"Bearer {self._api_key()}", "Accept": "application/json"},
        )
        try:
            with self._urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise StripeApiError("stripe_api_failed", f"Stripe answered {error.code} for the event") from None
        except (urllib.error.URLError, OSError, ValueError):
            raise StripeApiError("stripe_api_unreachable", "could not fetch the event from Stripe") from None
        data = body.get("data") if isinstance(body, dict) else None
        merged = {**event.data_object, **(data if isinstance(data, dict) else {})}
        return dataclasses.replace(event, data_object=merged)
