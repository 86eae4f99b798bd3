"""The read side: the lookups and queries the table and its indexes are designed for.

    queries.get_event("evt_123")                     the event-log item, its payload read in full
    queries.get_record("pi_123")                     the current state of one Stripe object
    queries.customer_records("cus_123", "invoice")   a customer's invoices (or all records)
    queries.events_by_type("invoice.paid", since, until)   event-log entries of one type in a range

Used by the operator commands, the local tools and the tests; the function itself never reads
(a duplicate is answered from its failed conditional put). Keys come from ``schema``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contract import aws, records
from stripe_webhook.adapters import bodies, schema
from stripe_webhook.adapters.dynamo_items import from_item
from stripe_webhook.adapters.payloads import S3Payloads
from stripe_webhook.errors import StorageError
from stripe_webhook.ports import PayloadLocation

DAY_SECONDS = 86_400


class TableQueries(aws.ServiceAdapter):
    service = "dynamodb"

    def __init__(
        self, table_name: str, *, client: Any | None = None, payloads: S3Payloads | None = None
    ) -> None:
        super().__init__(client)
        self.table_name = table_name
        self._payloads = payloads

    def get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item as plain Python values, read consistently; None if absent."""
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=schema.key_item(pk, sk), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError("storage_failed", "DynamoDB read failed") from error
        item = response.get("Item")
        return from_item(item) if item else None

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The stored event-log item with its body in ``payload`` (decompressed, or read from S3
        when the item holds a ``payload_s3`` location), or None."""
        values = self.get_item(schema.event_pk(event_id), schema.EVENT_SK)
        if values is None:
            return None
        values["event_id"] = event_id
        if (body := bodies.read(values)) is not None:
            values["payload"] = body
            values.pop(bodies.ATTRIBUTE, None)
            values.pop("payload_gz", None)
        location = PayloadLocation.of_event_item(values)
        if location is not None:
            if self._payloads is None:
                raise StorageError("payload_read_failed", "the payload is in S3 and no S3 reader is set")
            values["payload"] = self._payloads.read(location).decode()
        return values

    def get_record(self, object_id: str) -> dict[str, Any] | None:
        """The object's record with its links merged (``contract.records.merged``), or None."""
        pk = records.object_key(object_id)[0]
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        return records.merged(object_id, items)

    def newest_event_id(self, object_id: str) -> str | None:
        """The newest stored event about ``object_id`` (the ``by-object`` index), or None."""
        answer = self.client.query(
            TableName=self.table_name,
            IndexName=schema.OBJECT_INDEX,
            KeyConditionExpression="#object = :object",
            ExpressionAttributeNames={"#object": schema.OBJECT_ID},
            ExpressionAttributeValues={":object": {"S": object_id}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = answer.get("Items", [])
        return schema.event_id_of(from_item(items[0])) if items else None

    def customer_records(self, customer_id: str, object_type: str | None = None) -> list[dict[str, Any]]:
        """A customer's records, oldest first; ``object_type`` narrows to e.g. ``"invoice"``."""
        condition = f"{records.CUSTOMER_KEY} = :customer"
        values: dict[str, Any] = {":customer": {"S": customer_id}}
        if object_type:
            condition += f" AND begins_with({records.CUSTOMER_SORT}, :prefix)"
            values[":prefix"] = {"S": f"{object_type}#"}
        return list(
            self._query(
                IndexName=schema.CUSTOMER_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        )

    def events_by_type(self, event_type: str, since: int, until: int | None = None) -> list[dict[str, Any]]:
        """Event-log entries (index projection) of one type with ``since <= created <= until``, in
        order: one query per day and shard (``schema.TYPE_SHARDS``), merged."""
        until = int(time.time()) if until is None else until
        found: list[dict[str, Any]] = []
        day = since - since % DAY_SECONDS
        low, high = schema.created_event_bounds(since, until)
        while day <= until:
            for key in schema.type_day_keys(event_type, day):
                found.extend(
                    self._query(
                        IndexName=schema.TYPE_INDEX,
                        KeyConditionExpression=(
                            f"{schema.TYPE_DAY} = :day AND {schema.CREATED_EVENT} BETWEEN :low AND :high"
                        ),
                        ExpressionAttributeValues={
                            ":day": {"S": key},
                            ":low": {"S": low},
                            ":high": {"S": high},
                        },
                    )
                )
            day += DAY_SECONDS
        for entry in found:
            entry["event_id"] = schema.event_id_of(entry)
        return sorted(found, key=lambda entry: (int(entry.get("created", 0)), entry["event_id"]))

    def scan_event_log(
        self, fields: tuple[str, ...], *, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every event-log item's ``fields`` (a Scan: for the local stack and tests, never the
        function); ``event_id`` is read from the key."""
        fields = tuple(dict.fromkeys((*fields, "pk")))
        condition = "sk = :event"
        values: dict[str, Any] = {":event": {"S": schema.EVENT_SK}}
        names = {f"#{name}": name for name in fields}
        if status is not None:
            condition += " AND #status = :status"
            values[":status"] = {"S": status}
            names["#status"] = "status"
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table_name,
            FilterExpression=condition,
            ExpressionAttributeValues=values,
            ExpressionAttributeNames=names,
            ProjectionExpression=", ".join(f"#{name}" for name in fields),
        ):
            for item in page.get("Items", []):
                values = from_item(item)
                values["event_id"] = schema.event_id_of(values)
                yield values

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item the query finds, as plain values (``aws.query_items``)."""
        return (from_item(item) for item in aws.query_items(self.client, TableName=self.table_name, **kwargs))
