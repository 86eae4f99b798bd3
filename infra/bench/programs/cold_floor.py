"""Cold start, floor: the same four AWS calls straight through boto3 — no framework, no checks.

Run as a script by ``infra.bench``: argv[1] is the API Gateway request as JSON; prints the
process's peak RSS (KiB) on stderr.
"""

import json
import os
import resource
import sys
from typing import Any

import boto3

request = json.loads(sys.argv[1])
body = request["body"]
event = json.loads(body)
table, topic = os.environ["TABLE_NAME"], os.environ["TOPIC_ARN"]
make_client: Any = boto3.client
secrets, dynamodb, sns = (make_client(name) for name in ("secretsmanager", "dynamodb", "sns"))
secrets.get_secret_value(SecretId=os.environ["STRIPE_WEBHOOK_SECRET_ARN"])
key = {"pk": {"S": "EVENT#" + event["id"]}, "sk": {"S": "EVENT"}}
record = {
    "pk": {"S": "OBJECT#" + event["data"]["object"]["id"]},
    "sk": {"S": "STATE"},
    "status": {"S": event["data"]["object"]["status"]},
}
dynamodb.transact_write_items(
    TransactItems=[
        {
            "Put": {
                "TableName": table,
                "Item": {**key, "payload": {"S": body}, "status": {"S": "IN_PROGRESS"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {"Put": {"TableName": table, "Item": record}},
    ]
)
sns.publish(
    TopicArn=topic,
    Message=body,
    MessageAttributes={"event_type": {"DataType": "String", "StringValue": event["type"]}},
)
dynamodb.update_item(
    TableName=table,
    Key=key,
    UpdateExpression="SET #s = :p",
    ExpressionAttributeNames={"#s": "status"},
    ExpressionAttributeValues={":p": {"S": "PUBLISHED"}},
)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
