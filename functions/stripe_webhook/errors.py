"""Typed errors. ``api_gateway.STATUS`` maps each class to an HTTP status in one place.

Every error carries a stable machine-readable ``code`` (returned to the caller
and logged) and a human ``message`` that never contains request data.
"""

from __future__ import annotations


class WebhookError(Exception):
    """Base class for every error the function answers deliberately."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RequestRejected(WebhookError):
    """The request itself is bad; Stripe retrying it unchanged cannot help (4xx)."""


class SignatureError(RequestRejected):
    """Missing, malformed, stale or non-matching ``Stripe-Signature``."""


class SourceNotAllowed(RequestRejected):
    """The caller's address is outside ``ALLOWED_SOURCE_IPS`` (an HTTP API has no resource policy)."""


class InvalidPayload(RequestRejected):
    """A verified body that is not UTF-8 JSON or not a Stripe event object."""


class ThinEventsDisabled(RequestRejected):
    """A thin event notification arrived but no thin-event signing secret is configured."""


class PayloadTooLarge(RequestRejected):
    """The body is larger than the configured cap; rejected before any work."""


class EventInProgress(WebhookError):
    """Another delivery of the same event holds the processing lease (retryable)."""


class RetryableFailure(WebhookError):
    """Something we depend on failed; answer 5xx so Stripe delivers again."""


class OutOfTime(RetryableFailure):
    """Too little of the invocation or of the claim's lease is left to publish and then mark."""


class StorageError(RetryableFailure):
    """DynamoDB could not be read or written."""


class PublishError(RetryableFailure):
    """SNS did not accept the message."""


class ConfigurationError(RetryableFailure):
    """Settings or signing secrets are missing, malformed or unreachable."""


def missing_api_key(needs: str) -> ConfigurationError:
    """The one wording of a Stripe API call the stack has no key for; ``needs`` says what asked."""
    return ConfigurationError(
        "missing_api_key",
        f"{needs}: set a Stripe API key (the StripeApiKeySecretArn parameter, or STRIPE_API_KEY locally)",
    )


class StripeApiError(RetryableFailure):
    """The Stripe API did not answer a read (a thin event's object, an events list) usefully."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        self.status = status
        """Stripe's HTTP status, when it answered."""


class HandlerError(RetryableFailure):
    """A resource handler raised; the event was not claimed, so a redelivery retries it."""
