"""Pure verification of Stripe's ``Stripe-Signature`` header (no I/O).

Stripe signs ``"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's
signing secret and sends ``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``. During a
secret roll Stripe sends one ``v1`` per active secret, and we may hold several
secrets too, so any ``v1`` matching any secret is accepted.

We are deliberately stricter than Stripe's own library in a few places: the
timestamp must be plain ASCII digits and appear once, a ``v1`` value must be
exactly the signature (the library ignores anything after a second ``=``), and
a timestamp too far in the *future* is rejected as well as a stale one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from stripe_webhook.errors import SignatureError

DEFAULT_TOLERANCE_SECONDS = 300
SIGNATURE_SCHEME = "v1"
_MAX_HEADER_LENGTH = 8192
_HEX_SHA256_LENGTH = 64


def compute_signature(timestamp: int, payload: bytes, secret: str) -> str:
    """Return the lowercase hex ``v1`` signature Stripe would send."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_header(payload: bytes, secret: str, timestamp: int) -> str:
    """Build a ``Stripe-Signature`` header value (used by tests and local tooling)."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={compute_signature(timestamp, payload, secret)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its ``v1`` signatures."""
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError("malformed_signature_header", "Stripe-Signature header is too long")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        if not sep and key in ("t", SIGNATURE_SCHEME):
            raise SignatureError("malformed_signature_header", "Stripe-Signature item has no value")
        if key == "t":
            timestamps.append(value)
        elif key == SIGNATURE_SCHEME:
            signatures.append(value)
    if len(timestamps) != 1:
        raise SignatureError(
            "malformed_signature_header", "Stripe-Signature header needs exactly one t= timestamp"
        )
    raw_timestamp = timestamps[0]
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise SignatureError("malformed_signature_header", "Stripe-Signature timestamp is not a number")
    if not signatures:
        raise SignatureError("malformed_signature_header", "Stripe-Signature header has no v1 signature")
    return int(raw_timestamp), signatures


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Verify ``header`` for ``payload``; return the signed timestamp or raise ``SignatureError``."""
    if not header:
        raise SignatureError("missing_signature_header", "Stripe-Signature header is missing")
    timestamp, candidates = parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"Stripe-Signature timestamp is more than {tolerance}s from the current time",
        )
    offered = [
        candidate.encode("utf-8", "replace")
        for candidate in candidates
        if len(candidate) == _HEX_SHA256_LENGTH
    ]
    matched = False
    for secret in secrets:
        expected = compute_signature(timestamp, payload, secret).encode("ascii")
        for candidate in offered:
            # No early exit: every comparison runs so timing does not reveal which matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("signature_mismatch", "no v1 signature matches a configured signing secret")
    return timestamp
