"""``backfill``: feed events Stripe has (Events API, 30 days) through the function's own pipeline.

The deployed stack's reconciler (``stripe_webhook.recovery.reconciler``) does this by itself every few
minutes from its watermark on; ``backfill`` is for history before it (a stack that ran without a
Stripe key, or events older than its first run), from an operator's laptop. Each event goes
through the reconciler's own step (``Reconciler.process_listed``): the same guards (a malformed
event, one of the other mode than the stack's ``StripeMode``, one rendered in an API version the
handlers do not read: each named and skipped), the same pipeline, the same outcomes. A key of the
other mode than the stack's is refused before anything is listed.

Resumable: progress is kept in ``.backfill/<stack>.json``; ``--resume`` continues and retries
what failed. What already arrived is a duplicate; ordering protection holds as for the webhook.

Stripe's Events list renders each event in the API version it was created with (its
``api_version``), not the stack's. The handlers read every version from ``OLDEST_READ`` (the
oldest generation ``tests/unit/test_api_versions.py`` checks them on) to the stack's pinned one;
an event rendered in another is skipped and listed with the reason, never recorded half-read.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.cli import Problem
from infra.ops.deployed import Context, operator_key_livemode
from infra.ops.progress import Progress, Resumable, day
from stripe_webhook.core.events import EVENT_ID, is_id
from stripe_webhook.recovery.listed import label
from stripe_webhook.recovery.reconciliation import EVENTS_API_WINDOW_DAYS

STATE_DIR = REPO_ROOT / ".backfill"
KEEP_SKIPPED = 1_000
OUTCOMES = {"recovered": "new", "known": "duplicate"}
"""The reconciler's verdicts as backfill has always named them."""


@dataclass
class BackfillState(Resumable):
    """What a resumable backfill has done so far (``.backfill/<stack>.json``)."""

    since: int
    until: int
    undelivered_only: bool
    last_event_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Event id → why it was not processed (malformed, the other mode, an API version the
    handlers do not read): the newest ``KEEP_SKIPPED`` (each is printed when it happens)."""

    def skip(self, event_id: str, reason: str) -> None:
        self.skipped[event_id] = reason
        while len(self.skipped) > KEEP_SKIPPED:
            self.skipped.pop(next(iter(self.skipped)))

    @classmethod
    def directory(cls) -> Path:
        return STATE_DIR


def stripe_events(ctx: Context, state: BackfillState) -> Iterator[Any]:
    params: dict[str, Any] = {"limit": 100, "created": {"gte": state.since, "lte": state.until}}
    if state.undelivered_only:
        params["delivery_success"] = False
    if state.last_event_id:
        params["starting_after"] = state.last_event_id
    yield from ctx.stripe.v1.events.list(params=params).auto_paging_iter()


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _step(ctx: Context, state: BackfillState, listed: dict[str, Any], key_mode: bool | None) -> str:
    """One listed event through the reconciler's step (a dry run: its guards, and whether the log
    has it); what became of it, as the progress line counts it."""
    from stripe_webhook.core.budget import FUNCTION_TIMEOUT_SECONDS
    from stripe_webhook.recovery.reconciliation import Verdict

    reconciler = ctx.components.reconciler
    event_id, event_type = label(listed), str(listed.get("type"))[:100]
    if ctx.dry_run:
        reason = reconciler.refusal(listed, livemode=key_mode)
        if reason is None:
            return "stored" if ctx.components.queries.get_event(event_id) is not None else "missing"
        verdict = Verdict("skipped", reason)
    else:
        # Each event gets a Lambda invocation's time: the same budget checks as the function
        deadline = time.time() + FUNCTION_TIMEOUT_SECONDS
        verdict = reconciler.process_listed(listed, deadline=deadline, livemode=key_mode)
    if verdict.kind == "skipped":
        if event_id not in state.skipped:
            ctx.say(f"\nskipped {event_id} ({event_type}): {verdict.reason}")
        state.skip(event_id, verdict.reason)
        return "skipped"
    outcome = OUTCOMES.get(verdict.kind, "failed")
    if outcome == "failed":
        state.failed.append(event_id)
        code = verdict.reason if verdict.kind == "failed" else "event_in_progress"
        ctx.say(f"\nfailed {event_id} ({event_type}): {code}")
    return outcome


def backfill(ctx: Context, state: BackfillState) -> int:
    """Feed Stripe's Events API through the same pipeline as the webhook: duplicates skip themselves."""
    oldest = int(time.time()) - EVENTS_API_WINDOW_DAYS * 86_400
    if state.since < oldest:
        ctx.say(
            f"note: Stripe keeps events for {EVENTS_API_WINDOW_DAYS} days; older ones cannot be recovered"
        )
    which = "undelivered" if state.undelivered_only else "all"
    window = f"{day(state.since)} .. {day(state.until)}"
    ctx.say(f"backfilling {which} events created {window} into {ctx.stack.table_name}")
    key_mode = operator_key_livemode()
    stack_mode = ctx.components.settings.livemode
    if stack_mode is not None and key_mode is not None and stack_mode != key_mode:
        raise Problem(
            f"STRIPE_API_KEY is a {_mode(key_mode)}-mode key; stack {ctx.stack.name} is {_mode(stack_mode)}"
            " mode (StripeMode): its events would be the wrong account's. Use a key of the stack's mode."
        )
    progress = Progress("dry run" if ctx.dry_run else "backfill", ctx.out)
    progress.counts.update(state.counts)
    retry, state.failed = list(state.failed), []
    if retry:
        progress.counts["failed"] -= len(retry)
        ctx.say(f"retrying {len(retry)} event(s) that failed last time")
    retried = (ctx.stripe.v1.events.retrieve(event_id) for event_id in retry)
    for event in itertools.chain(retried, stripe_events(ctx, state)):
        listed = event.to_dict()
        event_id = label(listed)
        outcome = _step(ctx, state, listed, key_mode)
        progress.add(outcome)
        if not ctx.dry_run:
            if event_id not in retry and is_id(EVENT_ID, event_id):
                state.last_event_id = event_id
            state.counts = dict(progress.counts)
            state.save(ctx.stack.name)
    progress.done()
    if state.skipped:
        ctx.say(
            f"{len(state.skipped)} skipped, each named above with its reason (Stripe renders listed events"
            " in the API version they were created with; another mode's events and malformed ones are"
            " never processed); look at them in the Dashboard, and act on them by hand if they matter"
            f" (listed in {BackfillState.path(ctx.stack.name)})"
        )
    if state.failed:
        ctx.say(f"{len(state.failed)} failed; fix the cause and run: backfill --resume (they are retried)")
        return 1
    return 0
