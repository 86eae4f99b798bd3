"""Cold start, an actions function: a fresh process imports the consumer and handles one batch.

Run as a script by ``infra.bench``: argv[1] is the SQS event as JSON; prints the process's peak RSS
(KiB) on stderr. Imports nothing but the function, as a Lambda cold start does.
"""

import json
import resource
import sys
from typing import Any

from stripe_actions.app import lambda_handler


class Context:
    function_name = "bench-actions"
    memory_limit_in_mb = 256
    aws_request_id = "cold"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-actions"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


context: Any = Context()
response = lambda_handler(json.loads(sys.argv[1]), context)
if response["batchItemFailures"]:
    sys.exit(f"cold run failed {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
