"""Cold start, ours with the X-Ray SDK instead of ``contract.tracing``: what Powertools' ``Tracer``
costs a cold start (it imports the SDK and patches botocore) before the handler answers.

Run as a script by ``infra.bench``: argv[1] is the API Gateway request as JSON; prints the
process's peak RSS (KiB) on stderr.
"""

import json
import os
import resource
import sys

os.environ.setdefault("AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR")
from aws_lambda_powertools import Tracer

Tracer(service="stripe-webhooks-bench")  # imports aws_xray_sdk, patches botocore (auto_patch)
from infra.lambda_context import LambdaContext  # noqa: E402
from stripe_webhook.app import lambda_handler  # noqa: E402

response = lambda_handler(json.loads(sys.argv[1]), LambdaContext("bench"))
if response["statusCode"] != 200:
    sys.exit(f"cold run answered {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
