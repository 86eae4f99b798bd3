"""The Stripe CLI commands this project prints and documents, as the current CLI takes them.

Read from stripe-cli's ``pkg/cmd/listen.go`` (branch ``v2``, commit b0fc7fba, 2026-08-21; PRs
#1763, #1765, #1789, #1798): ``--forward-to`` forwards whatever ``--events`` selects, thin types
(``v1.…``, ``v2.…``) included; when forwarding, an event selection is required (``--events``,
``--all-snapshot`` or ``--all-thin``); snapshot and thin events cannot go to the same URL, so each
style needs its own ``listen``; ``--thin-events``, ``--forward-thin-to`` and
``--forward-thin-connect-to`` were removed (an error that names their replacement). Without
``--latest``, events come in the account's default API version; with it, in Stripe's latest,
which is the version the stack pins (``StripeApiVersion``) while the two agree.
"""

from __future__ import annotations

from infra.local.server import THIN_WEBHOOK_PATH, WEBHOOK_PATH


def listen_snapshot(port: int) -> str:
    """Snapshot events (every type: the stack stores and publishes all of them) to ``/webhook``."""
    return f"stripe listen --all-snapshot --latest --forward-to localhost:{port}{WEBHOOK_PATH}"


def listen_thin(port: int) -> str:
    """Thin events (``v1.*`` and ``v2.*`` notifications) to ``/webhook/thin``, in a second listen."""
    return f"stripe listen --all-thin --forward-to localhost:{port}{THIN_WEBHOOK_PATH}"
