"""The read side: the queries the table and its indexes are designed for.

get_record(client, table, "pi_123")               the current state of one Stripe object
customer_records(client, table, "cus_123", "invoice")   a customer's invoices (or all records)
events_by_type(client, table, "invoice.paid", since, until)   events of one type in a time range
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from stripe_webhook.dynamo_items import from_item
from stripe_webhook.records import object_key
from stripe_webhook.store import created_event_key, type_day_key

CUSTOMER_INDEX = "by-customer"
TYPE_INDEX = "by-type"
DAY_SECONDS = 86_400


def get_record(client: Any, table: str, object_id: str) -> dict[str, Any] | None:
    pk, sk = object_key(object_id)
    item = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return from_item(item) if item else None


def _query(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("query")
    for page in paginator.paginate(**kwargs):
        for item in page.get("Items", []):
            yield from_item(item)


def customer_records(
    client: Any, table: str, customer_id: str, object_type: str | None = None
) -> list[dict[str, Any]]:
    """A customer's records, oldest first; ``object_type`` narrows to e.g. ``"invoice"``."""
    condition = "customer_key = :customer"
    values: dict[str, Any] = {":customer": {"S": customer_id}}
    if object_type:
        condition += " AND begins_with(customer_sort, :prefix)"
        values[":prefix"] = {"S": f"{object_type}#"}
    return list(
        _query(
            client,
            TableName=table,
            IndexName=CUSTOMER_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
    )


def events_by_type(
    client: Any, table: str, event_type: str, since: int, until: int | None = None
) -> list[dict[str, Any]]:
    """Event-log entries (index projection) of one type with ``since <= created <= until``, in time order."""
    until = int(time.time()) if until is None else until
    found: list[dict[str, Any]] = []
    day = since - since % DAY_SECONDS
    while day <= until:
        found.extend(
            _query(
                client,
                TableName=table,
                IndexName=TYPE_INDEX,
                KeyConditionExpression="type_day = :day AND created_event BETWEEN :low AND :high",
                ExpressionAttributeValues={
                    ":day": {"S": type_day_key(event_type, day)},
                    ":low": {"S": created_event_key(since, "")},
                    ":high": {"S": created_event_key(until, "~")},
                },
            )
        )
        day += DAY_SECONDS
    return found
