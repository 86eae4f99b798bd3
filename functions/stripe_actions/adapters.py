"""The example actions' side effects: their own DynamoDB table, SES and an SNS topic.

Each takes its client as a parameter (made lazily by ``contract.aws`` otherwise), so the
tests hand in moto's or a fault-injecting one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from contract import aws
from stripe_actions.actions import Write
from stripe_actions.items import from_item, to_item

FULFILMENT_PREFIX = "FULFILMENT#"
ENTITLEMENT_PREFIX = "ENTITLEMENT#"


def fulfilment_key(order_id: str) -> tuple[str, str]:
    return f"{FULFILMENT_PREFIX}{order_id}", "ORDER"


def entitlement_key(customer_id: str, subscription_id: str) -> tuple[str, str]:
    return f"{ENTITLEMENT_PREFIX}{customer_id}", subscription_id


def _refused(error: ClientError) -> bool:
    return aws.error_code(error) == "ConditionalCheckFailedException"


class ActionsTable(aws.ServiceAdapter):
    """What the actions write for a product to read: fulfilments and entitlements (pk/sk)."""

    service = "dynamodb"

    def __init__(self, table_name: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.table_name = table_name

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.table_name, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def put_new(self, pk: str, sk: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Write the item unless it exists; return what is stored either way."""
        try:
            self.client.put_item(**self._new(pk, sk, values), ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as error:
            if not _refused(error):
                raise
            old = error.response.get("Item")
            return from_item(old) if isinstance(old, dict) and old else dict(self.get(pk, sk) or {})
        return {**values, "pk": pk, "sk": sk}

    def put_if_newer(self, pk: str, sk: str, values: Mapping[str, Any], as_of: int) -> bool:
        """Write the item unless it holds state as new or newer (``as_of``); True if written."""
        try:
            self.client.put_item(**self._newer(pk, sk, values, as_of))
        except ClientError as error:
            if _refused(error):
                return False
            raise
        return True

    def write_new(self, pk: str, sk: str, values: Mapping[str, Any], *, done: str) -> Write:
        """``put_new`` as a write action's ``Write``: the kit makes it (``done``: what it did)."""
        return Write(self._new(pk, sk, values), done)

    def write_if_newer(
        self, pk: str, sk: str, values: Mapping[str, Any], as_of: int, *, done: str, refused: str
    ) -> Write:
        """``put_if_newer`` as a write action's ``Write`` (``refused``: a state as new is stored)."""
        return Write(self._newer(pk, sk, values, as_of), done, refused)

    def _new(self, pk: str, sk: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "Item": to_item({**values, "pk": pk, "sk": sk}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def _newer(self, pk: str, sk: str, values: Mapping[str, Any], as_of: int) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "Item": to_item({**values, "pk": pk, "sk": sk, "as_of": as_of}),
            "ConditionExpression": "attribute_not_exists(pk) OR as_of < :as_of",
            "ExpressionAttributeValues": {":as_of": {"N": str(as_of)}},
        }

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every item (for the local tools and tests; the actions never scan)."""
        for page in self.client.get_paginator("scan").paginate(TableName=self.table_name):
            yield from (from_item(item) for item in page.get("Items", []))


PERMANENT_SES_REFUSALS = frozenset({"InvalidParameterValue"})
"""SES refusing the request itself: a customer-supplied address it cannot send to ("Missing
domain", "Missing final '@domain'"). ``MessageRejected`` is not among them: it is an account's
state (a sender not verified, the sandbox, sending paused), which the operator can fix, and then
a redrive sends the receipt."""


class ReceiptMailer(aws.ServiceAdapter):
    """Amazon SES (v1 ``SendEmail``): plain-text receipts from one verified sender."""

    service = "ses"

    @staticmethod
    def permanent_refusal(error: BaseException) -> str | None:
        """The error code of a refusal no retry can change (``PERMANENT_SES_REFUSALS``), or None."""
        code = aws.error_code(error) if isinstance(error, ClientError) else None
        return code if code in PERMANENT_SES_REFUSALS else None

    def __init__(self, sender: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.sender = sender

    def send(self, to: str, subject: str, text: str) -> str:
        """Send once (the client makes one attempt); SES's message id. SES takes no idempotency
        token, so callers go through ``EffectLedger.once``."""
        response = self.client.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [to]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )
        return str(response["MessageId"])


class AlertTopic(aws.ServiceAdapter):
    """An SNS topic people subscribe to (the stack's encrypted alert topic: alerts carry payment data)."""

    service = "sns"

    def __init__(self, topic_arn: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.topic_arn = topic_arn

    def notify(self, subject: str, message: str) -> str:
        response = self.client.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=message)
        return str(response["MessageId"])
