"""The Stripe CLI commands this project prints and documents, for both lines of the CLI in use.

Read from stripe-cli's ``pkg/cmd/listen.go`` on 2026-08-21:

- **The released v1 line** (tag ``v1.50.4``, what package managers install): ``--events`` defaults
  to every snapshot type, so ``--forward-to`` alone forwards them; thin events need their own
  flags, ``--thin-events`` (explicit ``v1.…`` types) and ``--forward-thin-to``. There is no
  ``--all-snapshot``, ``--all-thin`` or ``--events-from``.
- **The v2 line** (branch ``v2``, commit b0fc7fba; PRs #1763, #1765, #1789, #1798): forwarding
  needs a selection (``--events``, ``--all-snapshot`` or ``--all-thin``); snapshot and thin events
  cannot go to the same URL, so each style needs its own ``listen``; ``--thin-events``,
  ``--forward-thin-to`` and ``--forward-thin-connect-to`` were replaced by ``--events`` and
  ``--forward-to`` (it refuses them with an error naming the replacement); ``--events-from``
  (``@self``, ``@accounts``, ``all``) chooses your own account's events or your connected
  accounts' (Connect).

Without ``--latest``, events come in the account's default API version; with it, in Stripe's
latest, which is the version the stack pins (``StripeApiVersion``) while the two agree.
``tests/unit/test_stripe_cli.py`` checks every command here and in the docs against its line's rules.
"""

from __future__ import annotations

from infra.local.server import THIN_WEBHOOK_PATH, WEBHOOK_PATH


def listen_snapshot(port: int) -> str:
    """Snapshot events (every type: the stack stores and publishes all of them) to ``/webhook`` (v2)."""
    return f"stripe listen --all-snapshot --latest --forward-to localhost:{port}{WEBHOOK_PATH}"


def listen_thin(port: int) -> str:
    """Thin events (``v1.*`` and ``v2.*`` notifications) to ``/webhook/thin``, in a second listen (v2)."""
    return f"stripe listen --all-thin --forward-to localhost:{port}{THIN_WEBHOOK_PATH}"


def listen_v1(port: int) -> str:
    """The same snapshot events with the released v1 line of the CLI (``stripe version`` 1.x)."""
    return f"stripe listen --latest --forward-to localhost:{port}{WEBHOOK_PATH}"
