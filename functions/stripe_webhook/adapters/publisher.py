"""SNS adapter: publish each event once, with the attributes consumers filter on.

The client makes one attempt per call (``aws.ONE_ATTEMPT``); this adapter makes up to
``aws.MAX_ATTEMPTS`` with botocore's backoff, but re-sends only what SNS cannot have
accepted: a refused connection, a throttle or a 5xx answer. When a request was sent and its
answer lost (read timeout, dropped connection), SNS may have accepted it: on a standard topic a
re-send would be a second copy, so the publish fails as ``publish_uncertain`` (the pipeline
releases the claim; Stripe's retry publishes it again, same ``event_id``). A FIFO topic (its ARN
ends in ``.fifo``) deduplicates on ``MessageDeduplicationId`` = the event id for 5 minutes, so
there a lost answer is simply re-sent; ``MessageGroupId`` = the Stripe object id keeps each
object's messages in order.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from contract import (
    EXTENDED_PAYLOAD_SIZE,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_RECORD_BYTES,
    PAYLOAD_STYLE_THIN,
    POINTER_CLASS,
    RECONCILIATION,
    RECORD,
    SCHEMA_VERSION,
    aws,
)
from stripe_webhook.core.events import StripeEvent, parse_stored_event
from stripe_webhook.errors import PublishError
from stripe_webhook.ports import PayloadLocation

SNS_MAX_MESSAGE_BYTES = 262_144
"""SNS's limit for the message body plus all attribute names, types and values."""
NOT_SENT = (ConnectTimeoutError, EndpointConnectionError)
"""botocore errors raised before a request left the machine: always safe to re-send."""
ATTRIBUTE_HEADROOM_BYTES = 1024
ATTRIBUTE_BOUND_BYTES = 4096
"""More than the attributes ``message_attributes`` can make: their names and types, and values
bounded by the parser (an id or an account 255 characters, a type 255, an object type 100)."""
MAX_GROUP_ID = 128
FIFO_DEDUPLICATION_SECONDS = 300
"""SNS FIFO topics drop a message whose deduplication id they accepted in the last 5 minutes
(Amazon SNS Developer Guide, "Message deduplication for FIFO topics")."""
THROTTLED = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "KMSThrottling"})


def message_attributes(
    event: StripeEvent, extra: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    values = {
        "schema_version": SCHEMA_VERSION,
        "event_type": event.type,
        "event_id": event.id,
        "object_type": event.object_type,
        "livemode": "true" if event.livemode else "false",
    }
    if event.account and event.account.startswith("acct_"):
        values["account"] = event.account
    if event.thin:
        values.update(PAYLOAD_STYLE_THIN)
    if event.reconciliation:
        values.update(RECONCILIATION)
    values.update(extra or {})
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def attribute_bytes(attributes: Mapping[str, Mapping[str, str]]) -> int:
    """What the attributes count towards SNS's limit: every name, type and value, in bytes."""
    return sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


def needs_offload(event: StripeEvent) -> bool:
    """Whether the event's body must be stored in S3 because it may not fit an SNS message: with
    its attributes and room for any added later (a redrive's, the pointer's size) it is too big.
    A body far under the limit is answered without building the attributes (every event asks)."""
    if len(event.raw) + ATTRIBUTE_BOUND_BYTES + ATTRIBUTE_HEADROOM_BYTES <= SNS_MAX_MESSAGE_BYTES:
        return False
    size = len(event.raw) + attribute_bytes(message_attributes(event)) + ATTRIBUTE_HEADROOM_BYTES
    return size > SNS_MAX_MESSAGE_BYTES


def message_body(
    event: StripeEvent, attributes: dict[str, dict[str, str]], payload: PayloadLocation | None
) -> str:
    """The event as Stripe sent it or, when that is too big for SNS, the extended client libraries'
    pointer to its stored copy (``payload``); this adds the ``ExtendedPayloadSize`` attribute."""
    if len(event.raw) + attribute_bytes(attributes) <= SNS_MAX_MESSAGE_BYTES:
        return event.raw.decode("utf-8")
    if payload is None:
        raise PublishError("payload_not_stored", "the event is too large for SNS and was not stored in S3")
    attributes[EXTENDED_PAYLOAD_SIZE] = {"DataType": "Number", "StringValue": str(payload.size)}
    return json.dumps([POINTER_CLASS, {"s3BucketName": payload.bucket, "s3Key": payload.key}])


def add_record(
    attributes: dict[str, dict[str, str]], body_bytes: int, record: Mapping[str, Any] | None
) -> None:
    """Carry ``record`` (``contract.RECORD``) when the body is the event itself and the message has
    room: at most ``MAX_MESSAGE_ATTRIBUTES`` attributes, the record at most ``MAX_RECORD_BYTES``,
    the whole within SNS's limit. Otherwise it is left out, and a consumer reads the record."""
    if record is None or EXTENDED_PAYLOAD_SIZE in attributes or len(attributes) >= MAX_MESSAGE_ATTRIBUTES:
        return
    try:
        value = json.dumps(record, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # nothing a handler stores, but never a failed publish
        return
    added = {RECORD: {"DataType": "String", "StringValue": value}}
    if len(value) <= MAX_RECORD_BYTES and (
        body_bytes + attribute_bytes(attributes) + attribute_bytes(added) <= SNS_MAX_MESSAGE_BYTES
    ):
        attributes.update(added)


def stored_message(
    item: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> tuple[str, dict[str, dict[str, str]]]:
    """The message body and attributes an event-log item (as ``queries.get_event`` returns it) is
    published with: what the tools show and redrive."""
    event = parse_stored_event(str(item["payload"]).encode("utf-8"))
    attributes = message_attributes(event, extra)
    return message_body(event, attributes, PayloadLocation.of_event_item(item)), attributes


def message_group(event: StripeEvent) -> str:
    """A FIFO topic's ``MessageGroupId`` (at most 128 characters): the Stripe object, so that its
    messages stay in order; a longer id (ids hold 255) by its digest."""
    group = event.object_id or event.id
    return group if len(group) <= MAX_GROUP_ID else hashlib.sha256(group.encode()).hexdigest()


class SnsPublisher(aws.ServiceAdapter):
    service = "sns"

    def __init__(
        self,
        topic_arn: str,
        *,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(client)
        self._topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")
        self.dedup_window_seconds = float(FIFO_DEDUPLICATION_SECONDS if self.fifo else 0)
        """How long the topic itself drops a second copy of a message (standard topics: never)."""
        self._sleep = sleep

    def needs_offload(self, event: StripeEvent) -> bool:
        return needs_offload(event)

    def publish(
        self,
        event: StripeEvent,
        *,
        payload: PayloadLocation | None = None,
        extra_attributes: Mapping[str, str] | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> str:
        """Publish the event (a pointer to ``payload`` when it is too big for SNS), with ``record``
        when it fits (``add_record``); return SNS's message id or raise ``PublishError``."""
        attributes = message_attributes(event, extra_attributes)
        body = message_body(event, attributes, payload)
        add_record(attributes, len(event.raw), record)
        request: dict[str, Any] = {
            "TopicArn": self._topic_arn,
            "Message": body,
            "MessageAttributes": attributes,
        }
        if self.fifo:
            request["MessageGroupId"] = message_group(event)
            request["MessageDeduplicationId"] = event.id
        attempt = 1
        answer = self._send(request)
        while isinstance(answer, Failed) and answer.retry and attempt < aws.MAX_ATTEMPTS:
            self._sleep(random.uniform(0, 2 ** (attempt - 1)))  # noqa: S311 (botocore's jitter)
            attempt += 1
            answer = self._send(request)
        if isinstance(answer, Failed):
            raise answer.error
        return answer

    def _send(self, request: dict[str, Any]) -> str | Failed:
        """One attempt: SNS's message id, or why it failed and whether a re-send is safe."""
        try:
            return str(self.client.publish(**request)["MessageId"])
        except ClientError as error:
            code = aws.error_code(error)
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            retry = code in THROTTLED or status == 429 or status >= 500
            return Failed.of(error, "publish_failed", f"SNS rejected the publish: {code}", retry=retry)
        except NOT_SENT as error:
            return Failed.of(error, "publish_unreachable", "SNS could not be reached", retry=True)
        except BotoCoreError as error:  # sent, and its answer lost: SNS may have accepted it
            lost = "SNS's answer was lost; it may have accepted the message"
            return Failed.of(error, "publish_uncertain", lost, retry=self.fifo)


@dataclass(frozen=True)
class Failed:
    """A failed attempt to publish: the error to raise, and whether sending again is safe (SNS
    cannot have accepted it, or a FIFO topic drops the copy)."""

    error: PublishError
    retry: bool

    @classmethod
    def of(cls, cause: Exception, code: str, message: str, *, retry: bool) -> Failed:
        error = PublishError(code, message)
        error.__cause__ = cause
        return cls(error, retry)
