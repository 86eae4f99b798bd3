"""The function under Lambda SnapStart: a simulated snapshot and restores (``stripe_webhook.snapstart``).

What the documentation asks of a restored function (docs.aws.amazon.com/lambda/latest/dg/
snapstart-uniqueness.html and snapstart-runtime-hooks-python.html): nothing unique, time-bound or
connected may be carried from the snapshot. The fake runtime below runs the registered hooks as
``snapshot_restore_py`` does: before-snapshot hooks in reverse order of registration, after-restore
hooks in order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from contract import aws as aws_clients
from infra.fixtures.payloads import fresh_event
from stripe_webhook import composition, snapstart
from tests.integration.conftest import Aws
from tests.support import deliver


@dataclass
class FakeRuntime:
    before: list[Callable[[], None]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)

    def register_before_snapshot(self, hook: Callable[[], None]) -> None:
        self.before.append(hook)

    def register_after_restore(self, hook: Callable[[], None]) -> None:
        self.after.append(hook)

    def snapshot(self) -> None:
        for hook in reversed(self.before):
            hook()

    def restore(self) -> None:
        for hook in self.after:
            hook()


def test_the_snapshot_holds_no_per_container_state() -> None:
    runtime = FakeRuntime()
    assert snapstart.register(runtime)
    composition.reset()

    runtime.snapshot()

    assert composition.components.cache_info().currsize == 0  # no clients, no secret caches
    assert aws_clients.session.cache_info().currsize == 0  # no credentials
    assert composition.registry.cache_info().currsize == 1  # the routing table: the same everywhere


def test_a_restored_environment_reads_the_secret_again_and_makes_its_own_clients(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    arn = aws.secretsmanager.create_secret(Name="stripe/webhook-snap", SecretString=secret)["ARN"]
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_ARN", arn)
    composition.reset()
    runtime = FakeRuntime()
    snapstart.register(runtime)
    # State made before the snapshot: a container that has served an event (clients, the secret)
    assert deliver(fresh_event("product.created"), secret).status == 200
    before = composition.components()
    dynamodb_before = before.store.client
    runtime.snapshot()
    # The secret is rotated while the snapshot waits (the cache would keep the old one 5 minutes)
    aws.secretsmanager.put_secret_value(SecretId=arn, SecretString="whsec_rotated_after_snapshot")

    runtime.restore()

    assert deliver(fresh_event("product.created"), "whsec_rotated_after_snapshot").status == 200
    assert deliver(fresh_event("product.created"), secret).status == 400
    after = composition.components()
    assert after is not before
    assert after.store.client is not dynamodb_before


def test_the_snapshot_keeps_botocore_s_parsed_models_and_a_restore_uses_them(
    aws: Aws, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.loaders

    aws_clients.forget_models()  # a new process: nothing parsed yet
    runtime = FakeRuntime()
    snapstart.register(runtime)
    runtime.snapshot()
    runtime.restore()

    def no_file(*_: object, **__: object) -> None:
        raise AssertionError("a model file was read after the restore")

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", no_file)
    assert (
        deliver(fresh_event("product.created"), secret).status == 200
    )  # its clients, from the snapshot's models


def test_restored_environments_do_not_share_their_jitter() -> None:
    runtime = FakeRuntime()
    snapstart.register(runtime)
    runtime.snapshot()
    snapshot = random.getstate()  # what every environment resumed from this snapshot starts with

    draws = []
    for _ in range(2):
        random.setstate(snapshot)
        runtime.restore()
        draws.append([random.random() for _ in range(3)])

    assert draws[0] != draws[1]


def test_outside_lambda_there_is_nothing_to_register_with() -> None:
    assert snapstart.register() is False  # no snapshot_restore_py here: everything made on first use
