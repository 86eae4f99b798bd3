"""Events of any size Stripe sends: stored whole in S3, pointed at by the event log and by SNS.

A body too big for an SNS message is stored in the payload bucket before the claim; the event-log
item holds the location and the message is the AWS extended client libraries' pointer. The
consumer side is read with AWS's own ``amazon-sqs-extended-client``, as a user's consumer would.
"""

from __future__ import annotations

import io
import json
import time

import jsonschema
import pytest

from contract import aws as function_aws
from infra import REPO_ROOT
from infra.fixtures.payloads import encode, fresh_event
from infra.ops.deployed import Context, Stack
from infra.ops.redrive import redrive
from stripe_webhook.adapters.payloads import payload_key
from stripe_webhook.adapters.publisher import message_attributes, message_body, needs_offload
from stripe_webhook.core.events import parse_event
from stripe_webhook.errors import PublishError
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import deliver, drain, extended_sqs_client, get_item, large_invoice, receive_all

SCHEMA = json.loads((REPO_ROOT / "functions" / "contract" / "sns-message.v2.schema.json").read_text())
INVOICE = "OBJECT#in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu"


def test_a_900_kib_incompressible_event_is_stored_whole_and_reaches_an_extended_client_consumer(
    aws: Aws, secret: str
) -> None:
    event = large_invoice(900 * 1024)
    body = encode(event)
    normal = fresh_event("customer.updated")

    first = deliver(body, secret)
    again = deliver(body, secret)  # Stripe's retry of the same event
    assert deliver(normal, secret).status == 200

    assert first.status == 200 and first.body["status"] == "processed"
    assert again.status == 200 and again.body["status"] == "duplicate"
    # The bytes Stripe signed, in the bucket under the event id; the event log points at them
    key = payload_key(event["id"])
    assert aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read() == body
    item = get_item(aws.dynamodb, aws.table, f"EVENT#{event['id']}", "EVENT")
    assert item is not None and item["status"] == "PUBLISHED"
    assert item["payload_s3"] == {"bucket": aws.bucket, "key": key, "bytes": len(body)}
    assert not {"payload", "payload_z", "payload_gz", "payload_omitted"} & item.keys()
    stored = aws.queries.get_event(event["id"])
    assert stored is not None and stored["payload"].encode() == body
    record = get_item(aws.dynamodb, aws.table, INVOICE, "STATE")
    assert record is not None and record["status"] == "open"

    # One message per event; the large one is a pointer that the contract describes ...
    raw = {m.attributes["event_id"]: m for m in drain(aws.sqs, aws.queue_url)}
    assert sorted(raw) == sorted([event["id"], normal["id"]])
    for message in raw.values():
        jsonschema.validate({"attributes": message.attributes, "body": json.loads(message.body)}, SCHEMA)
    assert raw[event["id"]].attributes["ExtendedPayloadSize"] == str(len(body))
    assert len(raw[normal["id"]].body) < 262_144 and "ExtendedPayloadSize" not in raw[normal["id"]].attributes

    # ... and that AWS's extended client turns back into the exact event: the redrive command
    # republishes both from the event log (following the stored reference) to the same queue.
    now = int(time.time())
    assert (
        redrive(
            redrive_context(aws), ["invoice.finalized", "customer.updated"], now - 86_400, now + 86_400, None
        )
        == 0
    )
    consumer = extended_sqs_client()
    received = {
        message["MessageAttributes"]["event_id"]["StringValue"]: message
        for message in receive_all(consumer, aws.queue_url)
    }
    assert received[event["id"]]["Body"].encode() == body
    assert received[normal["id"]]["Body"].encode() == encode(normal)
    assert "ExtendedPayloadSize" not in received[event["id"]]["MessageAttributes"]
    assert received[event["id"]]["MessageAttributes"]["redrive"]["StringValue"] == "true"


def redrive_context(aws_: Aws) -> Context:
    """The operator commands' context for the moto stack (its outputs as a deployed stack's)."""
    clients = {
        "dynamodb": aws_.dynamodb,
        "sns": aws_.sns,
        "sqs": aws_.sqs,
        "s3": aws_.s3,
        "secretsmanager": aws_.secretsmanager,
    }
    stack = Stack(
        "local",
        "https://example.invalid/webhook",
        aws_.table,
        aws_.topic_arn,
        "arn:secret",
        payload_bucket=aws_.bucket,
    )
    return Context(stack, clients.__getitem__, out=io.StringIO())


def test_an_event_that_s3_does_not_store_is_not_claimed_and_stripes_retry_succeeds(
    aws: Aws, secret: str
) -> None:
    faults = FaultInjector()
    faults.install(function_aws.session())
    faults.fail("s3.PutObject", Fault("InternalError", 500))
    event = large_invoice(400 * 1024)

    failed = deliver(event, secret)

    assert failed.status == 503 and failed.body["error"] == "payload_store_failed"
    assert faults.attempts["s3.PutObject"] == 3  # botocore's standard retries
    assert get_item(aws.dynamodb, aws.table, f"EVENT#{event['id']}", "EVENT") is None
    assert drain(aws.sqs, aws.queue_url) == []

    faults.heal("s3.PutObject")
    retried = deliver(event, secret)

    assert retried.status == 200 and retried.body["status"] == "processed"
    (message,) = drain(aws.sqs, aws.queue_url)
    assert json.loads(message.body)[1] == {"s3BucketName": aws.bucket, "s3Key": payload_key(event["id"])}


@pytest.mark.parametrize(
    ("size", "in_s3", "pointer"),
    [
        (262_144 - 2_000, False, False),  # fits SNS with room to spare: inline everywhere
        (262_144 - 200, True, False),  # fits, but not with a redrive's attributes: stored too
        (262_144 + 10, True, True),  # too big: a pointer to the stored copy
    ],
)
def test_around_the_sns_limit_a_message_is_the_event_or_a_pointer_to_a_stored_copy(
    aws: Aws, secret: str, size: int, in_s3: bool, pointer: bool
) -> None:
    event = fresh_event("customer.updated")
    event["data"]["object"]["metadata"] = {"notes": ""}
    event["data"]["object"]["metadata"]["notes"] = "n" * (size - len(encode(event)))
    body = encode(event)
    assert len(body) == size

    assert deliver(body, secret).status == 200

    (message,) = drain(aws.sqs, aws.queue_url)
    stored = [entry["Key"] for entry in aws.s3.list_objects_v2(Bucket=aws.bucket).get("Contents", [])]
    assert stored == ([payload_key(event["id"])] if in_s3 else [])
    assert message.body.startswith('["software.amazon.payloadoffloading.PayloadS3Pointer"') is pointer
    assert pointer or message.body.encode() == body
    assert (aws.queries.get_event(event["id"]) or {})["payload"].encode() == body


def test_the_contract_rejects_a_message_without_its_attributes_or_with_a_pointer_elsewhere() -> None:
    event = {"id": "evt_1", "type": "x", "data": {"object": {}}}
    pointer = [
        "software.amazon.payloadoffloading.PayloadS3Pointer",
        {"s3BucketName": "payloads", "s3Key": "../../etc/passwd"},
    ]
    attributes = {
        "schema_version": "2",
        "event_type": "x",
        "event_id": "evt_1",
        "object_type": "x",
        "livemode": "false",
    }
    jsonschema.validate({"attributes": attributes, "body": event}, SCHEMA)
    for message in (
        {"attributes": {"event_type": "x"}, "body": event},
        {"attributes": attributes, "body": pointer},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(message, SCHEMA)


def test_a_pointer_is_never_published_for_a_body_that_was_not_stored() -> None:
    event = parse_event(encode(large_invoice(300 * 1024)))
    attributes = message_attributes(event)

    assert needs_offload(event)
    with pytest.raises(PublishError) as raised:
        message_body(event, attributes, None)
    assert raised.value.code == "payload_not_stored"
    assert "ExtendedPayloadSize" not in attributes
