"""``backfill``: feed events Stripe has (Events API, 30 days) through the function's own pipeline.

Resumable: progress is kept in ``.backfill/<stack>.json``; ``--resume`` continues and retries
what failed. What already arrived is a duplicate; ordering protection holds as for the webhook.

Stripe's Events list renders each event in the API version it was created with (its
``api_version``), not the stack's. The handlers read every version from ``OLDEST_READ`` (the
oldest generation ``tests/unit/test_api_versions.py`` checks them on) to the stack's pinned one;
an event rendered in another is skipped and listed with the reason, never recorded half-read.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.cli import Problem
from infra.fixtures.versions import PRE_BASIL
from infra.ops.deployed import Context
from infra.ops.progress import Progress, day

STATE_DIR = REPO_ROOT / ".backfill"
EVENTS_API_WINDOW_DAYS = 30
OLDEST_READ = PRE_BASIL


def unreadable_version(api_version: str | None, pinned: str) -> str | None:
    """Why an event rendered in ``api_version`` is not processed, or None. Versions order by their
    date (``2025-03-31.basil``); none (a thin event's) is read as it is."""
    if not api_version:
        return None
    if api_version[:10] < OLDEST_READ[:10]:
        return (
            f"rendered in API version {api_version}, older than the oldest the handlers read ({OLDEST_READ})"
        )
    if api_version[:10] > pinned[:10]:
        return f"rendered in API version {api_version}, newer than the stack's pinned {pinned}"
    return None


@dataclass
class BackfillState:
    """What a resumable backfill has done so far (``.backfill/<stack>.json``)."""

    since: int
    until: int
    undelivered_only: bool
    last_event_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Event id → why it was not processed (an API version the handlers do not read)."""

    @staticmethod
    def path(stack: str) -> Path:
        return STATE_DIR / f"{stack}.json"

    def save(self, stack: str) -> None:
        STATE_DIR.mkdir(exist_ok=True)
        self.path(stack).write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, stack: str) -> BackfillState:
        try:
            return cls(**json.loads(cls.path(stack).read_text()))
        except FileNotFoundError:
            raise Problem(f"nothing to resume: no {cls.path(stack)}") from None


def stripe_events(ctx: Context, state: BackfillState) -> Iterator[Any]:
    params: dict[str, Any] = {"limit": 100, "created": {"gte": state.since, "lte": state.until}}
    if state.undelivered_only:
        params["delivery_success"] = False
    if state.last_event_id:
        params["starting_after"] = state.last_event_id
    yield from ctx.stripe.v1.events.list(params=params).auto_paging_iter()


def backfill(ctx: Context, state: BackfillState) -> int:
    """Feed Stripe's Events API through the same pipeline as the webhook: duplicates skip themselves."""
    from stripe_webhook.budget import FUNCTION_TIMEOUT_SECONDS
    from stripe_webhook.errors import WebhookError
    from stripe_webhook.events import parse_event

    oldest = int(time.time()) - EVENTS_API_WINDOW_DAYS * 86_400
    if state.since < oldest:
        ctx.say(
            f"note: Stripe keeps events for {EVENTS_API_WINDOW_DAYS} days; older ones cannot be recovered"
        )
    which = "undelivered" if state.undelivered_only else "all"
    window = f"{day(state.since)} .. {day(state.until)}"
    ctx.say(f"backfilling {which} events created {window} into {ctx.stack.table_name}")
    pipeline = None if ctx.dry_run else ctx.components.pipeline
    progress = Progress("dry run" if ctx.dry_run else "backfill", ctx.out)
    progress.counts.update(state.counts)
    retry, state.failed = list(state.failed), []
    if retry:
        progress.counts["failed"] -= len(retry)
        ctx.say(f"retrying {len(retry)} event(s) that failed last time")
    retried = (ctx.stripe.v1.events.retrieve(event_id) for event_id in retry)
    for event in itertools.chain(retried, stripe_events(ctx, state)):
        raw = json.dumps(event.to_dict(), separators=(",", ":")).encode("utf-8")
        reason = unreadable_version(getattr(event, "api_version", None), ctx.stack.api_version)
        if reason is not None:
            outcome = "skipped"
            if event.id not in state.skipped:
                ctx.say(f"\nskipped {event.id} ({event.type}): {reason}")
            state.skipped[event.id] = reason
        elif pipeline is None:
            stored = ctx.components.queries.get_event(event.id) is not None
            outcome = "stored" if stored else "missing"
        else:
            try:
                # Each event gets a Lambda invocation's time: the same budget checks as the function
                deadline = time.time() + FUNCTION_TIMEOUT_SECONDS
                processed = pipeline.process(parse_event(raw), deadline=deadline)
                outcome = "new" if processed.status == "processed" else "duplicate"
            except WebhookError as error:
                outcome = "failed"
                state.failed.append(event.id)
                ctx.say(f"\nfailed {event.id} ({event.type}): {error.code}")
        progress.add(outcome)
        if not ctx.dry_run:
            if event.id not in retry:
                state.last_event_id = event.id
            state.counts = dict(progress.counts)
            state.save(ctx.stack.name)
    progress.done()
    if state.skipped:
        ctx.say(
            f"{len(state.skipped)} skipped: Stripe renders listed events in the API version they were created"
            " with; look at them in the Dashboard, and act on them by hand if they matter"
            f" (listed in {BackfillState.path(ctx.stack.name)})"
        )
    if state.failed:
        ctx.say(f"{len(state.failed)} failed; fix the cause and run: backfill --resume (they are retried)")
        return 1
    return 0
