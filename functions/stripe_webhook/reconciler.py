"""The reconciler: what Stripe did not deliver, found in its Events API and processed like a delivery.

Stripe retries a failed live delivery for three days, then gives up; after repeated failures it
disables the endpoint, and events created while an endpoint is disabled are never sent. Every
``ReconcileIntervalMinutes`` the scheduled reconciler function (``app.reconcile``) runs once:

    mode             the Stripe key's mode must be the stack's (``StripeMode``), or nothing runs
    endpoint health  each endpoint ``ops register`` recorded: enabled, disabled, missing; one found
                     disabled or missing opens a gap, which the complete sweep lists in full
    retries          the events earlier runs failed, fetched by id (at most ``MAX_RETRIES`` kept;
                     while that is full the sweeps wait where they are)
    sweeps           ``reconciliation.SWEEPS``: undelivered events, every event (a gap, and daily),
                     thin events; each with its own window and cursor, so one Stripe refuses never
                     holds the others back
    each event       checked first (``listed_problem``: a malformed one is named and skipped), then
                     the webhook's own pipeline: claim, records, publish once, mark. An event a
                     delivery already processed is a duplicate; one whose claim a live delivery
                     holds is left to it; one of the other mode, or rendered in an API version the
                     handlers do not read, is skipped and named; one that fails is retried by
                     later runs, then named
    state            saved after every page in one bounded item (``ledger``): a run killed mid-way
                     resumes where the last page ended; a run that cannot save gives its lease back

Events younger than the grace are left to Stripe's own first attempt. A run stops before its
invocation's end leaves too little for one more event (a webhook invocation's whole budget), and
each sweep after ``max_pages`` pages; the next run continues. What it did is counted
(``observability``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stripe_webhook import budget
from stripe_webhook.errors import EventInProgress, RequestRejected, StorageError, StripeApiError, WebhookError
from stripe_webhook.events import EVENT_ID, EVENT_TYPE, compact_json, is_id, parse_event, parse_thin_event
from stripe_webhook.ledger import LeaseLost
from stripe_webhook.pipeline import EventOutcome, Pipeline
from stripe_webhook.reconciliation import (
    SWEEPS,
    Endpoint,
    Ledger,
    Limits,
    Report,
    State,
    Verdict,
    label,
    listed_problem,
    other_mode,
    subscription,
    unreadable_version,
)
from stripe_webhook.stripe_api import MAX_OBJECT_BYTES, MAX_PAGE_BYTES, MAX_PAGE_VALUES, TOO_LARGE, StripeApi

PAGE_SIZE = 100
"""The most events one list call returns (Stripe's limit)."""
LIST_SECONDS = 15.0
"""What one list call (with its retries on 429 and 5xx) may take."""
RETRIES_PER_RUN = 50
MAX_PAGE_URL_CHARS = 2_048
"""The longest thin ``next_page_url`` kept as a cursor (Stripe's are a few hundred characters)."""
STUCK = "events_list_stuck"


class OutOfBudget(Exception):
    """Too little of the run is left for another call or event: stop, the next run continues."""


class Backlogged(Exception):
    """The retries are full: the sweeps wait, their cursors where they are."""


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
        livemode: bool | None = None,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[EventOutcome], None] | None = None,
    ) -> None:
        """``livemode``: the stack's mode (``StripeMode``); None follows the key's (local runs)."""
        self._pipeline = pipeline
        self._stripe = stripe
        self._ledger = ledger
        self._handled = tuple(handled)
        self._api_version = api_version
        self._limits = limits or Limits()
        self._livemode = livemode
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
        lost = False
        try:
            self._work(state, token, report, deadline)
        except OutOfBudget:
            pass
        except LeaseLost as error:
            report.error, lost = error.code, True  # the successor's state is not ours to write
        except StorageError as error:
            report.error = error.code
        finally:
            if not lost:
                self._finish(state, token, report)
        return report

    def _work(self, state: State, token: str, report: Report, deadline: float) -> None:
        key_livemode = self._stripe.key_livemode()
        if self._livemode is not None and key_livemode is not None and key_livemode != self._livemode:
            report.error = "api_key_mode_mismatch"  # its events are another mode's: none is taken
            return
        mode = self._livemode if self._livemode is not None else key_livemode
        endpoints = self._ledger.endpoints()
        subscribed = subscription(endpoints, self._handled)
        now = int(self._clock())
        self._check_endpoints(endpoints, state, report, deadline)
        state.track_gap(now, bool(report.disabled_endpoints))
        walk = _Walk(self, state, token, report, subscribed, deadline, livemode=mode)
        walk.retry_failed()
        first = min((endpoint.created for endpoint in endpoints if endpoint.created), default=None)
        for name in SWEEPS:
            try:
                walk.sweep(name, now, first)
            except Backlogged:
                report.backlogged = True
                return

    def _finish(self, state: State, token: str, report: Report) -> None:
        """Save the state and give the lease back; a state that cannot be saved still gives the
        lease back (so the next run is not locked out for the lease's length) and says so."""
        now = state.last_run = int(self._clock())
        undelivered = state.sweeps["undelivered"]
        reached = (
            undelivered.watermark if undelivered.watermark is not None else (undelivered.window or (now,))[0]
        )
        report.lag_seconds = now - reached  # a first window still in progress counts from its start
        try:
            self._ledger.save(state, token, finished=True)
        except LeaseLost as error:
            report.error = error.code
        except StorageError:
            report.error = "state_not_saved"
            with contextlib.suppress(StorageError):
                self._ledger.release(token)

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
            body = self.call(endpoint.path(), {}, report, deadline, what="endpoint")
        except StripeApiError as error:
            return "missing" if error.status == 404 else "unknown"
        status = body.get("status") if isinstance(body, dict) else None
        return status if status in ("enabled", "disabled") else "unknown"

    # -- one event -----------------------------------------------------------------------------

    def process_listed(
        self, listed: dict[str, Any], *, deadline: float, livemode: bool | None = None, thin: bool = False
    ) -> Verdict:
        """One event as the Events API lists it, through every guard and the pipeline: the one
        step of the reconciler and ``ops backfill``. ``livemode``: the stack's mode, when the
        reconciler was not told it."""
        reason = self.refusal(listed, livemode=livemode, thin=thin)
        if reason is not None:
            return Verdict("skipped", reason)
        if thin:  # the notification as a delivery carries it (the list adds its data)
            notification = {name: value for name, value in listed.items() if name != "data"}
            return self._verdict(lambda: parse_thin_event(compact_json(notification)), deadline)
        return self._verdict(lambda: parse_event(compact_json(listed)), deadline)

    def refusal(self, listed: Any, *, livemode: bool | None = None, thin: bool = False) -> str | None:
        """Why a listed event is not processed (a sentence), or None: malformed, of the other
        mode than the stack's, or rendered in an API version the handlers do not read."""
        if not isinstance(listed, dict):
            return "not processed: it is not a JSON object"
        problem = listed_problem(listed, thin=thin)
        if problem is not None:
            return f"not processed: {problem}"
        reason = other_mode(listed, self._livemode if self._livemode is not None else livemode)
        if reason is None and not thin:
            reason = unreadable_version(listed.get("api_version"), self._api_version)
        return reason

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

    def check_time(self, deadline: float) -> None:
        if self._clock() + budget.FUNCTION_TIMEOUT_SECONDS > deadline:
            raise OutOfBudget  # one event may take a webhook invocation's whole budget

    def call(
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
            max_values=MAX_PAGE_VALUES if page else None,
        )

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def ledger(self) -> Ledger:
        return self._ledger


@dataclass
class _Walk:
    """One run's walk through the retries and the sweeps, on one state."""

    reconciler: Reconciler
    state: State
    token: str
    report: Report
    subscribed: Callable[[str], bool]
    deadline: float
    livemode: bool | None

    def retry_failed(self) -> None:
        """The events earlier runs could not process, fetched by id and tried again."""
        state, report = self.state, self.report
        for event_id in list(state.retries)[:RETRIES_PER_RUN]:
            if not is_id(EVENT_ID, event_id):
                state.retries.pop(event_id)
                continue
            try:
                listed = self.reconciler.call(
                    f"/v1/events/{event_id}", {}, report, self.deadline, what="event"
                )
            except StripeApiError as error:
                state.failed(report, event_id, error.code)
                continue
            if isinstance(listed, dict) and listed.get("id") == event_id:
                self.one(listed)
            else:
                state.failed(report, event_id, "stripe_api_mismatch")

    def sweep(self, name: str, now: int, first_endpoint: int | None) -> None:
        """Walk sweep ``name`` on from where it stands; a Stripe refusal stops it alone."""
        state, report, limits = self.state, self.report, self.reconciler.limits
        sweep = state.sweeps[name]
        if name == "thin" and not limits.thin:
            return
        if sweep.window is None:
            window = (
                state.complete_window(now, limits)
                if name == "complete"
                else state.next_window(sweep, now, limits, first_endpoint)
            )
            if window is None:
                return
            sweep.begin(window)
        try:
            done = self._thin() if name == "thin" else self._v1(name)
        except StripeApiError as error:
            report.sweep_errors[name] = error.code
            sweep.failing_runs += 1
            if name == "undelivered":
                report.error = error.code
            return
        sweep.failing_runs = 0
        if not done:
            return
        sweep.finish()
        if name == "undelivered":
            report.window_done = True
        elif name == "complete":
            state.last_complete = now

    def _v1(self, name: str) -> bool:
        """Sweep ``name``'s window from its cursor; True when the window is done."""
        state, report = self.state, self.report
        sweep = state.sweeps[name]
        assert sweep.window is not None
        since, until = sweep.window
        complete = name == "complete"
        pages, limit = 0, PAGE_SIZE
        while pages < self.reconciler.limits.max_pages:
            params = {"limit": str(limit), "created[gte]": str(since)}
            params["created[lte]"] = str(until if sweep.resume_at is None else sweep.resume_at)
            if not complete:
                params["delivery_success"] = "false"
            if sweep.cursor:
                params["starting_after"] = sweep.cursor
            try:
                page = self.reconciler.call(
                    "/v1/events", params, report, self.deadline, what="event list", page=True
                )
            except StripeApiError as error:
                if error.code == TOO_LARGE and limit > 1:
                    limit = max(1, limit // 10)  # a page of large events: ask for fewer at a time
                    continue
                if not sweep.cursor or error.status not in (400, 404):
                    raise
                # Stripe no longer knows the cursor (it left the 30 days): list again from its
                # second; what comes twice is a duplicate.
                sweep.cursor, sweep.resume_at = None, sweep.cursor_created or until
                continue
            pages += 1
            report.pages += 1
            listed = _items(page)
            before = sweep.cursor
            logged = self._logged(listed) if complete else None
            for item in listed:
                self.one(item, logged=logged)
                if isinstance(item, dict) and listed_problem(item) is None:
                    sweep.cursor, sweep.cursor_created = str(item["id"]), int(item["created"])
            self.reconciler.ledger.save(state, self.token)
            if not (isinstance(page, dict) and page.get("has_more") is True):
                return True
            if sweep.cursor == before:
                raise StripeApiError(
                    STUCK, "Stripe's event list has more, but its page moved the cursor nowhere"
                )
        return False

    def _thin(self) -> bool:
        """The thin sweep's window (the v2 list has no delivery filter: every one, most of them
        duplicates at one write each); True when it is done. A saved page Stripe refuses (400,
        404) lists the window again from its start, once a run."""
        state, report = self.state, self.report
        sweep = state.sweeps["thin"]
        assert sweep.window is not None
        since, until = (_iso(moment) for moment in sweep.window)
        pages, restarted = 0, False
        while pages < self.reconciler.limits.max_pages:
            if sweep.cursor:
                path, params = sweep.cursor, {}
            else:
                path = "/v2/core/events"
                params = {"created[gte]": since, "created[lte]": until, "limit": str(PAGE_SIZE)}
            try:
                page = self.reconciler.call(
                    path, params, report, self.deadline, what="thin event list", page=True
                )
            except StripeApiError as error:
                if not sweep.cursor or error.status not in (400, 404) or restarted:
                    raise
                sweep.cursor, restarted = None, True
                continue
            pages += 1
            report.pages += 1
            listed = _items(page)
            for item in listed:
                self.one(item, thin=True)
            following = page.get("next_page_url") if isinstance(page, dict) else None
            valid = (
                isinstance(following, str)
                and following.startswith("/v2/core/events?")
                and len(following) <= MAX_PAGE_URL_CHARS
            )
            if not (valid and listed):
                return True
            if following == path:
                raise StripeApiError(STUCK, "Stripe's thin event list gave the same page as its next")
            sweep.cursor = following
            self.reconciler.ledger.save(state, self.token)
        return False

    def one(self, listed: Any, *, thin: bool = False, logged: set[str] | None = None) -> None:
        """One listed event: skipped if no endpoint of the stack subscribes to its type, counted
        known if the complete sweep found it published, else through ``process_listed``."""
        state, report = self.state, self.report
        if state.backlogged:
            raise Backlogged
        self.reconciler.check_time(self.deadline)
        event_id = label(listed)
        event_type = listed.get("type") if isinstance(listed, dict) else None
        if is_id(EVENT_TYPE, event_type) and not self.subscribed(str(event_type)):
            report.ignored += 1  # thin types: only a thin destination's
            state.retries.pop(event_id, None)
            return
        if logged is not None and event_id in logged:
            report.known += 1
            state.retries.pop(event_id, None)
            return
        verdict = self.reconciler.process_listed(
            listed, deadline=self.deadline, livemode=self.livemode, thin=thin
        )
        if logged is not None and verdict.kind == "recovered":
            report.missing.append(event_id)
        state.settle(verdict, event_id, report)

    def _logged(self, listed: list[Any]) -> set[str]:
        """Which of a page's events the log holds as published (one batched read)."""
        wanted = [
            str(item["id"]) for item in listed if isinstance(item, dict) and is_id(EVENT_ID, item.get("id"))
        ]
        return self.reconciler.ledger.logged(wanted) if wanted else set()


def _items(page: Any) -> list[Any]:
    """The events of a list page (``data``), at most a page's worth, whatever else it holds."""
    data = page.get("data") if isinstance(page, dict) else None
    return data[:PAGE_SIZE] if isinstance(data, list) else []


def _iso(moment: int) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
