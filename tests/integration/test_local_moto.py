"""The local stack's moto adjustment, which every test on moto has too (``conftest.item_level_rollback``):
transactions roll back exactly the items they touched."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import Aws
from tests.support import all_items, get_item


def put(table: str, pk: str, **attributes: Any) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": "STATE"}, **{k: {"N": str(v)} for k, v in attributes.items()}}
    return {"Put": {"TableName": table, "Item": item}}


def test_a_cancelled_transaction_leaves_no_new_item_and_no_change(aws: Aws) -> None:
    aws.dynamodb.put_item(TableName=aws.table, Item=put(aws.table, "C", x=1)["Put"]["Item"])
    failing = put(aws.table, "C", x=99)
    failing["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
    update = {
        "Update": {
            "TableName": aws.table,
            "Key": {"pk": {"S": "U"}, "sk": {"S": "STATE"}},
            "UpdateExpression": "SET x = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
        }
    }

    with pytest.raises(ClientError) as raised:
        aws.dynamodb.transact_write_items(TransactItems=[put(aws.table, "A", x=1), update, failing])

    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [item["pk"] for item in all_items(aws.dynamodb, aws.table)] == ["C"]
    assert get_item(aws.dynamodb, aws.table, "C", "STATE")["x"] == 1  # type: ignore[index]


def test_an_update_inside_a_cancelled_transaction_is_undone(aws: Aws) -> None:
    aws.dynamodb.put_item(TableName=aws.table, Item=put(aws.table, "C", x=1)["Put"]["Item"])
    update = {
        "Update": {
            "TableName": aws.table,
            "Key": {"pk": {"S": "C"}, "sk": {"S": "STATE"}},
            "UpdateExpression": "SET x = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
        }
    }
    failing = put(aws.table, "C2", x=5)
    failing["Put"]["ConditionExpression"] = "attribute_exists(pk)"

    with pytest.raises(ClientError):
        aws.dynamodb.transact_write_items(TransactItems=[update, failing])

    assert get_item(aws.dynamodb, aws.table, "C", "STATE")["x"] == 1  # type: ignore[index]
    assert get_item(aws.dynamodb, aws.table, "C2", "STATE") is None


def test_a_successful_transaction_writes_everything(aws: Aws) -> None:
    aws.dynamodb.transact_write_items(TransactItems=[put(aws.table, "A", x=1), put(aws.table, "B", x=2)])

    assert sorted(item["pk"] for item in all_items(aws.dynamodb, aws.table)) == ["A", "B"]
