"""Stripe's notice of an event it never generated, made into the event it stands for.

Stripe documents (Webhooks, "Handle event-generation failures") that it can, rarely, fail to
create an Event: nothing is delivered and the Events API never lists it. It later sends the thin
event ``v2.core.health.event_generation_failure.resolved``, whose data names what was lost:

    "impact": {"event_type": "payment_intent.requires_action", "context": "acct_…" (Connect only),
               "related_object": {"id": "pi_…", "type": "payment_intent", "url": <Dashboard URL>}}

The pipeline fetches the notice in full, then the object as Stripe serves it now, and processes
the event this makes: the lost event's type, the object as ``data.object``, ordered by the fetch
time (as a thin delivery is), under the notice's own id (so it is claimed and published once),
with the notice kept under ``reconciliation`` in the body. Its message carries the attribute
``reconciliation=true`` (docs/message-contract.md).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from stripe_webhook.core.events import (
    ACCOUNT,
    CONTEXT,
    EVENT_TYPE,
    HEALTH_NOTICE,
    OBJECT_ID,
    OBJECT_TYPE,
    RECONCILIATION,
    StripeEvent,
    compact_json,
    is_id,
)

NOTICE_FIELDS = ("alert_id", "grouping_key", "impact", "resolved_at", "summary", "severity")
"""The notice's data, as Stripe documents it (``severity`` since 2026-11-18)."""


@dataclass(frozen=True)
class Impact:
    """What the notice says was lost: the event's type, and the object it was about."""

    event_type: str
    object_id: str
    object_type: str
    context: str | None

    def reference(self, notice: StripeEvent) -> StripeEvent:
        """A stand-in event naming the object, for ``StripeApi.current_object`` (its account as
        ``Stripe-Account``: the object is a v1 resource)."""
        return dataclasses.replace(
            notice,
            thin=False,
            account=self.context if is_id(ACCOUNT, self.context) else None,
            data_object={"id": self.object_id, "object": self.object_type},
        )


def impact_of(notice: StripeEvent) -> Impact | None:
    """The notice's impact, or None when it names no object we could fetch (checked like every id
    that enters a URL or a key)."""
    impact = notice.data_object.get("impact")
    if not isinstance(impact, dict):
        return None
    related = impact.get("related_object")
    related = related if isinstance(related, dict) else {}
    event_type, object_id = impact.get("event_type"), related.get("id") or impact.get("related_object_id")
    object_type = related.get("type")
    context = impact.get("context") if is_id(CONTEXT, impact.get("context")) else notice.account
    if not (
        is_id(EVENT_TYPE, event_type) and is_id(OBJECT_ID, object_id) and is_id(OBJECT_TYPE, object_type)
    ):
        return None
    return Impact(str(event_type), str(object_id), str(object_type), context)


def _reconciliation(notice: StripeEvent) -> dict[str, Any]:
    return {
        "source": HEALTH_NOTICE,
        "notice": json.loads(notice.raw),
        "data": {name: notice.data_object[name] for name in NOTICE_FIELDS if name in notice.data_object},
    }


def flagged(notice: StripeEvent, *, api_version: str) -> StripeEvent:
    """A notice naming nothing the stack can fetch, as a snapshot-shaped event of its own type
    whose ``data.object`` is the notice's data: recorded by no handler, published flagged."""
    data = {name: notice.data_object[name] for name in NOTICE_FIELDS if name in notice.data_object}
    return _event(notice, notice.type, data, None, api_version=api_version, state_at=None)


def as_recovered_event(
    notice: StripeEvent, impact: Impact, current: dict[str, Any], *, fetched_at: int, api_version: str
) -> StripeEvent:
    """The event Stripe never generated, as a snapshot event of ``impact.event_type`` whose object
    is ``current`` (fetched at ``fetched_at``)."""
    account = impact.context if is_id(ACCOUNT, impact.context) else None
    return _event(notice, impact.event_type, current, account, api_version=api_version, state_at=fetched_at)


def _event(
    notice: StripeEvent,
    event_type: str,
    data_object: dict[str, Any],
    account: str | None,
    *,
    api_version: str,
    state_at: int | None,
) -> StripeEvent:
    body: dict[str, Any] = {
        "id": notice.id,
        "object": "event",
        "type": event_type,
        "created": notice.created,
        "livemode": notice.livemode,
        "api_version": api_version,
        "data": {"object": data_object},
        RECONCILIATION: _reconciliation(notice),
    }
    if account:
        body["account"] = account
    return StripeEvent(
        id=notice.id,
        type=event_type,
        created=notice.created,
        livemode=notice.livemode,
        api_version=api_version,
        account=account,
        data_object=data_object,
        raw=compact_json(body),
        state_at=state_at,
        reconciliation=True,
    )
