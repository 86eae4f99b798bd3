"""The deployed handler end to end under moto: status, event log, records, and what consumers receive."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event, load_event, thin_notification
from infra.fixtures.signing import signature_header
from infra.local.resources import subscribe_queue
from stripe_webhook import composition
from stripe_webhook.adapters.store import DynamoStore
from stripe_webhook.core.events import parse_event
from tests.integration.conftest import Aws
from tests.support import all_items, deliver, drain, get_item, invoke, signed_request


def event_item(aws: Aws, event_id: str) -> dict[str, Any] | None:
    """The event-log item with its stored body read back (``payload``, byte-exact)."""
    return aws.queries.get_event(event_id)


def test_new_event_is_stored_recorded_and_published_once(aws: Aws, secret: str) -> None:
    # Given a payment_intent.succeeded as Stripe sends it
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)

    # When it is delivered with a valid signature
    response = deliver(body, secret)

    # Then it is answered 200, logged, recorded and published exactly once
    assert response.status == 200
    assert response.body["status"] == "processed"
    assert response.body["handler"] == "payments"
    logged = event_item(aws, event["id"])
    assert logged is not None
    assert logged["status"] == "PUBLISHED"
    assert logged["event_type"] == "payment_intent.succeeded"
    assert logged["created"] == event["created"]
    assert logged["livemode"] is False
    assert logged["api_version"] == "2024-06-20"
    assert logged["payload"] == body.decode()
    assert logged["expires_at"] > time.time() + 30 * 86_400
    assert logged["sns_message_id"] == response.body["message_id"]

    payment = get_item(aws.dynamodb, aws.table, "OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    assert payment is not None
    assert payment["status"] == "succeeded"
    assert payment["amount_received"] == 4999
    assert payment["customer"] == "cus_R9p2JgW7tYvN4c"
    assert payment["last_event_id"] == event["id"]

    messages = drain(aws.sqs, aws.queue_url)
    assert len(messages) == 1
    assert messages[0].body == body.decode()
    attributes = dict(messages[0].attributes)
    assert json.loads(attributes.pop("record")) == payment  # the record this delivery wrote
    assert attributes == {
        "schema_version": "2",
        "event_type": "payment_intent.succeeded",
        "event_id": event["id"],
        "object_type": "payment_intent",
        "livemode": "false",
    }


def test_redelivery_is_answered_200_without_a_second_publish_or_write(aws: Aws, secret: str) -> None:
    event = fresh_event("payment_intent.succeeded")
    assert deliver(event, secret).status == 200
    record_before = get_item(aws.dynamodb, aws.table, "OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    drain(aws.sqs, aws.queue_url)

    # Stripe retries with a new timestamp and signature, same event id
    retried = deliver(event, secret, timestamp=int(time.time()) + 2)

    assert retried.status == 200
    assert retried.body["status"] == "duplicate"
    assert drain(aws.sqs, aws.queue_url) == []
    record_after = get_item(aws.dynamodb, aws.table, "OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    assert record_after == record_before


@pytest.mark.parametrize(
    ("event_type", "pk", "sk", "expected"),
    [
        (
            "payment_method.attached",
            "OBJECT#pm_1QJ7kKF2eZvKYlo2c8yQ3m9s",
            "STATE",
            {"type": "card", "card_brand": "visa", "card_last4": "4242", "attached": True},
        ),
        (
            "charge.dispute.created",
            "OBJECT#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq",
            "STATE",
            {"status": "needs_response", "reason": "fraudulent", "evidence_due_by": 1732319999},
        ),
        (
            "balance.available",
            "BALANCE#platform",
            "BALANCE#test",
            {"available": [{"amount": 1843211, "currency": "usd"}, {"amount": 25000, "currency": "eur"}]},
        ),
    ],
)
def test_each_core_handler_keeps_its_record(
    aws: Aws, secret: str, event_type: str, pk: str, sk: str, expected: dict[str, Any]
) -> None:
    response = deliver(fresh_event(event_type), secret)

    assert response.status == 200
    record = get_item(aws.dynamodb, aws.table, pk, sk)
    assert record is not None
    assert {name: record.get(name) for name in expected} == expected
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_event_without_a_handler_is_stored_published_and_answered_200(aws: Aws, secret: str) -> None:
    event = fresh_event("product.created")

    response = deliver(event, secret)

    assert response.status == 200
    assert response.body == {**response.body, "status": "processed", "handler": None}
    assert [item["pk"] for item in all_items(aws.dynamodb, aws.table)] == [f"EVENT#{event['id']}"]
    messages = drain(aws.sqs, aws.queue_url)
    assert [message.attributes["event_type"] for message in messages] == ["product.created"]


def test_connect_account_is_kept_on_the_event_the_record_and_the_message(aws: Aws, secret: str) -> None:
    event = fresh_event("charge.dispute.created", account="acct_1Nv0FGQ9RKHgCVdK")

    assert deliver(event, secret).status == 200

    assert event_item(aws, event["id"])["account"] == "acct_1Nv0FGQ9RKHgCVdK"  # type: ignore[index]
    dispute = get_item(aws.dynamodb, aws.table, "OBJECT#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq", "STATE")
    assert dispute is not None and dispute["account"] == "acct_1Nv0FGQ9RKHgCVdK"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert message.attributes["account"] == "acct_1Nv0FGQ9RKHgCVdK"


@pytest.mark.parametrize("header_name", ["Stripe-Signature", "stripe-signature", "STRIPE-SIGNATURE"])
def test_signature_header_is_found_in_any_letter_case(aws: Aws, secret: str, header_name: str) -> None:
    assert deliver(fresh_event("product.created"), secret, header_name=header_name).status == 200


def test_header_only_in_multi_value_headers_is_found(aws: Aws, secret: str) -> None:
    body = encode(fresh_event("product.created"))
    request = signed_request(body, secret)
    request["headers"] = {"Content-Type": "application/json"}
    assert invoke(request).status == 200


def test_base64_encoded_body_is_verified_over_the_decoded_bytes(aws: Aws, secret: str) -> None:
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)

    response = deliver(body, secret, base64_body=True)

    assert response.status == 200
    assert event_item(aws, event["id"])["payload"] == body.decode()  # type: ignore[index]


def test_any_configured_secret_and_any_v1_signature_is_accepted(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = "whsec_" + "a1" * 16, "whsec_" + "b2" * 16
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{old}, {new}")
    composition.reset()
    body = encode(fresh_event("product.created"))
    t = int(time.time())
    wrong = signature_header(body, "whsec_" + "c3" * 16, t).split(",")[1]
    right = signature_header(body, new, t).split(",")[1]

    # Stripe sends one v1 per active secret while a secret is being rolled
    response = deliver(body, new, header=f"t={t},{wrong},{right}")

    assert response.status == 200


def test_secret_is_read_from_secrets_manager_when_no_inline_secret(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    arn = aws.secretsmanager.create_secret(Name="stripe/webhook", SecretString=f"{secret},whsec_other")["ARN"]
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_ARN", arn)
    composition.reset()

    assert deliver(fresh_event("product.created"), secret).status == 200
    assert deliver(fresh_event("product.created"), "whsec_other").status == 200
    assert deliver(fresh_event("product.created"), "whsec_nope").status == 400


def test_unreadable_secret_is_a_5xx_so_stripe_retries(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv(
        "STRIPE_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
    )
    composition.reset()

    response = deliver(fresh_event("product.created"), secret)

    assert response.status == 500
    assert response.body["error"] == "secret_unavailable"
    assert all_items(aws.dynamodb, aws.table) == []


def _bad_requests(secret: str) -> dict[str, tuple[dict[str, Any], int, str]]:
    """Each bad input: the request, the expected status, the expected error code."""
    event = fresh_event("payment_intent.succeeded")
    body = encode(event)
    now = int(time.time())

    def signed(raw: bytes, **options: Any) -> dict[str, Any]:
        return signed_request(raw, secret, **options)

    tampered = bytearray(body)
    tampered[body.index(b"4999")] = ord("9")
    no_header = signed(body)
    del no_header["headers"]["Stripe-Signature"]
    no_header["multiValueHeaders"].pop("Stripe-Signature")
    not_utf8 = signed(b'{"id": "evt_\xff\xfe", "type": "x"}')
    thin = thin_notification()
    bad_base64 = signed(body)
    bad_base64.update(body="%%% not base64 %%%", isBase64Encoded=True)
    return {
        "missing header": (no_header, 400, "missing_signature_header"),
        "empty header": (signed(body, header=""), 400, "missing_signature_header"),
        "garbage header": (signed(body, header="garbage"), 400, "malformed_signature_header"),
        "no v1": (signed(body, header=f"t={now},v0=abc"), 400, "malformed_signature_header"),
        "wrong secret": (signed_request(body, "whsec_" + "0f" * 16), 400, "signature_mismatch"),
        "tampered body": (
            signed(bytes(tampered), header=signature_header(body, secret, now)),
            400,
            "signature_mismatch",
        ),
        "stale timestamp": (signed(body, timestamp=now - 400), 400, "timestamp_out_of_tolerance"),
        "future timestamp": (signed(body, timestamp=now + 400), 400, "timestamp_out_of_tolerance"),
        "not json": (signed(b"this is not json"), 400, "invalid_payload"),
        "not utf-8": (not_utf8, 400, "invalid_payload"),
        "json array": (signed(b'[{"id": "evt_1", "type": "x"}]'), 400, "not_an_event"),
        "no id": (
            signed(json.dumps({"object": "event", "type": "charge.succeeded"}).encode()),
            400,
            "not_an_event",
        ),
        "numeric id": (
            signed(json.dumps({"id": 7, "type": "charge.succeeded"}).encode()),
            400,
            "not_an_event",
        ),
        "thin event": (signed(json.dumps(thin).encode()), 400, "not_an_event"),
        "bad base64": (bad_base64, 400, "invalid_payload"),
        "too large": (signed(b" " * (6_291_456 + 1)), 413, "payload_too_large"),
    }


BAD_REQUEST_NAMES = list(_bad_requests("whsec_x"))


@pytest.mark.parametrize("case", BAD_REQUEST_NAMES)
def test_bad_input_is_rejected_and_leaves_no_trace(aws: Aws, secret: str, case: str) -> None:
    request, status, code = _bad_requests(secret)[case]

    response = invoke(request)

    assert response.status == status
    assert response.body["error"] == code
    assert "Traceback" not in response.raw_body
    assert all_items(aws.dynamodb, aws.table) == []
    assert drain(aws.sqs, aws.queue_url) == []


def test_forged_request_with_a_real_event_id_cannot_poison_the_genuine_delivery(
    aws: Aws, secret: str
) -> None:
    event = fresh_event("payment_intent.succeeded")
    forged = dict(event, data={"object": {**event["data"]["object"], "amount_received": 1}})

    assert deliver(forged, "whsec_" + "66" * 16).status == 400
    genuine = deliver(event, secret)

    assert genuine.status == 200
    assert genuine.body["status"] == "processed"
    payment = get_item(aws.dynamodb, aws.table, "OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    assert payment is not None and payment["amount_received"] == 4999
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_publish_failure_is_a_5xx_and_the_redelivery_publishes_once_without_rewriting(
    aws: Aws, secret: str
) -> None:
    event = fresh_event("payment_intent.succeeded")
    key = ("OBJECT#pi_3QJ7kLF2eZvKYlo21bVQh0rT", "STATE")
    # Given SNS is failing (the topic is gone)
    aws.sns.delete_topic(TopicArn=aws.topic_arn)

    failed = deliver(event, secret)

    assert failed.status == 503
    assert failed.body["error"] == "publish_failed"
    assert event_item(aws, event["id"])["status"] == "IN_PROGRESS"  # type: ignore[index]
    # Mark the record so a second business write would be visible
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
        UpdateExpression="SET probe = :p",
        ExpressionAttributeValues={":p": {"S": "untouched"}},
    )

    # When SNS is back and Stripe redelivers
    aws.sns.create_topic(Name="stripe-webhooks-events", Attributes={"KmsMasterKeyId": "alias/aws/sns"})
    queue = subscribe_queue(aws.sns, aws.sqs, aws.topic_arn, "consumer-after-outage")
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    # Then it is published exactly once and the record was not written again
    assert retried.status == 200
    assert retried.body["status"] == "processed"
    assert [message.attributes["event_id"] for message in drain(aws.sqs, queue)] == [event["id"]]
    assert event_item(aws, event["id"])["status"] == "PUBLISHED"  # type: ignore[index]
    record = get_item(aws.dynamodb, aws.table, *key)
    assert record is not None and record["probe"] == "untouched"
    assert deliver(event, secret).body["status"] == "duplicate"


def _store(aws: Aws, lease_seconds: int = 60) -> DynamoStore:
    return DynamoStore(aws.table, lease_seconds=lease_seconds, retention_seconds=86_400, client=aws.dynamodb)


def test_delivery_while_another_holds_the_lease_gets_409_and_nothing_is_published(
    aws: Aws, secret: str
) -> None:
    event = fresh_event("product.created")
    # Given another delivery of the same event has claimed it and is still working
    _store(aws).claim(parse_event(encode(event)), [], None, time.time())

    response = deliver(event, secret)

    assert response.status == 409
    assert response.body["error"] == "in_progress"
    assert drain(aws.sqs, aws.queue_url) == []


def test_event_abandoned_mid_flight_is_completed_after_the_lease_expires(aws: Aws, secret: str) -> None:
    event = fresh_event("product.created")
    # Given a delivery claimed the event two minutes ago and died before publishing
    _store(aws).claim(parse_event(encode(event)), [], None, time.time() - 120)

    response = deliver(event, secret)

    assert response.status == 200
    assert response.body["status"] == "processed"
    assert event_item(aws, event["id"])["attempts"] == 2  # type: ignore[index]
    assert len(drain(aws.sqs, aws.queue_url)) == 1


def test_older_event_arriving_late_does_not_overwrite_newer_state(aws: Aws, secret: str) -> None:
    newer = fresh_event("charge.dispute.created", created=2_000)
    newer["data"]["object"]["status"] = "under_review"
    older = fresh_event("charge.dispute.created", created=1_000)

    assert deliver(newer, secret).status == 200
    late = deliver(older, secret)

    assert late.status == 200
    assert late.body["records_stale"] == 1
    dispute = get_item(aws.dynamodb, aws.table, "OBJECT#du_1QJ9aCF2eZvKYlo2Vx8Lm4Pq", "STATE")
    assert dispute is not None and dispute["status"] == "under_review"
    assert len(drain(aws.sqs, aws.queue_url)) == 2  # both events still reach consumers


def test_consumer_with_a_filter_policy_receives_exactly_the_matching_events(aws: Aws, secret: str) -> None:
    disputes_only = subscribe_queue(
        aws.sns,
        aws.sqs,
        aws.topic_arn,
        "disputes-consumer",
        {"event_type": [{"prefix": "charge.dispute."}], "livemode": ["false"]},
    )
    sent = {
        name: fresh_event(name)
        for name in ("charge.dispute.created", "payment_intent.succeeded", "product.created")
    }

    for event in sent.values():
        assert deliver(event, secret).status == 200

    assert [message.attributes["event_id"] for message in drain(aws.sqs, disputes_only)] == [
        sent["charge.dispute.created"]["id"]
    ]
    assert len(drain(aws.sqs, aws.queue_url)) == 3


def test_missing_configuration_is_a_500_with_a_clear_code(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    composition.reset()

    response = deliver(fresh_event("product.created"), secret)

    assert response.status == 500
    assert response.body["error"] == "missing_configuration"
    assert "TABLE_NAME" in response.body["message"]


def test_stored_payload_round_trips_for_every_sample(aws: Aws, secret: str) -> None:
    for name in ("payment_intent.succeeded", "payment_method.attached", "balance.available"):
        event = load_event(name)
        event["created"] = int(time.time())
        body = encode(event)
        assert deliver(body, secret).status == 200
        assert event_item(aws, event["id"])["payload"] == body.decode()  # type: ignore[index]


def test_the_body_is_kept_by_the_first_mark_or_release_and_never_replaced_by_a_copy(
    aws: Aws, secret: str
) -> None:
    """The claim's transaction would pay for the body twice; the mark or a release keeps it, once."""
    event = fresh_event("customer.created")
    first, copy = (
        encode(event),
        json.dumps(event, separators=(",", ":")).encode(),
    )  # one event, two byte strings
    store = _store(aws)
    # Given a delivery claimed the event: the item holds its lease, not its body
    claim = store.claim(parse_event(first), [], None, time.time() - 120)
    assert claim.token is not None
    assert "payload_z" not in (event_item(aws, event["id"]) or {})
    # When it releases (its publish failed), the body is kept
    assert store.release(parse_event(first), claim.token)
    assert aws.queries.get_event(event["id"])["payload"] == first.decode()  # type: ignore[index]

    # Then a later delivery of a copy with other bytes publishes it, and the stored body stays the first's
    sent = invoke(signed_request(copy, secret))
    assert sent.status == 200 and sent.body["status"] == "processed"
    stored = aws.queries.get_event(event["id"])
    assert stored is not None and stored["status"] == "PUBLISHED" and stored["payload"] == first.decode()
