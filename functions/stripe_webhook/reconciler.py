"""The reconciler: what Stripe did not deliver, found in its Events API and processed like a delivery.

Stripe retries a failed live delivery for three days, then gives up; after repeated failures it
disables the endpoint, and events created while an endpoint is disabled are never sent. Every
``ReconcileIntervalMinutes`` the scheduled reconciler function (``app.reconcile``) runs once:

    endpoint health  each endpoint ``ops register`` recorded: enabled, disabled, missing
    window           [watermark - overlap, now - grace]: undelivered events (``delivery_success=false``)
                     created then, newest first, paged with ``starting_after``; the thin events
                     (``GET /v2/core/events``) of the same window when the stack takes them
    each event       the webhook's own pipeline: claim, records, publish once, mark. An event that
                     a delivery already processed is a duplicate; one whose claim a live delivery
                     holds is left to it; one rendered in an API version the handlers do not read
                     is skipped and named; one that fails is retried by later runs, then named
    state            the window, its cursor and the watermark, saved after every page in one item
                     (``ledger``): a run killed mid-way resumes where the last page ended

Events younger than the grace are left to Stripe's own first attempt. A run stops before its
invocation's end leaves too little for one more event (a webhook invocation's whole budget), and
after ``max_pages`` pages; the next run continues. What it did is counted (``observability``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

from stripe_webhook import budget
from stripe_webhook.errors import EventInProgress, RequestRejected, StripeApiError, WebhookError
from stripe_webhook.events import EVENT_ID, compact_json, is_id, parse_event, parse_thin_event
from stripe_webhook.pipeline import EventOutcome, Pipeline
from stripe_webhook.reconciliation import (
    Endpoint,
    Ledger,
    Limits,
    Report,
    State,
    Verdict,
    subscription,
    unreadable_version,
)
from stripe_webhook.stripe_api import MAX_OBJECT_BYTES, MAX_PAGE_BYTES, StripeApi

PAGE_SIZE = 100
"""The most events one list call returns (Stripe's limit)."""
LIST_SECONDS = 15.0
"""What one list call (with its retries on 429 and 5xx) may take."""
RETRIES_PER_RUN = 50


class OutOfBudget(Exception):
    """Too little of the run is left for another call or event: stop, the next run continues."""


class Reconciler:
    def __init__(
        self,
        pipeline: Pipeline,
        stripe: StripeApi,
        ledger: Ledger,
        *,
        handled: Iterable[str],
        api_version: str,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[EventOutcome], None] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._stripe = stripe
        self._ledger = ledger
        self._handled = tuple(handled)
        self._api_version = api_version
        self._limits = limits or Limits()
        self._clock = clock
        self._on_outcome = on_outcome or (lambda _outcome: None)

    def run(self, deadline: float) -> Report:
        """One run, ending well before ``deadline`` (the invocation's)."""
        report = Report()
        begun = self._ledger.begin(self._clock(), self._limits.lease_seconds)
        if begun is None:
            report.busy = True
            return report
        state, token = begun
        endpoints = self._ledger.endpoints()
        subscribed = subscription(endpoints, self._handled)
        try:
            self._check_endpoints(endpoints, state, report, deadline)
            self._retry_failed(state, report, subscribed, deadline)
            first = min((endpoint.created for endpoint in endpoints if endpoint.created), default=None)
            self._work_window(state, token, report, subscribed, deadline, first_endpoint=first)
        except OutOfBudget:
            pass
        except StripeApiError as error:
            report.error = error.code
        finally:
            now = state.last_run = int(self._clock())
            reached = state.watermark if state.watermark is not None else (state.window or (now,))[0]
            report.lag_seconds = now - reached  # a first window still in progress counts from its start
            self._ledger.save(state, token, finished=True)
        return report

    # -- endpoints -----------------------------------------------------------------------------

    def _check_endpoints(
        self, endpoints: list[Endpoint], state: State, report: Report, deadline: float
    ) -> None:
        report.endpoints = len(endpoints)
        state.endpoints = {}
        for endpoint in endpoints:
            status = self._endpoint_status(endpoint, report, deadline)
            state.endpoints[endpoint.id] = status
            if status in ("disabled", "missing"):
                report.disabled_endpoints.append(endpoint.id)

    def _endpoint_status(self, endpoint: Endpoint, report: Report, deadline: float) -> str:
        try:
            body = self._call(endpoint.path(), {}, report, deadline, what="endpoint")
        except StripeApiError as error:
            return "missing" if error.status == 404 else "unknown"
        status = body.get("status") if isinstance(body, dict) else None
        return status if status in ("enabled", "disabled") else "unknown"

    # -- events --------------------------------------------------------------------------------

    def _retry_failed(
        self, state: State, report: Report, subscribed: Callable[[str], bool], deadline: float
    ) -> None:
        """The events earlier runs could not process, fetched by id and tried again."""
        for event_id in list(state.retries)[:RETRIES_PER_RUN]:
            if not is_id(EVENT_ID, event_id):
                state.retries.pop(event_id)
                continue
            try:
                listed = self._call(f"/v1/events/{event_id}", {}, report, deadline, what="event")
            except StripeApiError as error:
                state.failed(report, event_id, error.code)
                continue
            if isinstance(listed, dict):
                self._one(listed, state, report, subscribed, deadline)

    def _work_window(
        self,
        state: State,
        token: str,
        report: Report,
        subscribed: Callable[[str], bool],
        deadline: float,
        *,
        first_endpoint: int | None,
    ) -> None:
        if state.window is None:
            state.window, state.cursor, state.thin_page, state.thin_done = (
                state.next_window(int(self._clock()), self._limits, first_endpoint),
                None,
                None,
                not self._limits.thin,
            )
        since, until = state.window
        more = True
        while more:
            if report.pages >= self._limits.max_pages:
                return
            top = until if state.resume_at is None else state.resume_at
            params = {"delivery_success": "false", "limit": str(PAGE_SIZE), "created[gte]": str(since)}
            params["created[lte]"] = str(top)
            if state.cursor:
                params["starting_after"] = state.cursor
            try:
                page = self._call("/v1/events", params, report, deadline, what="event list", page=True)
            except StripeApiError as error:
                if not state.cursor or error.status not in (400, 404):
                    raise
                # Stripe no longer knows the cursor (it left the 30 days): list again from its
                # second; what comes twice is a duplicate.
                state.cursor, state.resume_at = None, state.cursor_created or until
                continue
            report.pages += 1
            listed = _items(page)
            for item in listed:
                self._one(item, state, report, subscribed, deadline)
                if is_id(EVENT_ID, item.get("id")):
                    state.cursor, state.cursor_created = str(item["id"]), int(item.get("created") or top)
            more = bool(page.get("has_more")) and bool(listed) if isinstance(page, dict) else False
            self._ledger.save(state, token)
        if not state.thin_done:
            self._work_thin(state, token, report, subscribed, deadline)
        state.watermark, state.window, state.cursor, state.thin_page = until, None, None, None
        state.resume_at = None
        report.window_done = True

    def _work_thin(
        self, state: State, token: str, report: Report, subscribed: Callable[[str], bool], deadline: float
    ) -> None:
        """The window's thin events (the v2 list has no delivery filter: every one, most of them
        duplicates at one write each)."""
        assert state.window is not None
        since, until = (_iso(moment) for moment in state.window)
        while not state.thin_done:
            if report.pages >= self._limits.max_pages:
                raise OutOfBudget
            if state.thin_page:
                path, params = state.thin_page, {}
            else:
                path, params = (
                    "/v2/core/events",
                    {"created[gte]": since, "created[lte]": until, "limit": str(PAGE_SIZE)},
                )
            page = self._call(path, params, report, deadline, what="thin event list", page=True)
            report.pages += 1
            listed = _items(page)
            for item in listed:
                self._one(item, state, report, subscribed, deadline, thin=True)
            following = page.get("next_page_url") if isinstance(page, dict) else None
            valid = isinstance(following, str) and following.startswith("/v2/core/events?")
            state.thin_page = following if valid and listed else None
            state.thin_done = state.thin_page is None
            self._ledger.save(state, token)

    def _one(
        self,
        listed: dict[str, Any],
        state: State,
        report: Report,
        subscribed: Callable[[str], bool],
        deadline: float,
        *,
        thin: bool = False,
    ) -> None:
        self._check_time(deadline)
        event_id = str(listed.get("id", ""))
        if not subscribed(str(listed.get("type", ""))):  # thin types: only a thin destination's
            report.ignored += 1
            state.retries.pop(event_id, None)
            return
        if thin:  # the notification as a delivery carries it (the list adds its data)
            notification = {name: value for name, value in listed.items() if name != "data"}
            verdict = self._verdict(lambda: parse_thin_event(compact_json(notification)), deadline)
        else:
            verdict = self.process_listed(listed, deadline=deadline)
        state.settle(verdict, event_id, report)

    def process_listed(self, listed: dict[str, Any], *, deadline: float) -> Verdict:
        """One event as the Events API lists it, through the pipeline (also ``ops backfill``'s step)."""
        reason = unreadable_version(listed.get("api_version"), self._api_version)
        if reason is not None:
            return Verdict("skipped", reason)
        return self._verdict(lambda: parse_event(compact_json(listed)), deadline)

    def _verdict(self, parse: Callable[[], Any], deadline: float) -> Verdict:
        try:
            outcome = self._pipeline.process(parse(), deadline=deadline)
        except EventInProgress:
            return Verdict("in_progress")  # a live delivery holds it: its holder finishes it
        except RequestRejected as error:
            return Verdict("skipped", f"refused by the pipeline: {error.code}")
        except WebhookError as error:
            return Verdict("failed", error.code)
        if outcome.status == "processed":
            self._on_outcome(outcome)
            return Verdict("recovered", outcome=outcome)
        return Verdict("known", outcome=outcome)

    def _check_time(self, deadline: float) -> None:
        if self._clock() + budget.FUNCTION_TIMEOUT_SECONDS > deadline:
            raise OutOfBudget  # one event may take a webhook invocation's whole budget

    def _call(
        self,
        path: str,
        params: dict[str, str],
        report: Report,
        deadline: float,
        *,
        what: str,
        page: bool = False,
    ) -> Any:
        if self._clock() + LIST_SECONDS > deadline:
            raise OutOfBudget
        report.stripe_calls += 1
        return self._stripe.get(
            path,
            params=params,
            deadline=self._clock() + LIST_SECONDS,
            what=what,
            max_bytes=MAX_PAGE_BYTES if page else MAX_OBJECT_BYTES,
        )


def _items(page: Any) -> list[dict[str, Any]]:
    """The events of a list page (``data``), whatever else the answer holds."""
    data = page.get("data") if isinstance(page, dict) else None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _iso(moment: int) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
