"""S3 adapter: event bodies too big for an SNS message, stored whole under their event id.

A body goes to S3 when it would not fit an SNS message (``SnsPublisher.needs_offload``). The
pipeline stores it *before* the claim, so an event-log item or a published pointer never names
an object that does not exist. An object is written once: the write is conditional
(``If-None-Match: *``, S3's conditional writes), so a second copy of the event (Stripe's retry,
the reconciler's or backfill's re-serialised listing, the EventBridge copy) writes nothing, and
the location it gets back is the stored object's own, its size read from S3: a pointer always
matches its object. The event log then keeps the location instead of the payload, and SNS
carries the AWS extended client libraries' pointer to the same object (``publisher``).

The S3 client is made only when a large event arrives: the common path never loads it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contract import MAX_BODY_BYTES, aws
from contract.aws import error_code
from stripe_webhook.errors import ConfigurationError, StorageError
from stripe_webhook.ports import PayloadLocation

OBJECT_PREFIX = "events/"


def payload_key(event_id: str) -> str:
    return f"{OBJECT_PREFIX}{event_id}.json"


class S3Payloads(aws.ServiceAdapter):
    service = "s3"

    def __init__(self, bucket: str | None, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.bucket = bucket

    def store(self, event_id: str, body: bytes) -> PayloadLocation:
        """Store ``body`` byte for byte unless the event's object exists: then that object's
        location and size, untouched. ``StorageError`` (503, Stripe retries) on failure."""
        if not self.bucket:
            raise ConfigurationError(
                "missing_payload_bucket", "the event is too large for SNS and PAYLOAD_BUCKET is not set"
            )
        location = PayloadLocation(self.bucket, payload_key(event_id), len(body))
        try:
            self.client.put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=body,
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            # 412: the object exists (an earlier copy, or this write whose answer was lost and
            # retried). 409 (a concurrent conditional write) is a StorageError: Stripe retries.
            if error_code(error) != "PreconditionFailed":
                raise StorageError("payload_store_failed", "S3 did not store the event's payload") from error
            return self._stored(location)
        except BotoCoreError as error:
            raise StorageError("payload_store_failed", "S3 did not store the event's payload") from error
        return location

    def _stored(self, location: PayloadLocation) -> PayloadLocation:
        """The object already stored at ``location``, with its own size."""
        try:
            head = self.client.head_object(Bucket=location.bucket, Key=location.key)
        except (ClientError, BotoCoreError) as error:
            raise StorageError("payload_store_failed", f"S3 did not describe {location.key}") from error
        return PayloadLocation(location.bucket, location.key, int(head["ContentLength"]))

    def read(self, location: PayloadLocation) -> bytes:
        """The stored body; ``StorageError`` if S3 cannot return it (e.g. expired by the lifecycle),
        ``UnreadableBody`` if it is larger than any body (read no further)."""
        from stripe_webhook.adapters.bodies import UnreadableBody

        try:
            body = aws.read_object(self.client, location.bucket, location.key, MAX_BODY_BYTES)
        except (ClientError, BotoCoreError) as error:
            raise StorageError("payload_read_failed", f"S3 did not return {location.key}") from error
        if len(body) > MAX_BODY_BYTES:
            raise UnreadableBody(f"{location.key} is larger than any body ({MAX_BODY_BYTES} bytes): not read")
        return body
