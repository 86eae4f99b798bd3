"""Thin notifications about API v1 resources (``v1.invoice.paid``): the same records, messages and
actions as the snapshot event, each business event once during a migration.

The Stripe API is a loopback stand-in (``tests/loopback_stripe.py``) that serves the object at
``related_object.url`` and records every request's headers. Shapes as Stripe documents them:
a thin notification (``"object": "v2.core.event"``) names ``related_object`` (``id``, ``type``,
``url``), its ``context`` is sent back as ``Stripe-Context`` on every fetch, and while a migration
runs both destinations it names its twin in ``snapshot_event``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from infra.fixtures.payloads import fresh_event, merge, thin_notification, v1_thin_notification
from stripe_webhook.settings import API_VERSION
from tests.integration.conftest import Actions, Aws
from tests.integration.test_delivery_paths import THIN_SECRET, post_thin, thin_enabled  # noqa: F401 (a fixture)
from tests.loopback_stripe import LoopbackStripe
from tests.support import all_items, deliver, drain, get_item

pytestmark = pytest.mark.usefixtures("thin_enabled")


v1_notification = v1_thin_notification


def serve(stripe_api: LoopbackStripe, notification: dict[str, Any], obj: dict[str, Any]) -> None:
    stripe_api.objects[notification["related_object"]["url"]] = obj


def send(notification: dict[str, Any]) -> Any:
    return post_thin(json.dumps(notification).encode(), THIN_SECRET)


def test_a_thin_invoice_paid_keeps_the_record_and_publishes_the_business_event(
    aws: Aws, stripe_api: LoopbackStripe
) -> None:
    snapshot = fresh_event("invoice.paid")
    invoice = snapshot["data"]["object"]
    notification = v1_notification(snapshot)
    serve(stripe_api, notification, invoice)

    response = send(notification)

    assert response.status == 200 and response.body["status"] == "processed"
    assert response.body["handler"] == "billing"
    record = aws.queries.get_record(invoice["id"])
    assert record is not None and record["status"] == "paid" and record["last_event_id"] == notification["id"]
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["event_type"] == "invoice.paid"  # what an invoice.paid filter matches
    assert message.attributes["payload_style"] == "thin"
    assert message.attributes["event_id"] == notification["id"]
    body = message.json
    assert body["type"] == "invoice.paid" and body["data"]["object"] == invoice
    assert body["api_version"] == API_VERSION and body["thin_notification"] == notification
    (fetch,) = stripe_api.requests
    assert fetch.path == notification["related_object"]["url"]
    assert fetch.headers["Stripe-Version"] == API_VERSION and "Stripe-Context" not in fetch.headers
    logged = aws.queries.get_event(notification["id"])
    assert logged is not None and logged["status"] == "PUBLISHED" and logged["event_type"] == "invoice.paid"


def test_every_fetch_carries_the_notification_s_context(aws: Aws, stripe_api: LoopbackStripe) -> None:
    snapshot = fresh_event("payment_intent.succeeded")
    notification = v1_notification(snapshot, context="acct_1Nv0FGQ9RKHgCVdK")
    serve(stripe_api, notification, snapshot["data"]["object"])

    assert send(notification).status == 200

    (fetch,) = stripe_api.requests
    assert fetch.headers["Stripe-Context"] == "acct_1Nv0FGQ9RKHgCVdK"
    record = aws.queries.get_record(snapshot["data"]["object"]["id"])
    assert record is not None and record["account"] == "acct_1Nv0FGQ9RKHgCVdK"


@pytest.mark.parametrize("first", ["snapshot", "thin"])
def test_a_snapshot_event_and_its_thin_twin_are_one_business_event(
    aws: Aws, stripe_api: LoopbackStripe, secret: str, first: str
) -> None:
    snapshot = fresh_event("invoice.paid")
    notification = v1_notification(snapshot, twin=True)
    serve(stripe_api, notification, snapshot["data"]["object"])
    deliveries: dict[str, Callable[[], Any]] = {
        "snapshot": lambda: deliver(snapshot, secret),
        "thin": lambda: send(notification),
    }
    order = [first, "thin" if first == "snapshot" else "snapshot"]

    answers = [deliveries[style]() for style in order + order]  # each style, then Stripe's retries

    assert [answer.body["status"] for answer in answers] == [
        "processed",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert [answer.body["event_id"] for answer in answers] == [snapshot["id"]] * 4
    messages = drain(aws.sqs, aws.queue_url)
    assert [message.attributes["event_id"] for message in messages] == [snapshot["id"]]
    assert messages[0].attributes.get("payload_style") == ("thin" if first == "thin" else None)
    logged = aws.queries.get_event(snapshot["id"])
    assert logged is not None and logged["status"] == "PUBLISHED"
    assert logged.get("payload_style") == ("thin" if first == "thin" else None)  # which one counted
    assert get_item(aws.dynamodb, aws.table, f"EVENT#{notification['id']}", "EVENT") is None  # one claim


def test_a_late_snapshot_never_overwrites_the_fresher_fetched_state(
    aws: Aws, stripe_api: LoopbackStripe, secret: str
) -> None:
    opened = fresh_event("invoice.paid", type="invoice.finalized")
    merge(opened["data"]["object"], {"status": "open"})
    opened["created"] = int(time.time()) - 300  # the change happened 5 minutes ago
    paid = fresh_event("invoice.paid")
    notification = v1_notification(paid)
    serve(stripe_api, notification, paid["data"]["object"])  # by the time of the fetch it is paid

    assert send(notification).status == 200
    late = deliver(opened, secret)

    assert late.status == 200 and late.body["records_stale"] == 1
    record = aws.queries.get_record(paid["data"]["object"]["id"])
    assert record is not None and record["status"] == "paid"


def test_a_fetch_replaces_an_older_snapshot_s_state_and_a_newer_snapshot_replaces_the_fetch(
    aws: Aws, stripe_api: LoopbackStripe, secret: str
) -> None:
    opened = fresh_event("invoice.paid", type="invoice.finalized")
    merge(opened["data"]["object"], {"status": "open"})
    opened["created"] = int(time.time()) - 300
    assert deliver(opened, secret).status == 200
    invoice_id = opened["data"]["object"]["id"]
    paid = fresh_event("invoice.paid")
    notification = v1_notification(paid)
    serve(stripe_api, notification, paid["data"]["object"])

    assert send(notification).body["records_written"] == 1
    record = aws.queries.get_record(invoice_id)
    assert record is not None and record["status"] == "paid"

    voided = copy.deepcopy(paid)
    voided["id"] = fresh_event("invoice.paid")["id"]
    voided["type"] = "invoice.voided"
    merge(voided["data"]["object"], {"status": "void"})
    voided["created"] = int(time.time()) + 60  # a change after the fetch
    assert deliver(voided, secret).body["records_written"] == 1
    record = aws.queries.get_record(invoice_id)
    assert record is not None and record["status"] == "void"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"url": "/v1/customers/cus_elsewhere"}, 400, "not_a_thin_event"),
        ({"url": "/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu/../../v1/customers"}, 400, "not_a_thin_event"),
    ],
    ids=["another object's url", "a path that climbs"],
)
def test_a_notification_whose_url_is_not_its_object_s_is_refused(
    aws: Aws, stripe_api: LoopbackStripe, change: dict[str, str], status: int, error: str
) -> None:
    snapshot = fresh_event("invoice.paid")
    notification = v1_notification(snapshot)
    notification["related_object"].update(change)

    response = send(notification)

    assert (response.status, response.body["error"]) == (status, error)
    assert stripe_api.requests == [] and all_items(aws.dynamodb, aws.table) == []


def test_an_answer_about_another_object_is_a_503_and_nothing_is_kept(
    aws: Aws, stripe_api: LoopbackStripe
) -> None:
    snapshot = fresh_event("invoice.paid")
    notification = v1_notification(snapshot)
    serve(stripe_api, notification, {**snapshot["data"]["object"], "id": "in_someone_else"})

    response = send(notification)

    assert (response.status, response.body["error"]) == (503, "stripe_api_mismatch")
    assert all_items(aws.dynamodb, aws.table) == [] and drain(aws.sqs, aws.queue_url) == []


def test_without_an_api_key_a_thin_v1_event_is_a_5xx_so_stripe_retries(aws: Aws) -> None:
    notification = v1_notification(fresh_event("invoice.paid"))

    response = send(notification)

    assert response.status >= 500 and response.body["error"] == "missing_api_key"
    assert all_items(aws.dynamodb, aws.table) == []


def test_an_unhandled_v1_type_is_stored_and_published_without_a_fetch(
    aws: Aws, stripe_api: LoopbackStripe
) -> None:
    notification = thin_notification("v1.billing.meter.error_report_triggered")

    response = send(notification)

    assert response.status == 200 and response.body["handler"] is None
    assert stripe_api.requests == []


def test_the_example_actions_run_from_thin_deliveries(actions: Actions, stripe_api: LoopbackStripe) -> None:
    snapshot = fresh_event("invoice.paid")
    notification = v1_notification(snapshot)
    serve(stripe_api, notification, snapshot["data"]["object"])

    assert send(notification).status == 200
    outcomes = actions.run()

    invoice = snapshot["data"]["object"]["id"]
    assert f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)" in actions.lines(outcomes)
    assert len(actions.emails()) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # 8 invocations share one process
def test_twins_arriving_together_under_dynamodb_s_real_concurrency_are_one_business_event_each(
    aws: Aws, stripe_api: LoopbackStripe, secret: str
) -> None:
    """Snapshot events and their thin twins, two copies of each, sent by 8 threads at once while
    ``tests/aws_model.py`` makes moto hold a transaction's items while it is in flight (concurrent
    claims see ``TransactionConflict``) and throttles, answers 500 and loses answers; a delivery
    that gets no 2xx is sent again, as Stripe does."""
    from concurrent.futures import ThreadPoolExecutor

    from contract import aws as aws_clients
    from tests.aws_model import AwsModel, Rates

    model = AwsModel(Rates(sns_lost_answer=0.0, kill=0.0), seed=int(time.time()))
    model.install(aws_clients.session())
    twins = []
    for number in range(12):
        snapshot = fresh_event("invoice.paid")
        snapshot["data"]["object"]["id"] = f"in_twin{number:02d}{int(time.time())}"
        notification = v1_notification(snapshot, twin=True)
        serve(stripe_api, notification, snapshot["data"]["object"])
        twins.append((snapshot, notification))
    pending = [
        (lambda s=snapshot: deliver(s, secret)) if style == "snapshot" else (lambda n=notification: send(n))
        for snapshot, notification in twins
        for style in ("snapshot", "thin", "snapshot", "thin")
    ]

    rounds = 0
    with ThreadPoolExecutor(8) as pool:
        while pending and rounds < 10:
            answers = list(pool.map(lambda call: (call, call()), pending))
            pending = [call for call, answer in answers if answer.status != 200]
            rounds += 1
            if rounds == 4:
                model.calm()

    assert pending == []
    messages = drain(aws.sqs, aws.queue_url)
    assert sorted(message.attributes["event_id"] for message in messages) == sorted(
        snapshot["id"] for snapshot, _ in twins
    )  # a standard topic: no SNS answer was lost, so exactly one copy each
    for snapshot, notification in twins:
        logged = aws.queries.get_event(snapshot["id"])
        assert logged is not None and logged["status"] == "PUBLISHED"
        assert get_item(aws.dynamodb, aws.table, f"EVENT#{notification['id']}", "EVENT") is None
    assert model.injected["dynamodb conflict"] + model.injected["dynamodb throttled"] > 0


def test_a_thin_twin_waits_for_a_live_snapshot_holder_and_takes_over_a_dead_one(
    aws: Aws, stripe_api: LoopbackStripe, secret: str
) -> None:
    """The lease model with twins: the snapshot delivery's invocation dies after its claim, before
    its publish (Lambda stopping it); the thin twin gets 409 while the lease lives, and after it
    takes the event over and publishes it once, flagged as a possible copy (the dead holder's
    publish cannot be ruled out by the function)."""
    from contract import aws as aws_clients
    from tests.aws_model import Killed
    from tests.faults import Fault, FaultInjector

    snapshot = fresh_event("invoice.paid")
    notification = v1_notification(snapshot, twin=True)
    serve(stripe_api, notification, snapshot["data"]["object"])
    faults = FaultInjector({"sns.Publish": Fault(raise_=Killed, times=1)})
    faults.install(aws_clients.session())

    with pytest.raises(Killed):
        deliver(snapshot, secret)
    busy = send(notification)
    aws.dynamodb.update_item(  # the lease runs out (60 s later)
        TableName=aws.table,
        Key={"pk": {"S": f"EVENT#{snapshot['id']}"}, "sk": {"S": "EVENT"}},
        UpdateExpression="SET lease_expires_at = :gone",
        ExpressionAttributeValues={":gone": {"N": "1"}},
    )
    taken = send(notification)
    retried = deliver(snapshot, secret)

    assert (busy.status, busy.body["error"]) == (409, "in_progress")
    assert taken.status == 200 and taken.body["status"] == "processed"
    assert retried.body["status"] == "duplicate"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["event_id"] == snapshot["id"]
    assert (
        message.attributes["payload_style"] == "thin" and message.attributes["possible_duplicate"] == "true"
    )
