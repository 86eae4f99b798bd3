"""Time: how long each step may take, all derived here (docs/guarantees.md, "Time budget").

    one AWS call    3 attempts x (1 s connect + 1.5 s read) + 3 s botocore backoff   = 10.5 s
    publish + mark  2 calls + 1 s for the mark's conflict retries                    = 22 s
    function        28 s (template ``Timeout``; API Gateway gives up at 29 s)
    claim window    28 - 22 = 6 s to verify and claim; a claim that ends later is
                    released and answered 503 (Stripe retries), never raced
    lease           > 28 s (default 60): nobody can take an event over while the
                    invocation that holds it may still be running

Before publishing, the pipeline requires ``PUBLISH_BUDGET_SECONDS`` before both the
invocation's deadline (``context.get_remaining_time_in_millis()``; the operator tools
set their own) and the claim's lease (wall clock, which keeps counting while a laptop
sleeps). So a publish is always followed by a mark attempt before anyone else may
publish, and the function is never killed between the two.
"""

from __future__ import annotations

from contract.aws import CONNECT_TIMEOUT_SECONDS, MAX_ATTEMPTS, READ_TIMEOUT_SECONDS

MAX_BACKOFF_SECONDS = 3.0
"""botocore's standard mode waits a random 0..1 s, then 0..2 s, before its second and third attempts."""
CALL_BUDGET_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + MAX_BACKOFF_SECONDS
"""The longest one AWS call can take before it is reported failed (10.5 s)."""
MARK_RETRY_SECONDS = 1.0
"""Room for the mark's retries after a conflict (backoff under 0.4 s, each answer in milliseconds)."""
PUBLISH_BUDGET_SECONDS = 2 * CALL_BUDGET_SECONDS + MARK_RETRY_SECONDS
"""What must be left of both the deadline and the lease before publishing (22 s)."""
FUNCTION_TIMEOUT_SECONDS = 28
"""The template's ``Timeout``: under API Gateway's 29 s integration limit."""
CLAIM_WINDOW_SECONDS = FUNCTION_TIMEOUT_SECONDS - PUBLISH_BUDGET_SECONDS
"""How long verifying and claiming may take before the event is released for a retry (6 s)."""
MIN_LEASE_SECONDS = FUNCTION_TIMEOUT_SECONDS + 1
"""A shorter lease would let a second delivery take over from an invocation still running."""
RECONCILER_TIMEOUT_SECONDS = 180
"""The reconciler function's ``Timeout`` (template.yaml): many events per run, under the shortest period."""
RECONCILER_LEASE_SECONDS = RECONCILER_TIMEOUT_SECONDS + 60
"""A reconciler run's lease: no second run starts while one may still be running."""
