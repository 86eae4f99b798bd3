"""SNS adapter: publish each event once, with the attributes consumers filter on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stripe_webhook import aws
from stripe_webhook.errors import PublishError
from stripe_webhook.events import StripeEvent

SCHEMA_VERSION = "1"
"""Version of the message contract (attributes + body), sent as the ``schema_version`` attribute."""
SNS_MAX_MESSAGE_BYTES = 262_144
"""SNS's limit for the message body plus all attribute names, types and values."""


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
    if event.account:
        values["account"] = event.account
    values.update(extra or {})
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def reference_message(event: StripeEvent) -> str:
    """What consumers get when the event is too big for SNS; the full event stays in the event log."""
    return json.dumps(
        {
            "id": event.id,
            "object": "event",
            "type": event.type,
            "created": event.created,
            "livemode": event.livemode,
            "account": event.account,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "truncated": True,
        },
        separators=(",", ":"),
    )


def message_body(event: StripeEvent, attributes: dict[str, dict[str, str]]) -> str:
    attribute_bytes = sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )
    if len(event.raw) + attribute_bytes <= SNS_MAX_MESSAGE_BYTES:
        return event.raw.decode("utf-8")
    return reference_message(event)


class SnsPublisher(aws.ServiceAdapter):
    service = "sns"

    def __init__(self, topic_arn: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._topic_arn = topic_arn

    def publish(self, event: StripeEvent, extra_attributes: Mapping[str, str] | None = None) -> str:
        """Publish the event; return SNS's message id or raise ``PublishError``."""
        attributes = message_attributes(event, extra_attributes)
        try:
            response = self.client.publish(
                TopicArn=self._topic_arn,
                Message=message_body(event, attributes),
                MessageAttributes=attributes,
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise PublishError("publish_failed", f"SNS rejected the publish: {code}") from error
        except BotoCoreError as error:
            raise PublishError("publish_unreachable", "SNS could not be reached") from error
        return str(response["MessageId"])
