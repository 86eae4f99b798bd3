"""The reconciler's walk through Stripe's lists in one run (``reconciler``): the retries, then
each sweep (``reconciler_state.SWEEPS``) from where it stands.

A page is read at most ``max_pages`` times a sweep a run; its events go one by one through the
reconciler's step, and the sweep's cursor moves past each. A page of events too large for one
answer is asked for again with fewer events; a cursor Stripe no longer knows lists the window again
from its second (v1) or from its start (a refused thin page, once a run); a list that says it has
more but does not move is ``events_list_stuck``. While ``MAX_RETRIES`` events are retried, the
sweeps wait (``Backlogged``), their cursors where they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stripe_webhook.adapters.stripe_api import TOO_LARGE
from stripe_webhook.core.events import EVENT_ID, EVENT_TYPE, is_id
from stripe_webhook.errors import StripeApiError
from stripe_webhook.recovery.listed import label, listed_problem

if TYPE_CHECKING:
    from stripe_webhook.recovery.reconciler import Reconciler
    from stripe_webhook.recovery.reconciler_state import State
    from stripe_webhook.recovery.reconciliation import Report

PAGE_SIZE = 100
"""The most events one list call returns (Stripe's limit)."""
RETRIES_PER_RUN = 50
MAX_PAGE_URL_CHARS = 2_048
"""The longest thin ``next_page_url`` kept as a cursor (Stripe's are a few hundred characters)."""
STUCK = "events_list_stuck"


class OutOfBudget(Exception):
    """Too little of the run is left for another call or event: stop, the next run continues."""


class Backlogged(Exception):
    """The retries are full: the sweeps wait, their cursors where they are."""


@dataclass
class Walk:
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
                if state.backlogged:
                    raise Backlogged
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
                if state.backlogged:
                    raise Backlogged
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
        self.reconciler.check_time(self.deadline)
        event_id = label(listed)
        event_type = listed.get("type") if isinstance(listed, dict) else None
        if is_id(EVENT_TYPE, event_type) and not self.subscribed(str(event_type)):
            report.ignored += 1  # thin types: only a thin destination's
            state.retries.pop(event_id, None)
            return
        if logged is not None and event_id in logged:
            report.checked += 1
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
    """The events of a list page (``data``), whatever else it holds; how many it may hold was
    bounded before it was parsed (``stripe_api.MAX_PAGE_VALUES``)."""
    data = page.get("data") if isinstance(page, dict) else None
    return data if isinstance(data, list) else []


def _iso(moment: int) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
