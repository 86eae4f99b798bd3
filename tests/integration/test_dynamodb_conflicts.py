"""DynamoDB's transaction conflicts and stalled lease holders, as real DynamoDB and time behave.

Modelled on the DynamoDB API reference (TransactWriteItems, PutItem, UpdateItem errors): a write
that touches an item held by another in-flight transaction fails. A transaction is cancelled with
``TransactionCanceledException`` and a ``CancellationReasons`` list holding ``TransactionConflict``
at that item's position; a single-item write fails with ``TransactionConflictException`` (HTTP
400). botocore's standard retry mode retries neither (it is not in its throttling or transient
error codes), so each injected answer below reaches the store exactly as it would on AWS.
"""

from __future__ import annotations

import time

import pytest

from contract import aws as aws_clients
from infra.fixtures.payloads import encode, fresh_event
from stripe_webhook import composition
from stripe_webhook.adapters.table import CONFLICT_RETRIES
from stripe_webhook.core import budget
from stripe_webhook.core.events import parse_event
from stripe_webhook.core.pipeline import Pipeline
from stripe_webhook.errors import OutOfTime
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import all_items, deliver, drain

INVOICE = "in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"


@pytest.fixture
def faults(aws: Aws) -> FaultInjector:
    injector = FaultInjector()
    injector.install(aws_clients.session())
    return injector


def conflict_on_items(*reasons: str, times: int | None = 1) -> Fault:
    """A TransactWriteItems cancelled because another transaction holds some of its items."""
    return Fault("TransactionCanceledException", 400, times=times, reasons=reasons)


def test_a_conflict_on_the_mark_is_retried_so_the_event_is_published_once(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    # Given a concurrent duplicate's claim holds the event item while we mark it published
    faults.fail("dynamodb.UpdateItem", Fault("TransactionConflictException", 400, times=1))
    event = fresh_event("payment_intent.succeeded")

    # When the delivery completes, and Stripe (or the second endpoint) delivers it again
    first = deliver(event, secret)
    again = deliver(event, secret)

    # Then the mark was retried: the event is PUBLISHED, so the redelivery is a duplicate
    assert first.status == 200 and first.body["status"] == "processed"
    assert faults.attempts["dynamodb.UpdateItem"] == 2
    logged = aws.queries.get_event(event["id"])
    assert logged is not None and logged["status"] == "PUBLISHED"
    assert again.status == 200 and again.body["status"] == "duplicate"
    assert [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)] == [event["id"]]


def test_a_conflict_with_another_events_transaction_is_retried_not_answered_409(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    # Given invoice.paid and invoice.payment_succeeded for one invoice arrive in the same moment
    paid = fresh_event("invoice.paid")
    succeeded = fresh_event("invoice.payment_succeeded", created=paid["created"] + 1)
    assert deliver(paid, secret).status == 200
    # ...so the second's claim meets the first's transaction on the invoice record
    faults.fail("dynamodb.TransactWriteItems", conflict_on_items("None", "TransactionConflict"))

    response = deliver(succeeded, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    assert response.body["records_written"] == 1
    assert faults.attempts["dynamodb.TransactWriteItems"] == 3  # the first event's, then ours twice
    record = aws.queries.get_record(INVOICE)
    assert record is not None and record["last_event_id"] == succeeded["id"]
    assert len(drain(aws.sqs, aws.queue_url)) == 2


def test_a_conflict_on_the_same_events_claim_then_sees_the_other_delivery(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    # Given one delivery published the event while another's claim met its transaction
    event = fresh_event("customer.created")
    assert deliver(event, secret).body["status"] == "processed"
    faults.fail("dynamodb.TransactWriteItems", conflict_on_items("TransactionConflict", "None"))

    response = deliver(event, secret)

    # Then the retry finds the event published: a duplicate, not a 409 and not a second publish
    assert response.status == 200 and response.body["status"] == "duplicate"
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_conflicts_that_outlast_the_retries_are_a_503_and_stripes_retry_completes(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    faults.fail("dynamodb.TransactWriteItems", conflict_on_items("None", "TransactionConflict", times=None))
    event = fresh_event("invoice.paid")

    failed = deliver(event, secret)

    assert failed.status == 503 and failed.body["error"] == "storage_conflict"
    assert faults.attempts["dynamodb.TransactWriteItems"] == 1 + CONFLICT_RETRIES
    assert all_items(aws.dynamodb, aws.table) == []
    assert drain(aws.sqs, aws.queue_url) == []

    faults.heal("dynamodb.TransactWriteItems")
    retried = deliver(event, secret)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_a_single_item_claim_that_meets_a_transaction_is_retried(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    # An event without records is claimed with PutItem, which fails with the exception form
    faults.fail("dynamodb.PutItem", Fault("TransactionConflictException", 400, times=2))
    event = fresh_event("product.created")

    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts["dynamodb.PutItem"] == 3
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_a_stalled_holder_releases_the_event_and_the_next_delivery_publishes_it_once(
    aws: Aws, secret: str
) -> None:
    # Given a backfill claimed an event, then its laptop slept for 50 s before publishing
    components = composition.components()
    woke = time.time() + 50
    moments = iter([time.time(), woke, woke])
    stalled = Pipeline(
        composition.registry(),
        components.store,
        components.publisher,
        clock=lambda: next(moments),
        publish_budget_seconds=budget.PUBLISH_BUDGET_SECONDS,
    )
    event = fresh_event("invoice.paid")

    with pytest.raises(OutOfTime):
        stalled.process(parse_event(encode(event)))

    # Then it published nothing and released its claim, so Stripe's next delivery finishes the event
    assert drain(aws.sqs, aws.queue_url) == []
    retried = deliver(event, secret)
    assert retried.status == 200 and retried.body["status"] == "processed"
    logged = aws.queries.get_event(event["id"])
    assert logged is not None and logged["status"] == "PUBLISHED" and logged["attempts"] == 2
    assert [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)] == [event["id"]]
