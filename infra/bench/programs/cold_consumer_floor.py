"""The consumer's floor: a bare SQS-triggered function making the entitlement action's one
DynamoDB write per message through boto3: ``json.loads`` and one conditional ``put_item`` (only
over an older state, as the action's own write), nothing else.

As a script (``infra.bench``'s cold runs): argv[1] is the SQS event as JSON; prints the process's
peak RSS (KiB) on stderr. The warm run imports ``handle``.
"""

import json
import os
import resource
import sys
from typing import Any

import boto3

make_client: Any = boto3.client
dynamodb = make_client("dynamodb")
TABLE = os.environ["ACTIONS_TABLE"]


def handle(event: dict[str, Any]) -> dict[str, Any]:
    for record in event["Records"]:
        subscription = json.loads(record["body"])["data"]["object"]
        dynamodb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": "ENTITLEMENT#" + subscription["customer"]},
                "sk": {"S": subscription["id"]},
                "active": {"BOOL": subscription["status"] in ("active", "trialing", "past_due")},
                "status": {"S": subscription["status"]},
                "as_of": {"N": str(subscription["created"])},
            },
            ConditionExpression="attribute_not_exists(pk) OR as_of < :as_of",
            ExpressionAttributeValues={":as_of": {"N": str(subscription["created"])}},
        )
    return {"batchItemFailures": []}


if __name__ == "__main__":
    handle(json.loads(sys.argv[1]))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
