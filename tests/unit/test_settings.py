from __future__ import annotations

import pytest

from stripe_webhook.errors import ConfigurationError
from stripe_webhook.settings import load_settings, parse_secrets

BASE = {"TABLE_NAME": "events", "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:events"}


def test_inline_secrets_are_split_and_trimmed() -> None:
    settings = load_settings({**BASE, "STRIPE_WEBHOOK_SECRET": " whsec_a , whsec_b ,"})
    assert settings.webhook_secrets == ("whsec_a", "whsec_b")


def test_secret_arn_is_used_when_no_inline_secret() -> None:
    settings = load_settings({**BASE, "STRIPE_WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:x"})
    assert settings.webhook_secrets == ()
    assert settings.webhook_secret_arn == "arn:aws:secretsmanager:x"


@pytest.mark.parametrize(
    ("environ", "code"),
    [
        ({}, "missing_configuration"),
        (BASE, "missing_configuration"),
        ({**BASE, "STRIPE_WEBHOOK_SECRET": "sk_test_123"}, "malformed_secret"),
        ({**BASE, "STRIPE_WEBHOOK_SECRET": "whsec_"}, "malformed_secret"),
        (
            {**BASE, "STRIPE_WEBHOOK_SECRET": "whsec_a", "IN_PROGRESS_LEASE_SECONDS": "-5"},
            "malformed_configuration",
        ),
        ({**BASE, "STRIPE_WEBHOOK_SECRET": "whsec_a", "MAX_BODY_BYTES": "lots"}, "malformed_configuration"),
    ],
)
def test_bad_configuration_is_reported_by_code(environ: dict[str, str], code: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ)
    assert raised.value.code == code


def test_error_messages_never_echo_the_secret() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_secrets("not-a-secret-value-123", "STRIPE_WEBHOOK_SECRET")
    assert "not-a-secret-value-123" not in raised.value.message


def test_a_lease_too_short_to_publish_in_is_a_configuration_error() -> None:
    from stripe_webhook.composition import Components

    settings = load_settings(
        {
            "TABLE_NAME": "events",
            "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:events",
            "STRIPE_WEBHOOK_SECRET": "whsec_" + "a" * 32,
            "IN_PROGRESS_LEASE_SECONDS": "20",
        }
    )

    with pytest.raises(ConfigurationError, match="IN_PROGRESS_LEASE_SECONDS must be at least 29 s"):
        _ = Components(settings).pipeline
