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


ALLOW_LISTS = {
    "": True,
    "3.18.12.63/32": True,
    "3.18.12.63": True,
    "3.18.12.63/32,3.130.192.231/32,13.235.14.237/32": True,
    "10.0.0.0/8,2600:1f18::/32": True,
    ",": False,
    "3.18.12.63/32,": False,
    "3.18.12.63/32,,3.130.192.231/32": False,
    "not-a-cidr": False,
    "3.18.12.63/33": False,
    "3.18.12.63/0": False,
    "0.0.0.0/0": False,
    "::/0": False,
    "3.18.12.63 /32": False,
}
"""An ``AllowedSourceIps`` value → whether the stack takes it (the template's pattern, the
function's settings: both, or neither)."""
HOST_BITS = ("3.18.12.63/24", "3.18.12.63/1", "2600:1f18::1/32")
"""Syntactically CIDRs, but not networks: the pattern lets them through, the function refuses them."""


@pytest.mark.parametrize(("value", "taken"), ALLOW_LISTS.items(), ids=repr)
def test_an_allow_list_is_a_list_of_networks_or_refused_at_deploy_and_at_start(
    value: str, taken: bool
) -> None:
    import re

    from infra.template import load_template
    from stripe_webhook.settings import parse_networks

    pattern = load_template()["Parameters"]["AllowedSourceIps"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) == taken
    if taken:
        assert len(parse_networks(value)) == len([part for part in value.split(",") if part])
    else:
        with pytest.raises(ConfigurationError):
            parse_networks(value)


@pytest.mark.parametrize("value", HOST_BITS)
def test_a_network_with_host_bits_set_is_refused_at_start_never_widened(value: str) -> None:
    from stripe_webhook.settings import parse_networks

    with pytest.raises(ConfigurationError, match="host bits set"):
        parse_networks(value)
    with pytest.raises(ConfigurationError, match="host bits set"):
        load_settings(
            {
                "TABLE_NAME": "t",
                "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
                "STRIPE_WEBHOOK_SECRET": "whsec_x",
                "ALLOWED_SOURCE_IPS": value,
            }
        )
