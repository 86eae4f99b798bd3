"""Chaos for the consumer kit: every business fact ends with one effect or one surfaced uncertainty.

Paid invoices (each announced twice, by ``invoice.paid`` and ``invoice.payment_succeeded``) and
disputes go through the real webhook; some messages reach the action queues twice (SNS's
at-least-once copy). Then ``fulfil_order`` and ``dispute_alert`` consume them while ``Chaos``, a
``before-send`` model, makes every AWS call of the actions behave as the services documentedly
can (one fault per call at most):

- DynamoDB: throttled (``ProvisionedThroughputExceededException``) or 500 (``InternalServerError``),
  nothing applied; or applied with its answer lost (``ReadTimeoutError``). botocore retries all
  three, as in production.
- SES ``SendEmail`` and SNS ``Publish`` (the effects): throttled (400, nothing applied); 500,
  applied or not at random; applied with the answer lost.
- any call: the invocation killed (``Killed``) before or after the service applied it.

Between receives the killed or failed invocation's deadline has passed, as it has in the deployed
stack (a 180 s visibility timeout, a 30 s function timeout). Then, for every fact: the effects
that reached SES or the alert topic are at most one; a fact with none has an uncertainty on
record (``ActionsUncertain``, the ledger entry) or its message waits in the dead-letter queue;
a fact done has exactly one. Finally a person settles every uncertain entry by what really
happened and redrives the dead-letter queues, and every fact has exactly one effect. The counts
are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from contract import aws as function_aws
from infra.fixtures.payloads import fresh_event
from tests.aws_model import Killed
from tests.faults import apply_with_moto, refuse
from tests.integration.conftest import Actions
from tests.integration.test_action_effects import (
    ALERT,
    RECEIPT,
    Effect,
    Seen,
    deadline_passes,
    redrive_dead_letters,
)
from tests.integration.test_actions import resend_last_message
from tests.support import deliver

FACTS = int(os.environ.get("ACTIONS_CHAOS_FACTS", "24"))
SEED = int(os.environ.get("ACTIONS_CHAOS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)
ACTIONS_CHAOS_REPORT: list[str] = []
EFFECT_CALLS = {"ses.SendEmail": "SES", "sns.Publish": "SNS"}


@dataclass
class Chaos:
    rate: float = 0.05
    """Chance per call of a fault of each kind below."""
    random: random.Random = field(default_factory=lambda: random.Random(SEED))
    injected: Counter[str] = field(default_factory=Counter)
    calm: bool = False

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        if self.calm:
            return None
        _provider, service, operation = event_name.split(".", 2)
        call = f"{service}.{operation}"
        roll = self.random.random()
        rate = self.rate
        if roll < rate / 2:
            after = self.random.random() < 0.5
            self.injected[f"killed {'after' if after else 'before'} the service applied the call"] += 1
            if after:
                apply_with_moto(request, event_name)
            raise Killed
        roll -= rate / 2
        effect = EFFECT_CALLS.get(call)
        if service == "dynamodb":
            if roll < rate:
                self.injected["dynamodb throttled"] += 1
                return refuse(request, service, "ProvisionedThroughputExceededException", 400)
            if roll < 1.5 * rate:
                self.injected["dynamodb 500"] += 1
                return refuse(request, service, "InternalServerError", 500)
            if roll < 2 * rate and operation in ("PutItem", "UpdateItem", "DeleteItem"):
                self.injected["dynamodb answer lost"] += 1
                apply_with_moto(request, event_name)
                raise ReadTimeoutError(endpoint_url=request.url)
        elif effect is not None:
            if roll < rate:
                self.injected[f"{effect} throttled"] += 1
                return refuse(request, service, "Throttling" if service == "ses" else "Throttled", 400)
            if roll < 2 * rate:
                applied = self.random.random() < 0.5
                self.injected[f"{effect} 500 ({'applied' if applied else 'not applied'})"] += 1
                if applied:
                    apply_with_moto(request, event_name)
                return refuse(
                    request, service, "InternalFailure" if service == "ses" else "InternalError", 500
                )
            if roll < 3 * rate:
                self.injected[f"{effect} answer lost"] += 1
                apply_with_moto(request, event_name)
                raise ReadTimeoutError(endpoint_url=request.url)
        return None


def deliver_facts(actions: Actions, secret: str) -> dict[str, Effect]:
    """Business key → its effect; every event through the webhook, some messages twice."""
    facts: dict[str, Effect] = {}
    for index in range(FACTS):
        key = f"in_chaos{secrets.token_hex(6)}"
        paid = fresh_event("invoice.paid")
        paid["data"]["object"]["id"] = key
        succeeded = fresh_event("invoice.paid", type="invoice.payment_succeeded")
        succeeded["data"]["object"]["id"] = key
        dispute = fresh_event("charge.dispute.created")
        dispute_key = f"du_chaos{secrets.token_hex(6)}"
        dispute["data"]["object"]["id"] = dispute_key
        for event in (paid, succeeded, dispute):
            assert deliver(event, secret).status == 200
        if index % 3 == 0:  # SNS's second copy
            resend_last_message(actions, "fulfil_order", paid["id"])
            resend_last_message(actions, "dispute_alert", dispute["id"])
        facts[key], facts[dispute_key] = RECEIPT, ALERT
    return facts


def consume(actions: Actions, chaos: Chaos, rounds: int = 40) -> Counter[str]:
    """Lambda's event source over both queues until they are empty; killed invocations counted."""
    polls: Counter[str] = Counter()
    for _ in range(rounds):
        received = 0
        for name in ("fulfil_order", "dispute_alert"):
            try:
                received += actions.runners[name].poll_once()
                polls["batches"] += 1
            except Killed:
                polls["invocations killed"] += 1
                received += 1
            deadline_passes(actions)  # SQS's visibility timeout outlasts the function's timeout
        if not received:
            break
    return polls


@pytest.mark.slow  # a randomized run of many deliveries: make test and CI, not make check
def test_every_fact_ends_with_one_effect_or_one_surfaced_uncertainty_never_two(
    actions: Actions, secret: str
) -> None:
    facts = deliver_facts(actions, secret)
    chaos = Chaos()
    function_aws.session().get_component("event_emitter").register_first("before-send", chaos)
    seen = Seen(actions)

    polls = consume(actions, chaos)

    outcomes: dict[str, set[str]] = {}
    for outcome in actions.outcomes:
        outcomes.setdefault(outcome.key, set()).add(outcome.status)
    dead = {
        name: [json.loads(message["Body"]) for message in _peek(actions, queue.dead_letter_url)]
        for name, queue in actions.resources.queues.items()
    }
    dead_keys = {event["data"]["object"]["id"] for events in dead.values() for event in events}
    ledger = actions.effects()
    tally: Counter[str] = Counter()
    for key, effect in facts.items():
        count = seen.count(effect, key)
        statuses = outcomes.get(key, set())
        entry = ledger.get(effect.of(key), {})
        assert count <= 1, f"{key}: {count} effects"
        if count == 0:
            assert "uncertain" in statuses or key in dead_keys, f"{key}: no effect and nothing surfaced"
        if statuses & {"done", "skipped"}:
            assert count == 1, f"{key} done with {count} effects"
        if entry.get("status") == "DONE":
            assert count == 1, f"{key}: the ledger says done, {count} effects"
        if "uncertain" in statuses and entry.get("status") in ("UNCERTAIN", "ATTEMPTING"):
            tally[f"uncertain, effect {'happened' if count else 'did not happen'}"] += 1
        elif count == 1:
            tally["one effect"] += 1
        else:
            tally["dead-lettered before any attempt"] += 1

    # A person settles each uncertain effect by what happened, and redrives the dead-letter queues
    chaos.calm = True
    for key, effect in facts.items():
        if ledger.get(effect.of(key), {}).get("status") in ("UNCERTAIN", "ATTEMPTING"):
            actions.ledger.settle(effect.of(key), happened=seen.count(effect, key) == 1)
    redriven = sum(redrive_dead_letters(actions, effect) for effect in (RECEIPT, ALERT))
    consume(actions, chaos)
    for key, effect in facts.items():
        assert seen.count(effect, key) == 1, f"{key}: not exactly one effect after settling"

    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(chaos.injected.items()))
    ACTIONS_CHAOS_REPORT.extend(
        [
            f"actions chaos (seed {SEED}): {len(facts)} facts, {len(actions.outcomes)} outcomes,"
            f" {polls['batches']} batches, {polls['invocations killed']} invocations killed",
            f"  faults: {faults}",
            f"  facts: {', '.join(f'{kind} {n}' for kind, n in sorted(tally.items()))}; never two effects",
            f"  after settling and redriving {redriven} dead letter(s):"
            f" {len(facts)} facts with exactly one effect",
        ]
    )


def _peek(actions: Actions, queue_url: str) -> list[dict[str, Any]]:
    """The dead-letter queue's messages, left in place (visible again at once)."""
    messages: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    while True:
        batch = actions.aws.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", [])
        fresh = [message for message in batch if message["MessageId"] not in seen_ids]
        if not fresh:
            break
        seen_ids.update(message["MessageId"] for message in fresh)
        messages += fresh
    for message in messages:
        actions.aws.sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return messages
