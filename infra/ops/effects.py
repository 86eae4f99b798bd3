"""``ops effects``: the example actions' effects outside our tables that wait for a person.

An effect (a receipt email, a dispute alert) whose answer was lost, or whose invocation died
during the call, is never attempted again on its own (``stripe_actions.effects``): its message
waits in the action's dead-letter queue. This lists those entries and records what the person
found out: ``--happened`` (the email did arrive: the redrive finishes the action without sending)
or ``--not-happened`` (it did not: the redrive sends it, once).
"""

from __future__ import annotations

import time

from infra.cli import Problem
from infra.ops.deployed import Context
from stripe_actions.effects import ATTEMPTING, UNCERTAIN, EffectLedger

AFTER_SETTLING = {
    True: "the redrive finishes the action without repeating it",
    False: "the redrive attempts it, once",
}
"""What a redrive of the action's dead-letter queue does after each verdict."""
NOT_WAITING = "is not waiting to be settled (no such entry, already done, or attempted in the last minute)"


def ledger_of(ctx: Context) -> EffectLedger | None:
    """The stack's effect ledger (a person's view: nothing is remembered), or None when the
    example actions are not deployed (the console's read of it, and ``ops effects``)."""
    table = ctx.stack.actions_idempotency_table
    return EffectLedger(table, remember_seconds=0, client=ctx.aws("dynamodb")) if table else None


def _ledger(ctx: Context) -> EffectLedger:
    ledger = ledger_of(ctx)
    if ledger is None:
        raise Problem(
            f"stack {ctx.stack.name!r} has no ActionsIdempotencyTableName output: the example actions"
            " are not deployed (DeployExampleActions=true), so there is no effect to settle"
        )
    return ledger


def _when(timestamp: object) -> str:
    if not isinstance(timestamp, int):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def list_effects(ctx: Context, *, everything: bool = False) -> int:
    """Print the entries to settle (every entry with ``everything``); 0 when nothing waits."""
    entries = sorted(_ledger(ctx).entries(), key=lambda entry: int(entry.get("started_at", 0)))
    waiting = [entry for entry in entries if entry.get("status") in (UNCERTAIN, ATTEMPTING)]
    for entry in entries if everything else waiting:
        details = entry.get("details")
        details = details if isinstance(details, dict) else {}
        shown = "  ".join(f"{name}={value}" for name, value in sorted(details.items()))
        why = entry.get("reason") or (
            "started, never finished (its invocation died, or is still running)"
            if entry.get("status") == ATTEMPTING
            else f"result {entry.get('result', '')}"
        )
        ctx.say(f"{_when(entry.get('started_at'))}  {entry['status']:<10} {entry['effect']}  {shown}")
        ctx.say(f"    {why}")
    if not waiting:
        ctx.say("no effect waits to be settled")
        return 0
    ctx.say(
        f"{len(waiting)} effect(s) to settle: find out whether each happened (the recipient, the"
        " service's own logs), then `ops effects --settle EFFECT --happened` or `--not-happened`,"
        " and redrive the action's dead-letter queue"
    )
    return 1


def settle(ctx: Context, effect: str, *, happened: bool) -> int:
    verdict = "happened" if happened else "did not happen"
    if ctx.dry_run:
        ctx.say(f"would record that {effect} {verdict}")
        return 0
    if not _ledger(ctx).settle(effect, happened=happened):
        raise Problem(f"{effect} {NOT_WAITING}: `ops effects` lists what is")
    ctx.say(
        f"{effect}: recorded that it {verdict}; now redrive the action's dead-letter queue:"
        f" {AFTER_SETTLING[happened]}"
    )
    return 0
