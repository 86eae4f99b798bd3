"""An in-memory Stripe API behind the ``stripe`` library's HTTP client interface: no network.

It serves the Stripe-shaped responses the operator commands need: webhook endpoints (create,
list, retrieve, update, delete) and events (list with ``created``, ``delivery_success``,
``types`` and cursor pagination, newest first), v2 event retrieval, and v2 event destinations
(create, list, update: JSON bodies, as the v2 API takes them). The destinations' rules follow
stripe-python 16.1.0's generated ``EventDestinationCreateParams`` (generated from Stripe's
OpenAPI spec; the spec files themselves are too large for the fetched github:stripe/openapi
mirror): ``name``, ``type``, ``event_payload`` and ``enabled_events`` required, the transport's own
block required, ``snapshot_api_version`` refused for thin events, the signing secret returned
only by create and only when ``include`` asks for it, ``webhook_endpoint.url`` only when asked.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

from infra.fixtures.events_api import Listed, list_events


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``enabled_events[0]=a&metadata[stack]=s&created[gte]=1`` → nested dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        target: Any = result
        for part, following in itertools.pairwise(parts):
            target = target.setdefault(part, [] if following.isdigit() or following == "" else {})
            if isinstance(target, list):
                break
        if isinstance(target, list):
            target.append(value)
        else:
            target[parts[-1]] = value
    return result


def _coerce(value: str) -> Any:
    return {"true": True, "false": False}.get(value, value)


class FakeStripe(stripe.HTTPClient):
    name = "fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        """Newest last; ``delivered`` marks whether Stripe delivered it to every endpoint."""
        self.requests: list[tuple[str, str]] = []
        self.destinations: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        """``/v1/customers/cus_…`` → the object a retrieve answers (404 ``resource_missing`` if absent)."""
        self.contexts: dict[str, str] = {}
        """A retrieve's path → the account it was asked in (``Stripe-Account`` or ``Stripe-Context``)."""

    # -- what tests set up --------------------------------------------------------------------

    def add_event(self, event: Mapping[str, Any], delivered: bool = False) -> None:
        self.events.append({"event": dict(event), "delivered": delivered})

    # -- the HTTP client interface --------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: Any = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.requests.append((method.upper(), parts.path))
        given = {name.lower(): value for name, value in (headers or {}).items()}
        if "stripe-account" in given or "stripe-context" in given:
            self.contexts[parts.path] = given.get("stripe-account") or given["stripe-context"]
        if parts.path.startswith("/v2/core/event_destinations"):
            data = post_data.decode() if isinstance(post_data, bytes) else post_data or ""
            body_params = json.loads(data) if data else {}
            include = [value for key, value in query if key.startswith("include")]
            status, body = self._destinations(method.upper(), parts.path, body_params, include)
            return json.dumps(body), status, {"request-id": "req_fake"}
        form = parse_qsl(post_data.decode() if isinstance(post_data, bytes) else post_data or "")
        params = _unflatten(query + form)
        status, body = self._route(method.upper(), parts.path, params)
        return json.dumps(body), status, {"request-id": "req_fake"}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- the API --------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        segments = path.strip("/").split("/")
        if segments[:2] == ["v1", "webhook_endpoints"]:
            return self._endpoints(method, segments[2] if len(segments) > 2 else None, params)
        if segments == ["v1", "events"] and method == "GET":
            return 200, self._list_events(params)
        if segments[:2] == ["v1", "events"] and method == "GET":
            for entry in self.events:
                if entry["event"]["id"] == segments[2]:
                    return 200, entry["event"]
        if method == "GET" and path in self.objects:
            return 200, self.objects[path]
        if method == "GET" and len(segments) == 3 and segments[0] == "v1" and segments[1] != "events":
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such object: '{segments[2]}'",
                }
            }
        if segments[:3] == ["v2", "core", "events"] and method == "GET":
            for entry in self.events:
                if entry["event"]["id"] == segments[3]:
                    return 200, entry["event"]
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method} {path})",
            }
        }

    def _destinations(
        self, method: str, path: str, params: dict[str, Any], include: list[str]
    ) -> tuple[int, dict[str, Any]]:
        def invalid(message: str) -> tuple[int, dict[str, Any]]:
            return 400, {
                "error": {"type": "invalid_request_error", "code": "invalid_parameter", "message": message}
            }

        def shown(destination: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
            shown = {**destination, "webhook_endpoint": None}
            if destination.get("webhook_endpoint"):
                endpoint = destination["webhook_endpoint"]
                shown["webhook_endpoint"] = {
                    "url": endpoint["url"] if "webhook_endpoint.url" in wanted else None,
                    "signing_secret": None,
                }
            return shown

        segments = path.strip("/").split("/")
        if len(segments) == 3 and method == "POST":
            missing = [
                name for name in ("name", "type", "event_payload", "enabled_events") if name not in params
            ]
            if missing:
                return invalid(f"missing required parameter(s): {', '.join(missing)}")
            if params["event_payload"] not in ("snapshot", "thin"):
                return invalid("event_payload must be snapshot or thin")
            if params["event_payload"] == "thin" and "snapshot_api_version" in params:
                return invalid("snapshot_api_version is for snapshot events only")
            if params["type"] not in params:
                return invalid(f"{params['type']} needs its own parameters")
            if params["event_payload"] == "thin" and not all(
                event.startswith(("v1.", "v2.")) for event in params["enabled_events"]
            ):
                return invalid("a thin destination takes thin event types (v1.…, v2.…)")
            destination = {
                "id": "ed_" + secrets.token_hex(12),
                "object": "v2.core.event_destination",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "livemode": False,
                "status": "enabled",
                "status_details": None,
                "description": params.get("description", ""),
                "name": params["name"],
                "type": params["type"],
                "event_payload": params["event_payload"],
                "enabled_events": params["enabled_events"],
                "events_from": params.get("events_from"),
                "snapshot_api_version": params.get("snapshot_api_version"),
                "metadata": params.get("metadata"),
                "amazon_eventbridge": params.get("amazon_eventbridge"),
                "azure_event_grid": None,
                "webhook_endpoint": (
                    {**params["webhook_endpoint"], "signing_secret": "whsec_" + secrets.token_hex(16)}
                    if params["type"] == "webhook_endpoint"
                    else None
                ),
            }
            self.destinations[destination["id"]] = destination
            answer = shown(destination, params.get("include", []))
            if destination["webhook_endpoint"] and "webhook_endpoint.signing_secret" in params.get(
                "include", []
            ):
                answer["webhook_endpoint"]["signing_secret"] = destination["webhook_endpoint"][
                    "signing_secret"
                ]
            return 200, answer
        if len(segments) == 3 and method == "GET":
            data = [shown(destination, include) for destination in self.destinations.values()]
            return 200, {"data": data, "next_page_url": None, "previous_page_url": None}
        destination_id = segments[3] if len(segments) > 3 else ""
        if destination_id not in self.destinations:
            return 404, {
                "error": {"type": "invalid_request_error", "message": f"No such destination {destination_id}"}
            }
        if method == "POST":
            self._change_destination(self.destinations[destination_id], segments[4:], params)
        return 200, shown(self.destinations[destination_id], include)

    @staticmethod
    def _change_destination(destination: dict[str, Any], action: list[str], params: dict[str, Any]) -> None:
        """``POST …/{id}`` updates its fields; ``POST …/{id}/enable`` and ``…/disable`` its status."""
        if action in (["enable"], ["disable"]):
            destination["status"] = f"{action[0]}d"
            return
        for name in ("enabled_events", "description", "metadata", "name"):
            if name in params:
                destination[name] = params[name]

    def _endpoints(
        self, method: str, endpoint_id: str | None, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if endpoint_id is None and method == "POST":
            endpoint = {
                "id": "we_" + secrets.token_hex(12),
                "object": "webhook_endpoint",
                "url": params["url"],
                "enabled_events": params["enabled_events"],
                "api_version": params.get("api_version"),
                "application": "ca_fake" if _coerce(params.get("connect", "false")) else None,
                "created": int(time.time()) + len(self.endpoints),  # seconds; later ones sort later
                "description": params.get("description"),
                "livemode": False,
                "metadata": params.get("metadata", {}),
                "status": "enabled",
            }
            self.endpoints[endpoint["id"]] = endpoint
            return 200, {**endpoint, "secret": "whsec_" + secrets.token_hex(16)}
        if endpoint_id is None:
            data = sorted(self.endpoints.values(), key=lambda endpoint: endpoint["created"], reverse=True)
            return 200, {"object": "list", "url": "/v1/webhook_endpoints", "has_more": False, "data": data}
        if endpoint_id not in self.endpoints:
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"No such webhook endpoint: '{endpoint_id}'",
                }
            }
        if method == "DELETE":
            self.endpoints.pop(endpoint_id)
            return 200, {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}
        if method == "POST":
            self.endpoints[endpoint_id].update(
                {k: v for k, v in params.items() if k in ("enabled_events", "description", "metadata", "url")}
            )
            if "disabled" in params:
                self.endpoints[endpoint_id]["status"] = (
                    "disabled" if _coerce(params["disabled"]) else "enabled"
                )
        return 200, self.endpoints[endpoint_id]

    def _list_events(self, params: dict[str, Any]) -> dict[str, Any]:
        created = params.get("created", {})
        delivery = params.get("delivery_success")
        _status, page = list_events(
            [Listed(entry["event"], entry["delivered"]) for entry in self.events],
            gte=int(created.get("gte", 0)),
            lte=int(created.get("lte", 10**12)),
            delivery_success=None if delivery is None else _coerce(delivery),
            starting_after=params.get("starting_after"),
            limit=int(params.get("limit", 10)),
            types=params.get("types") or (),
        )
        return page
