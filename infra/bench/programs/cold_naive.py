"""Cold start, the tutorial shape: ``stripe.Webhook.construct_event``, a boto3 ``put_item``, an SNS
publish, the X-Ray SDK patched in — and no dedup.

Run as a script by ``infra.bench``: argv[1] is the API Gateway request as JSON; prints the
process's peak RSS (KiB) on stderr.
"""

import json
import os
import resource
import sys
from typing import Any

os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
from aws_xray_sdk.core import patch_all

patch_all()
import boto3  # noqa: E402
import stripe  # noqa: E402

request = json.loads(sys.argv[1])
make_client: Any = boto3.client
make_resource: Any = boto3.resource
secret_value = make_client("secretsmanager").get_secret_value(
    SecretId=os.environ["STRIPE_WEBHOOK_SECRET_ARN"]
)
secret = secret_value["SecretString"].split(",")[0]
event = stripe.Webhook.construct_event(request["body"], request["headers"]["Stripe-Signature"], secret)
make_resource("dynamodb").Table(os.environ["TABLE_NAME"]).put_item(
    Item={"pk": "EVENT#" + event.id, "sk": "EVENT", "payload": request["body"]}
)
make_client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Message=request["body"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
