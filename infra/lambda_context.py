"""The one stand-in for Lambda's context object: what the local stack, the benchmark's programs and
the tests hand a handler outside Lambda (enough for Powertools and the functions' deadlines)."""

from __future__ import annotations

import time
import uuid

from stripe_webhook.core.budget import FUNCTION_TIMEOUT_SECONDS


class LambdaContext:
    function_version = "$LATEST"
    log_stream_name = "local"

    def __init__(
        self,
        function_name: str = "stripe-webhooks-local",
        *,
        memory_limit_in_mb: int = 512,
        timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS,
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
