"""The local stack's reconciler, on a timer, as the deployed stack's schedule runs it.

Every ``--reconcile-every`` seconds (10 by default; 0 turns it off) it calls the reconciler
function's own entry point (``stripe_webhook.app.reconcile``, reloaded with the rest of the
code) against the local Stripe API stand-in, whose Events API lists what ``make trigger
ARGS=--undelivered`` kept. Each event it recovers is printed on the console and shown in the inbox
as a ``RECONCILE`` entry with the verdict ``recovered``: it reached the stack without a delivery.

Locally the grace before an undelivered event is taken is 2 s (``RECONCILE_GRACE_SECONDS``; 300 s
when deployed), so a trigger shows up on the next tick.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from infra.lambda_context import LambdaContext
from infra.local.inbox import Inbox
from stripe_webhook.adapters.bodies import UnreadableBody

if TYPE_CHECKING:
    from stripe_webhook.adapters.queries import TableQueries

DEFAULT_EVERY_SECONDS = 10.0
LOCAL_SETTINGS = {"RECONCILE_GRACE_SECONDS": "2", "RECONCILE_OVERLAP_SECONDS": "300"}
"""The local reconciler's environment: what a developer triggers is recovered on the next tick."""


class ReconcileTimer:
    def __init__(
        self,
        reconcile: Callable[[dict[str, Any], Any], dict[str, Any]],
        inbox: Inbox | None,
        event_body: Callable[[str], str | None],
        every: float = DEFAULT_EVERY_SECONDS,
    ) -> None:
        self._reconcile = reconcile
        self._inbox = inbox
        self._event_body = event_body
        self._every = every
        self._stop = threading.Event()

    def start(self) -> ReconcileTimer:
        threading.Thread(target=self._loop, name="reconciler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.run_once()

    def run_once(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            summary = self._reconcile({}, LambdaContext("stripe-webhooks-reconciler", timeout_seconds=180))
        except Exception as error:  # a bug in the code being edited: say so, keep the timer
            print(f"-- reconciler run failed: {type(error).__name__}: {error}", flush=True)
            return {}
        took = (time.perf_counter() - started) * 1000
        for event_id in summary.get("recovered_ids", []):
            self._show(str(event_id), took)
        for endpoint in summary.get("disabled_endpoints", []):
            print(f"  reconciler: endpoint {endpoint} is disabled", flush=True)
        if summary.get("error"):
            print(f"  reconciler: run failed ({summary['error']}); the next run tries again", flush=True)
        return summary

    def _show(self, event_id: str, took_ms: float) -> None:
        body = self._event_body(event_id) or json.dumps({"id": event_id})
        try:
            event_type = json.loads(body).get("type", "?")
        except ValueError:
            event_type = "?"
        print(
            f"RECONCILE {event_type} {event_id} -> recovered (Stripe's Events API; it was not delivered)",
            flush=True,
        )
        if self._inbox is not None:
            self._inbox.record(
                method="RECONCILE",
                path="/v1/events",
                headers={"Source": "the reconciler: Stripe's Events API listed it as undelivered"},
                body=body.encode(),
                status=200,
                response_body=json.dumps({"status": "recovered", "event_id": event_id}),
                latency_ms=took_ms,
            )


def start_reconciler(
    reconcile: Callable[[dict[str, Any], Any], dict[str, Any]],
    inbox: Inbox | None,
    table: TableQueries,
    every: float,
) -> ReconcileTimer:
    """The timer, its recovered events' bodies read back from the event log for the inbox."""

    def stored_body(event_id: str) -> str | None:
        try:
            logged = table.get_event(event_id)
        except UnreadableBody:
            return None
        payload = logged.get("payload") if logged else None
        return payload if isinstance(payload, str) else None

    return ReconcileTimer(reconcile, inbox, stored_body, every).start()
