"""Peak memory of one process answering N new events in turn, as a warm container does.

Run as a script by ``infra.bench``: argv[1] is N; the signing secret is in
``BENCH_SIGNING_SECRET``; prints the process's peak RSS (KiB) on stderr.
"""

import contextlib
import io
import os
import resource
import sys

from infra.bench.environment import new_payment, signed_request
from infra.lambda_context import LambdaContext
from stripe_webhook.app import lambda_handler

secret, count = os.environ["BENCH_SIGNING_SECRET"], int(sys.argv[1])
for _ in range(count):
    request = signed_request(secret, new_payment())
    with contextlib.redirect_stdout(io.StringIO()):
        response = lambda_handler(request, LambdaContext())
    if response["statusCode"] != 200:
        sys.exit(f"warm run answered {response}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
