"""What the kit reads of the webhook's data, in the shapes ``contract`` gives: an object's current
record from the events table, and a large event's body from the payload bucket."""

from __future__ import annotations

from typing import Any

from contract import MAX_BODY_BYTES, aws, records
from stripe_actions.items import from_item
from stripe_actions.messages import PoisonMessage


class RecordReader(aws.ServiceAdapter):
    """The webhook's table, read for an object's current record (``Consumer``'s ``read_record``)."""

    service = "dynamodb"

    def __init__(self, table_name: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.table_name = table_name

    def get_record(self, object_id: str) -> dict[str, Any] | None:
        items = aws.query_items(
            self.client,
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": records.object_key(object_id)[0]}},
            ConsistentRead=True,
        )
        return records.merged(object_id, (from_item(item) for item in items))


class PayloadReader(aws.ServiceAdapter):
    """The stack's payload bucket, read for a large event's body (``Consumer``'s ``read_payload``)."""

    service = "s3"

    def __init__(self, bucket: str | None, *, client: Any | None = None) -> None:
        super().__init__(client)
        self.bucket = bucket

    def read(self, bucket: str, key: str) -> bytes:
        """The body a pointer names, from this stack's bucket only, and no larger than any body
        (an AWS error propagates: the message is retried)."""
        if bucket != self.bucket:
            raise PoisonMessage(f"the pointer names bucket {bucket!r}, not this stack's payload bucket")
        body = aws.read_object(self.client, bucket, key, MAX_BODY_BYTES)
        if len(body) > MAX_BODY_BYTES:
            raise PoisonMessage(f"{key} is larger than any body ({MAX_BODY_BYTES} bytes): not read")
        return body
