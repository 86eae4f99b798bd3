"""The paths around delivery (the reconciler, ``ops backfill``) held to delivery's promise: they
never corrupt what a delivery stored, never stall on what Stripe returns, and keep their state
bounded. Each test is one way it went wrong on a real run (issue 44), through the code the
deployed reconciler function runs, under moto and a Stripe Events API stand-in on loopback."""

from __future__ import annotations

import json
import time
from collections import Counter

from contract import aws as function_aws
from infra.fixtures.payloads import encode
from stripe_webhook.payloads import payload_key
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.integration.recovery import published, run
from tests.loopback_stripe import LoopbackStripe
from tests.support import deliver, drain, extended_sqs_client, large_invoice, receive_all


def stored_body(aws: Aws, event_id: str) -> bytes:
    body: bytes = aws.s3.get_object(Bucket=aws.bucket, Key=payload_key(event_id))["Body"].read()
    return body


def listed_again(event: dict[str, object]) -> dict[str, object]:
    """The event as Stripe's Events API returns it: the same fields, serialised anew (compact,
    other whitespace), so its bytes are not the ones Stripe signed."""
    return json.loads(json.dumps(event))  # type: ignore[no-any-return]


# -- must not corrupt ----------------------------------------------------------------------------


def test_a_large_event_listed_again_after_its_delivery_keeps_its_stored_bytes_and_writes_nothing(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    """Given a signed ~400 KiB invoice.paid delivered and stored byte for byte, when Stripe lists
    it as undelivered (a retry still pending at another endpoint) and the reconciler runs, then the
    object is untouched, nothing is published again, and the one message still matches it."""
    event = large_invoice(400 * 1024, "invoice.paid")
    event["created"] = int(time.time()) - 3_600
    signed = encode(event)
    assert deliver(signed, secret).body["status"] == "processed"
    (message,) = drain(aws.sqs, aws.queue_url)
    stripe.add_event(listed_again(event))

    report = run()

    assert report.known == 1 and report.recovered == [] and not report.failed
    assert stored_body(aws, event["id"]) == signed  # not the 383 KB re-serialised copy
    assert message.attributes["ExtendedPayloadSize"] == str(len(signed))
    assert published(aws) == Counter()


def test_a_copy_that_claims_after_an_earlier_store_points_at_the_stored_object_with_its_size(
    aws: Aws, stripe: LoopbackStripe, secret: str
) -> None:
    """Given a delivery whose body reached S3 but whose claim failed (DynamoDB down), when the
    reconciler's re-serialised copy is the one that claims the event, then the stored bytes stay
    Stripe's, and the pointer's size is the stored object's: the consumer reads the event whole."""
    event = large_invoice(400 * 1024, "invoice.paid")
    event["created"] = int(time.time()) - 3_600
    signed = encode(event)
    faults = FaultInjector()
    faults.install(function_aws.session())
    faults.fail("dynamodb.TransactWriteItems", Fault("InternalServerError", 500))
    assert deliver(signed, secret).status == 503
    faults.heal("dynamodb.TransactWriteItems")
    assert stored_body(aws, event["id"]) == signed and drain(aws.sqs, aws.queue_url) == []
    stripe.add_event(listed_again(event))

    report = run()

    assert report.recovered == [event["id"]]
    assert stored_body(aws, event["id"]) == signed
    (received,) = receive_all(extended_sqs_client(), aws.queue_url)
    assert received["Body"].encode() == signed
