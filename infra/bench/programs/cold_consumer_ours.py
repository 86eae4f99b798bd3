"""Cold start, an actions function: a fresh process imports the consumer and handles one batch.

Run as a script by ``infra.bench``: argv[1] is the SQS event as JSON; prints the process's peak RSS
(KiB) on stderr. Imports nothing but the function, as a Lambda cold start does.
"""

import json
import resource
import sys
from typing import Any

from infra.lambda_context import LambdaContext
from stripe_actions.app import lambda_handler

context: Any = LambdaContext("bench-actions", memory_limit_in_mb=256, timeout_seconds=30)
response = lambda_handler(json.loads(sys.argv[1]), context)
if response["batchItemFailures"]:
    sys.exit(f"cold run failed {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
