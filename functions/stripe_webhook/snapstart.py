"""Safe under Lambda SnapStart (the ``SnapStart`` parameter): what a snapshot may keep, and what is
made again when an execution environment is resumed from one.

With SnapStart, Lambda runs the init phase once per published version, snapshots the memory, and
resumes every new execution environment of that version from the same snapshot
(docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html). So anything made before the
snapshot is shared by every environment restored from it:

- ``before_snapshot`` makes only what is the same everywhere and forever: the handler modules,
  the routing registry, the body dictionary, botocore's parsed service models (``aws.load_models``:
  ~50 ms of a first invocation on a full core). No client, no connection, no credential, no
  secret, no clock reading.
- ``after_restore`` forgets everything per-container (``composition.reset``: settings, clients
  with their connections and credentials, the secret caches, which also hold the time they read
  a secret), and reseeds ``random`` (the retry and publish jitter: restored environments would
  otherwise wait in step with each other). Lease tokens use ``uuid4``, which reads the OS's
  randomness on every call, so they stay unique.

The hooks are registered with the runtime's ``snapshot_restore_py`` (in Lambda's Python 3.12+
managed runtimes); elsewhere, or with SnapStart off, there is nothing to register with and the
container makes everything on first use as before. ``tests/integration/test_snapstart.py``
simulates a snapshot and two restores.
"""

from __future__ import annotations

import os
import random
from typing import Any

SERVICES = ("dynamodb", "sns", "secretsmanager")
"""The clients every webhook container makes (S3 only for a large event)."""


def before_snapshot() -> None:
    """Load what every restored environment needs and may share (imports; no per-container state)."""
    from contract import aws
    from stripe_webhook import composition
    from stripe_webhook.adapters import bodies, publisher, store  # noqa: F401

    composition.registry()
    bodies.dictionary(bodies.VERSION)
    aws.load_models(SERVICES)


def after_restore() -> None:
    """Make this environment's own state: nothing from before the snapshot is used again."""
    from stripe_webhook import composition

    composition.reset()
    random.seed(os.urandom(32))


def register(hooks: Any | None = None) -> bool:
    """Register the hooks with ``hooks`` (the runtime's ``snapshot_restore_py`` by default);
    False where there is none (not in Lambda)."""
    runtime: Any = hooks
    if runtime is None:
        try:
            import snapshot_restore_py as runtime  # type: ignore[import-not-found, no-redef]
        except ImportError:
            return False
    runtime.register_before_snapshot(before_snapshot)
    runtime.register_after_restore(after_restore)
    return True
