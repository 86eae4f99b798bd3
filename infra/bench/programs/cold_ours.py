"""Cold start, ours: a fresh process imports the handler and answers one signed request.

Run as a script by ``infra.bench``: argv[1] is the API Gateway request as JSON; prints the
process's peak RSS (KiB) on stderr. Imports nothing but the function, as a Lambda cold start does.
"""

import json
import resource
import sys

from stripe_webhook.app import lambda_handler
from stripe_webhook.budget import FUNCTION_TIMEOUT_SECONDS


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    aws_request_id = "cold"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return FUNCTION_TIMEOUT_SECONDS * 1000


response = lambda_handler(json.loads(sys.argv[1]), Context())
if response["statusCode"] != 200:
    sys.exit(f"cold run answered {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
