from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stripe_webhook.adapters.secret_cache import SecretCache
from stripe_webhook.errors import ConfigurationError


@dataclass
class FakeSecretsManager:
    value: str = "whsec_one"
    calls: int = 0
    fail: bool = False
    seen: list[str] = field(default_factory=list)

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.calls += 1
        self.seen.append(SecretId)
        if self.fail:
            raise ClientError(
                {"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue"
            )
        return {"SecretString": self.value}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _secrets(client: FakeSecretsManager, clock: Clock) -> SecretCache:
    return SecretCache(inline=(), secret_arn="arn:secret", max_age=300, client=client, clock=clock)


def test_secret_is_fetched_once_and_cached_until_max_age() -> None:
    client, clock = FakeSecretsManager(), Clock()
    secrets = _secrets(client, clock)

    assert secrets.current() == ("whsec_one",)
    clock.now += 299
    assert secrets.current() == ("whsec_one",)
    assert client.calls == 1
    clock.now += 2
    client.value = "whsec_one,whsec_two"
    assert secrets.current() == ("whsec_one", "whsec_two")
    assert client.calls == 2


def test_a_mismatch_refreshes_at_most_every_thirty_seconds() -> None:
    client, clock = FakeSecretsManager(), Clock()
    secrets = _secrets(client, clock)
    secrets.current()
    client.value = "whsec_rolled"

    assert secrets.refresh_after_mismatch() is False  # just fetched: forged requests cannot hammer it
    clock.now += 31
    assert secrets.refresh_after_mismatch() is True
    assert secrets.current() == ("whsec_rolled",)
    assert client.calls == 2


def test_unreachable_secrets_manager_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        _secrets(FakeSecretsManager(fail=True), Clock()).current()
    assert raised.value.code == "secret_unavailable"


def test_inline_secrets_never_call_aws() -> None:
    client = FakeSecretsManager()
    secrets = SecretCache(inline=("whsec_a",), secret_arn=None, max_age=300, client=client)
    assert secrets.current() == ("whsec_a",)
    assert secrets.refresh_after_mismatch() is False
    assert client.calls == 0
