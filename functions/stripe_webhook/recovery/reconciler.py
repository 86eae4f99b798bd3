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
import time
from collections.abc import Callable, Iterable
from typing import Any

from stripe_webhook.adapters.stripe_api import MAX_OBJECT_BYTES, MAX_PAGE_BYTES, MAX_PAGE_VALUES, StripeApi
from stripe_webhook.core import budget
from stripe_webhook.core.events import compact_json, parse_event, parse_thin_event
from stripe_webhook.core.pipeline import EventOutcome, Pipeline
from stripe_webhook.errors import EventInProgress, RequestRejected, StorageError, StripeApiError, WebhookError
from stripe_webhook.recovery.ledger import LeaseLost
from stripe_webhook.recovery.listed import listed_problem, other_mode, unreadable_version
from stripe_webhook.recovery.reconciler_state import SWEEPS, State
from stripe_webhook.recovery.reconciliation import Endpoint, Ledger, Limits, Report, Verdict, subscription
from stripe_webhook.recovery.sweeps import Backlogged, OutOfBudget, Walk

LIST_SECONDS = 15.0
"""What one list call (with its retries on 429 and 5xx) may take."""


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
        walk = Walk(self, state, token, report, subscribed, deadline, livemode=mode)
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
