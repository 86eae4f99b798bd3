"""``verify --records``: measure how far the records have drifted from the objects in Stripe.

A record keeps the fields its handler picks from the last event about its object. Missed events
(an endpoint disabled past Stripe's retries), a record edited by hand, or an object deleted while
its events were missed leave it behind Stripe. This reads the records (a ``Scan`` of ``STATE``
items: ``--type``, the type of the event that wrote them; ``--since``, written since; ``--sample
N`` or all), fetches each object from Stripe with the stack's key at the stack's API version (a
connected account's as ``Stripe-Account``, an organisation's context as ``Stripe-Context``), runs
it through today's handler as the record's last event type would carry it, and compares what the
record keeps. It prints ``N records checked, N match, K differ, M gone at Stripe`` and the first
differences, and exits 1 on any drift.

``--fix`` writes Stripe's current state through the delivery's own conditional write, as a
snapshot taken at the fetch time: the record names ``evt_fix_<unix time>`` as its last event, and
a record an event of that second or later wrote is kept (a record only moves forward). An object
gone at Stripe is reported, never deleted. Fetches are paced by ``--rate`` (a second; Stripe's
read limit is 25 in a sandbox and 100 live; its own sync engine defaults to 25), and the place is
kept in ``.verify-records/<stack>.json`` after every page: ``--resume`` goes on from there.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra import REPO_ROOT
from infra.ops.deployed import Context
from infra.ops.progress import Progress, Resumable
from infra.ops.rebuild import changed_fields, put_record
from infra.ops.reindex import Pace

if TYPE_CHECKING:
    from stripe_webhook.core.events import StripeEvent
    from stripe_webhook.core.records import Record

STATE_DIR = REPO_ROOT / ".verify-records"
PAGE_ITEMS = 1_000
"""Items a Scan page reads (records and event items alike: the filter applies after the read)."""
SHOWN = 10
"""How many differing records are kept and shown, field by field."""


@dataclass
class RecordsState(Resumable):
    """A records check's selection and place (``.verify-records/<stack>.json``)."""

    since: int | None = None
    types: list[str] = field(default_factory=list)
    sample: int | None = None
    position: dict[str, Any] | None = None
    done: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)

    @classmethod
    def directory(cls) -> Path:
        return STATE_DIR

    @property
    def checked(self) -> int:
        return sum(self.counts.values())


def verify_records(ctx: Context, state: RecordsState, *, rate: float, fix: bool = False) -> int:
    """Compare the selected records with Stripe's objects; 0 if none drifted (or all were fixed)."""
    ctx.say(f"verifying the records of {ctx.stack.table_name} against Stripe ({rate:g} fetches a second)")
    progress = Progress("verify --records", ctx.out, noun="records")
    progress.counts.update(state.counts)
    pace = Pace(rate)
    while not state.done and (state.sample is None or state.checked < state.sample):
        page = _page(ctx, state)
        for item in page.get("Items", []):
            if state.sample is not None and state.checked >= state.sample:
                break
            pace.wait(1)
            progress.add(_check(ctx, state, item, fix))
            state.counts = dict(progress.counts)
        state.position = page.get("LastEvaluatedKey")
        state.done = state.position is None
        state.save(ctx.stack.name)
    progress.done()
    return _summary(ctx, state)


def _page(ctx: Context, state: RecordsState) -> dict[str, Any]:
    """A page of the table's ``STATE`` items of ``OBJECT#`` partitions, as selected."""
    values: dict[str, Any] = {":state": {"S": "STATE"}, ":object": {"S": "OBJECT#"}}
    filters = ["sk = :state", "begins_with(pk, :object)", "attribute_not_exists(deleted)"]
    if state.types:
        names = []
        for index, event_type in enumerate(state.types):
            values[f":type{index}"] = {"S": event_type}
            names.append(f":type{index}")
        filters.append(f"last_event_type IN ({', '.join(names)})")
    if state.since is not None:
        values[":since"] = {"N": str(state.since)}
        filters.append("updated_at >= :since")
    request: dict[str, Any] = {
        "TableName": ctx.stack.table_name,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeValues": values,
        "Limit": PAGE_ITEMS,
    }
    if state.position:
        request["ExclusiveStartKey"] = state.position
    answer: dict[str, Any] = ctx.aws("dynamodb").scan(**request)
    return answer


def _check(ctx: Context, state: RecordsState, item: dict[str, Any], fix: bool) -> str:
    """Fetch one record's object and compare; the outcome (``match``, ``differ``, ``gone``…)."""
    from stripe_webhook.adapters import claim
    from stripe_webhook.adapters.dynamo_items import from_item

    stored = from_item(item)
    object_id, object_type = str(stored.get("object_id", "")), str(stored.get("object_type", ""))
    fetched_at = int(time.time())
    found = _fetch(ctx, object_type, object_id, stored.get("account"))
    if found is None:
        _show(state, f"{object_id}: gone at Stripe (404)")
        return "gone at Stripe"
    if isinstance(found, str):
        _show(state, f"{object_id}: not checked: {found}")
        return "not checked"
    try:
        event = _as_event(ctx, stored, found, fetched_at)
        record = _record_of(event, object_id)
    except Exception as error:  # Stripe's object as today's handler cannot read it: named, not a stop
        _show(state, f"{object_id}: not checked: today's handler cannot read it: {type(error).__name__}")
        return "not checked"
    if record is None:
        return "no record from today's handler"
    content = {name: value for name, value in stored.items() if name not in claim.BOOKKEEPING}
    differences = _differences(content, dict(record.attributes))
    if not differences:
        return "match"
    _show(state, f"{object_id}: " + "; ".join(differences[:5]))
    if not fix:
        return "differ"
    return _fix(ctx, event, record)


def _fetch(ctx: Context, object_type: str, object_id: str, account: Any) -> dict[str, Any] | str | None:
    """The object as Stripe has it now; None when Stripe says it is gone; a reason when unchecked."""
    import stripe

    from stripe_webhook.adapters.stripe_api import RESOURCE_PATHS

    path = RESOURCE_PATHS.get(object_type)
    if path is None:
        return f"Stripe has no retrieve path for a {object_type or 'typeless'} record"
    options: dict[str, Any] = {}
    if isinstance(account, str) and account:
        options["stripe_account" if account.startswith("acct_") else "stripe_context"] = account
    try:
        answer = ctx.stripe.raw_request(
            "get", f"/v1/{path}/{urllib.parse.quote(object_id, safe='')}", **options
        )
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            return None
        return f"Stripe refused: {error.user_message or error}"
    except stripe.StripeError as error:
        return f"Stripe could not answer: {error.user_message or error}"
    body = json.loads(answer.body)  # a StripeResponse: the JSON Stripe sent
    return (
        body if isinstance(body, dict) and body.get("id") == object_id else "Stripe answered another object"
    )


def _as_event(ctx: Context, stored: dict[str, Any], obj: dict[str, Any], fetched_at: int) -> StripeEvent:
    """The object as an event of the record's last type, created at the fetch: what the handler reads."""
    from contract.records import FIXED_BY_PREFIX
    from stripe_webhook.core.events import parse_stored_event

    event: dict[str, Any] = {
        "id": f"{FIXED_BY_PREFIX}{fetched_at}",
        "object": "event",
        "type": str(stored.get("last_event_type", "")),
        "created": fetched_at,
        "livemode": bool(stored.get("livemode")),
        "api_version": ctx.stack.api_version,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }
    if isinstance(stored.get("account"), str):
        event["account"] = stored["account"]
    return parse_stored_event(json.dumps(event).encode())


def _record_of(event: StripeEvent, object_id: str) -> Record | None:
    from contract.records import object_key
    from stripe_webhook.composition import registry

    route = registry().resolve(event.type)
    pk, sk = object_key(object_id)
    records = route.handler(event) if route else []
    return next((record for record in records if (record.pk, record.sk) == (pk, sk)), None)


def _differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``email: stored 'a@x' / Stripe 'b@x'`` for each field that differs (added and dropped too)."""
    names = sorted(name for group in changed_fields(stored, current) for name in group)
    return [
        f"{name}: stored {_short(stored.get(name))} / Stripe {_short(current.get(name))}" for name in names
    ]


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _fix(ctx: Context, event: StripeEvent, record: Record) -> str:
    """Write Stripe's state as of the fetch, over older state only (the delivery's condition)."""
    from stripe_webhook.core import ordering

    if put_record(ctx, ordering.RecordWrite.first(event, record)):
        return "fixed"
    return "differ, kept (an event of the fetch's second or later)"


def _show(state: RecordsState, line: str) -> None:
    if len(state.shown) < SHOWN:
        state.shown.append(line)


def _summary(ctx: Context, state: RecordsState) -> int:
    counts = state.counts
    differ = sum(count for name, count in counts.items() if name.startswith("differ"))
    fixed, gone = counts.get("fixed", 0), counts.get("gone at Stripe", 0)
    ctx.say(
        f"{state.checked:,} records checked, {counts.get('match', 0):,} match, {differ + fixed:,} differ"
        f"{f' ({fixed:,} fixed)' if fixed else ''}, {gone:,} gone at Stripe"
    )
    for line in state.shown:
        ctx.say(f"  {line}")
    return 1 if differ or gone or counts.get("not checked", 0) else 0
