"""``verify``: prove the event log complete for a window, instead of hoping it is.

Stripe's Events API holds every event of the last 30 days. ``verify`` lists every one created in
the window (no delivery filter: Stripe documents ``delivery_success=false`` for events it failed
to deliver, and says nothing of events it never attempted, such as those created while an
endpoint was disabled), keeps those of the types the stack's endpoints subscribe to (the handled
types when none is recorded), and checks each against the event log in batched reads (100 keys a
``BatchGetItem``, the reconciler's own ``DynamoLedger.logged``). An event counts as in the log
once it was published. It prints one line, ``N events at Stripe, N in the log, 0 missing``, and
exits 0; or names every missing event and exits 1. ``--recover`` sends the missing ones through
the reconciler's own step (``Reconciler.process_listed``: the same guards and pipeline).

It reads Stripe at most ``--rate`` list requests a second (default ``DEFAULT_RATE``, well below
Stripe's read limit of 25 a second in a sandbox and 100 in live mode), shows progress, and keeps
its place in ``.verify/<stack>.json`` after every page: ``--resume`` continues from there.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.ops.deployed import Context
from infra.ops.progress import Progress, Resumable, day, parse_time
from infra.stripe_types import known_type
from stripe_webhook.composition import registry
from stripe_webhook.core.events import EVENT_ID, EVENT_TYPE, is_id
from stripe_webhook.recovery.listed import label
from stripe_webhook.recovery.reconciliation import EVENTS_API_WINDOW_DAYS, subscription

STATE_DIR = REPO_ROOT / ".verify"
MAX_RATE = 100.0
"""Stripe's live-mode read limit: ``--rate`` is refused above it."""
DEFAULT_RATE = 10.0
"""List requests a second: 1,000 events a second, far below Stripe's read limits."""
PAGE_SIZE = 100
KEEP_MISSING = 10_000
"""Missing events a run keeps by id (all are counted); more means something far larger is wrong."""


@dataclass
class VerifyState(Resumable):
    """Where a verify stands (``.verify/<stack>.json``)."""

    since: int
    until: int
    types: list[str] = field(default_factory=list)
    cursor: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    @classmethod
    def directory(cls) -> Path:
        return STATE_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``verify``'s options (``infra.ops.cli``)."""
    parser.add_argument(
        "--since",
        type=parse_time,
        default=None,
        help="2026-11-01, an ISO time, a unix time, or 48h / 7d (default 24h; at most 30d, as Stripe keeps)",
    )
    parser.add_argument("--until", type=parse_time, default=None, help="the same forms (default: now)")
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        type=known_type,
        metavar="TYPE",
        help="only this type (repeatable)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"Stripe list requests a second (default {DEFAULT_RATE:g}; a sandbox allows 25, live 100)",
    )
    parser.add_argument(
        "--recover",
        action="store_true",
        help="send each missing event through the pipeline (as the reconciler does)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the last verify of this stack")
    records = parser.add_argument_group(
        "records", "--records checks the records against Stripe's objects instead (verify_records.py)"
    )
    records.add_argument(
        "--records",
        action="store_true",
        help="fetch the objects behind the records and compare what each keeps (--type: its last event's"
        " type; --since: written since; exit 1 on any drift)",
    )
    records.add_argument("--sample", type=int, metavar="N", help="check N records, not all")
    records.add_argument(
        "--fix",
        action="store_true",
        help="write Stripe's current state over a record that differs (as of the fetch; never over newer)",
    )


def state_of(args: argparse.Namespace, stack: str) -> VerifyState:
    """Where to start: the saved place (``--resume``), or the window asked for (default 24 hours)."""
    if args.resume:
        return VerifyState.load(stack)
    now = int(time.time())
    return VerifyState(args.since or now - 86_400, args.until or now, list(args.types))


def verify(ctx: Context, state: VerifyState, *, rate: float = DEFAULT_RATE, recover: bool = False) -> int:
    """Check every event Stripe holds for the window against the log; 0 if none is missing."""
    oldest = int(time.time()) - EVENTS_API_WINDOW_DAYS * 86_400
    if state.since < oldest:
        ctx.say(f"note: Stripe keeps events for {EVENTS_API_WINDOW_DAYS} days; checking from {day(oldest)}")
        state.since = oldest
    ledger = ctx.components.ledger
    subscribed = subscription(ledger.endpoints(), registry().patterns())
    window = f"{day(state.since)} .. {day(state.until)}"
    ctx.say(f"verifying every event Stripe holds from {window} against {ctx.stack.table_name}")
    progress = Progress("verify", ctx.out)
    progress.counts.update(state.counts)
    pause = 1.0 / rate
    more = True
    while more:
        started = time.monotonic()
        page = ctx.stripe.v1.events.list(params=_params(state))
        listed = [event.to_dict() for event in page.data]
        known = ledger.logged([str(item["id"]) for item in listed if is_id(EVENT_ID, item.get("id"))])
        for item in listed:
            progress.add(_check(ctx, state, item, known, subscribed, recover=recover))
        if listed:
            state.cursor = label(listed[-1])
        state.counts = dict(progress.counts)
        state.save(ctx.stack.name)
        more = bool(page.has_more) and bool(listed)
        time.sleep(max(0.0, pause - (time.monotonic() - started)))
    progress.done()
    return _summary(ctx, state)


def _params(state: VerifyState) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": PAGE_SIZE, "created": {"gte": state.since, "lte": state.until}}
    if state.types:
        params["types"] = state.types
    if state.cursor:
        params["starting_after"] = state.cursor
    return params


def _check(
    ctx: Context,
    state: VerifyState,
    listed: dict[str, Any],
    known: set[str],
    subscribed: Any,
    *,
    recover: bool,
) -> str:
    """What one listed event is: of a type the stack does not take, in the log, or missing."""
    event_id, event_type = label(listed), listed.get("type")
    if not is_id(EVENT_TYPE, event_type) or not subscribed(str(event_type)):
        return "other types"
    if event_id in known:
        return "in the log"
    if len(state.missing) < KEEP_MISSING:
        state.missing.append(event_id)
    if not recover:
        return "missing"
    from stripe_webhook.core.budget import FUNCTION_TIMEOUT_SECONDS

    verdict = ctx.components.reconciler.process_listed(
        listed, deadline=time.time() + FUNCTION_TIMEOUT_SECONDS
    )
    if verdict.kind == "recovered":
        state.recovered.append(event_id)
    else:
        ctx.say(f"\nnot recovered {event_id} ({event_type}): {verdict.kind} {verdict.reason}".rstrip())
    return "missing"


def _summary(ctx: Context, state: VerifyState) -> int:
    counts = Counter(state.counts)
    taken = counts["in the log"] + counts["missing"]
    ctx.say(f"{taken:,} events at Stripe, {counts['in the log']:,} in the log, {counts['missing']:,} missing")
    if counts["other types"]:
        ctx.say(
            f"({counts['other types']:,} more of types no endpoint of the stack subscribes to: not checked)"
        )
    if not counts["missing"]:
        return 0
    recovered = set(state.recovered)
    for event_id in state.missing:
        ctx.say(f"missing {event_id}" + ("  (recovered now)" if event_id in recovered else ""))
    if counts["missing"] > len(state.missing):
        ctx.say(
            f"... and {counts['missing'] - len(state.missing):,} more (the first {KEEP_MISSING:,} are named)"
        )
    if recovered:
        ctx.say(f"{len(recovered):,} recovered through the pipeline; run verify again to confirm")
    else:
        ctx.say("recover them with: verify --recover (each goes through the reconciler's own step)")
    return 1
