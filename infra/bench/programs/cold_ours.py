"""Cold start, ours: a fresh process imports the handler and answers one signed request.

Run as a script by ``infra.bench``: argv[1] is the API Gateway request as JSON; prints the
process's peak RSS (KiB) on stderr. Imports nothing but the function, as a Lambda cold start does.
"""

import json
import resource
import sys

from infra.lambda_context import LambdaContext
from stripe_webhook.app import lambda_handler

response = lambda_handler(json.loads(sys.argv[1]), LambdaContext("bench"))
if response["statusCode"] != 200:
    sys.exit(f"cold run answered {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
