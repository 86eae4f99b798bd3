"""S3 adapter: event bodies too big for an SNS message, stored whole under their event id.

A body goes to S3 when it would not fit an SNS message (``publisher.needs_offload``). The
pipeline stores it *before* the claim, so an event-log item or a published pointer never names
an object that does not exist; a redelivery stores the same bytes again (the key is the event
id), which is harmless. The event log then keeps the location instead of the payload, and SNS
carries the AWS extended client libraries' pointer to the same object (``publisher``).

The S3 client is made only when a large event arrives: the common path never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stripe_webhook import aws
from stripe_webhook.errors import ConfigurationError, StorageError

KEY_PREFIX = "events/"


@dataclass(frozen=True)
class PayloadLocation:
    """Where one event's body is stored: the bucket, the key and the body's size in bytes."""

    bucket: str
    key: str
    size: int

    def as_item(self) -> dict[str, object]:
        return {"bucket": self.bucket, "key": self.key, "bytes": self.size}

    @classmethod
    def from_item(cls, values: dict[str, Any]) -> PayloadLocation:
        return cls(str(values["bucket"]), str(values["key"]), int(values["bytes"]))

    @classmethod
    def of_event_item(cls, item: Mapping[str, Any]) -> PayloadLocation | None:
        """Where an event-log item's body is stored, when it is in S3 (its ``payload_s3``)."""
        stored = item.get("payload_s3")
        return cls.from_item(stored) if stored else None


def payload_key(event_id: str) -> str:
    return f"{KEY_PREFIX}{event_id}.json"


class S3Payloads(aws.ServiceAdapter):
    service = "s3"

    def __init__(self, bucket: str | None, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.bucket = bucket

    def store(self, event_id: str, body: bytes) -> PayloadLocation:
        """Store ``body`` byte for byte; raise ``StorageError`` (503, Stripe retries) on failure."""
        if not self.bucket:
            raise ConfigurationError(
                "missing_payload_bucket", "the event is too large for SNS and PAYLOAD_BUCKET is not set"
            )
        location = PayloadLocation(self.bucket, payload_key(event_id), len(body))
        try:
            self.client.put_object(
                Bucket=location.bucket, Key=location.key, Body=body, ContentType="application/json"
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError("payload_store_failed", "S3 did not store the event's payload") from error
        return location

    def read(self, location: PayloadLocation) -> bytes:
        """The stored body; ``StorageError`` if S3 cannot return it (e.g. expired by the lifecycle)."""
        try:
            response = self.client.get_object(Bucket=location.bucket, Key=location.key)
            return bytes(response["Body"].read())
        except (ClientError, BotoCoreError) as error:
            raise StorageError("payload_read_failed", f"S3 did not return {location.key}") from error
