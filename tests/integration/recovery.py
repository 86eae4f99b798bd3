"""What the recovery tests share: undelivered events in the Events API stand-in, one reconciler
run, and what reached the consumer queue (the ``stripe`` fixture is in ``conftest``)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from infra.fixtures.payloads import fresh_event, with_fresh_ids
from stripe_webhook import composition
from stripe_webhook.recovery.reconciliation import Report
from tests.integration.conftest import Aws
from tests.loopback_stripe import LoopbackStripe
from tests.support import drain

TYPES = ("payment_intent.succeeded", "invoice.paid", "customer.subscription.updated", "charge.refunded")
ENDPOINT_ID = "we_1RcnCiF2eZvKYlo2Tm0dFq9x"


def undelivered(
    stripe: LoopbackStripe, count: int, *, age: int = 3_600, apart: int = 7
) -> list[dict[str, Any]]:
    """``count`` events Stripe could not deliver, the newest ``age`` seconds old, ``apart`` seconds apart."""
    now = int(time.time())
    events = [
        with_fresh_ids([fresh_event(TYPES[i % len(TYPES)], created=now - age - i * apart)])[0]
        for i in range(count)
    ]
    for event in sorted(events, key=lambda event: event["created"]):
        stripe.add_event(event)
    return events


def run(deadline_seconds: float = 180) -> Report:
    return composition.components().reconciler.run(time.time() + deadline_seconds)


def complete_sweep_due() -> None:
    """Make the daily complete sweep due at the next run (the ``stripe`` fixture marks it done)."""
    ledger = composition.components().ledger
    begun = ledger.begin(time.time(), 60)
    assert begun is not None
    state, token = begun
    state.last_complete = None
    ledger.save(state, token, finished=True)


def published(aws: Aws) -> Counter[str]:
    return Counter(message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url))
