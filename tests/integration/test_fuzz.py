"""Property-based hostile input: every bad request gets the right 4xx, and leaves no trace.

Hypothesis generates headers (missing, empty, garbage, no t=, non-numeric t, only v0,
uppercase hex, spaces, duplicated keys, huge values, stale and future timestamps) and
bodies (a flipped byte, re-serialised JSON, CRLF line endings, non-UTF-8, empty, not JSON,
JSON that is not an event, a v2 thin event, over the size cap), sent plain or base64, with
the header name in either letter case. The number of cases run is printed at the end of
the test session.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.fixtures.payloads import encode, fresh_event, thin_notification
from infra.local.apigw import proxy_event
from stripe_webhook.core.events import parse_event
from stripe_webhook.edges.signature import compute_signature
from stripe_webhook.errors import InvalidPayload
from stripe_webhook.settings import Settings
from tests.integration.conftest import Aws
from tests.support import all_items, drain, invoke

FUZZ_CASES: Counter[str] = Counter()
"""Cases run per body/header kind; reported by tests/conftest.py."""

MAX_BODY = Settings.max_body_bytes
HEADER_KINDS = [
    "valid",
    "missing",
    "empty",
    "garbage",
    "no t",
    "non-numeric t",
    "only v0",
    "uppercase hex",
    "spaces",
    "duplicated t",
    "huge",
    "stale",
    "future",
    "wrong secret",
    "truncated signature",
]


def _bodies(original: bytes, draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(kind, body, is the original) — the header is then signed for ``original`` or the body."""
    kind = draw(
        st.sampled_from(
            [
                "original",
                "flipped byte",
                "re-serialised",
                "crlf",
                "not utf-8",
                "empty",
                "not json",
                "not an event",
                "thin event",
                "oversized",
                "random bytes",
                "absurd created",
                "deeply nested",
            ]
        )
    )
    if kind == "original":
        return kind, original, True
    if kind == "flipped byte":
        index = draw(st.integers(0, len(original) - 1))
        flipped = bytearray(original)
        flipped[index] ^= draw(st.integers(1, 255))
        return kind, bytes(flipped), False
    if kind == "re-serialised":
        return kind, json.dumps(json.loads(original), separators=(",", ":")).encode(), False
    if kind == "crlf":
        return kind, original.replace(b"\n", b"\r\n"), False
    if kind == "not utf-8":
        return kind, original[:20] + b"\xff\xfe\xfa" + original[20:], False
    if kind == "empty":
        return kind, b"", False
    if kind == "not json":
        return kind, draw(st.text(min_size=1, max_size=200)).encode("utf-8", "surrogatepass") + b"{", False
    if kind == "not an event":
        value = draw(
            st.one_of(
                st.lists(st.integers(), max_size=3),
                st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                st.just({"id": 42, "type": None}),
            )
        )
        return kind, json.dumps(value).encode(), False
    if kind == "thin event":
        return kind, json.dumps(thin_notification()).encode(), False
    if kind == "absurd created":  # 10**18 overflows gmtime; Stripe's events are from this century
        event = json.loads(original)
        event["created"] = draw(st.sampled_from([10**18, 2**64, -1, 4_102_444_801]))
        return kind, json.dumps(event).encode(), False
    if kind == "deeply nested":  # past the JSON parser's recursion limit
        depth = draw(st.sampled_from([1_500, 100_000]))
        nested = b'{"a":' * depth + b"1" + b"}" * depth
        return kind, original.replace(b'"data": {', b'"data": {"deep": ' + nested + b",", 1), False
    if kind == "oversized":
        return kind, original + b" " * (MAX_BODY - len(original) + draw(st.integers(1, 4096))), False
    return kind, draw(st.binary(max_size=300)), False


def _headers(signed_body: bytes, secret: str, draw: st.DrawFn) -> tuple[str, str | None, bool]:
    """(kind, header value or None for missing, is a valid signature for signed_body now)."""
    now = int(time.time())
    good = compute_signature(now, signed_body, secret)
    kind = draw(st.sampled_from(HEADER_KINDS))
    if kind in ("stale", "future"):
        # Correctly signed for the timestamp actually sent, so only its age is wrong.
        offset = draw(st.integers(301, 10**6))
        then = now - offset if kind == "stale" else now + offset
        return kind, f"t={then},v1={compute_signature(then, signed_body, secret)}", False
    bad_t = draw(st.sampled_from(["abc", "1e9", "-5", f" {now}", "0x10", ""]))
    wrong = compute_signature(now, signed_body, "whsec_" + "ab" * 16)
    headers: dict[str, str | None] = {
        "valid": f"t={now},v1={good}",
        "missing": None,
        "empty": "",
        "garbage": draw(st.text(max_size=100)),
        "no t": f"v1={good}",
        "non-numeric t": f"t={bad_t},v1={good}",
        "only v0": f"t={now},v0={good}",
        "uppercase hex": f"t={now},v1={good.upper()}",
        "spaces": f"t={now}, v1={good}",
        "duplicated t": f"t={now},t={now},v1={good}",
        "huge": f"t={now},v1={good}," + "v1=" + "a" * draw(st.integers(8_200, 20_000)),
        "wrong secret": f"t={now},v1={wrong}",
        "truncated signature": f"t={now},v1={good[:-1]}",
    }
    return kind, headers[kind], kind == "valid"


def _acceptable(body: bytes) -> bool:
    try:
        parse_event(body)
    except InvalidPayload:
        return False
    return len(body) <= MAX_BODY


@st.composite
def hostile_requests(draw: st.DrawFn, secret: str) -> tuple[str, dict[str, Any], int]:
    original = encode(
        fresh_event(draw(st.sampled_from(["payment_intent.succeeded", "invoice.paid", "product.created"])))
    )
    body_kind, body, _ = _bodies(original, draw)
    signed_body = original if draw(st.booleans()) else body  # sign what Stripe sent, or the bad body itself
    header_kind, header, header_valid = _headers(signed_body, secret, draw)
    if header_valid and signed_body == body and _acceptable(body):
        # A correctly signed, well-formed event is not hostile: break its signature instead.
        header_kind, header = "wrong secret", f"t={int(time.time())},v1={'0' * 64}"
        header_valid = False
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[draw(st.sampled_from(["Stripe-Signature", "stripe-signature"]))] = header
    request = proxy_event("POST", "/webhook", headers, body)
    if draw(st.booleans()):
        request["body"] = base64.b64encode(body).decode("ascii")
        request["isBase64Encoded"] = True
    expected = 413 if body_kind == "oversized" else 400
    return f"{body_kind} / {header_kind}", request, expected


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_hostile_requests_get_the_right_4xx_and_leave_no_trace(
    aws: Aws, secret: str, data: st.DataObject
) -> None:
    case, request, expected = data.draw(hostile_requests(secret))
    body_kind, header_kind = case.split(" / ")
    FUZZ_CASES[f"body {body_kind}"] += 1
    FUZZ_CASES[f"header {header_kind}"] += 1
    FUZZ_CASES["total"] += 1

    response = invoke(request)

    assert response.status == expected, (case, response.body)
    assert "Traceback" not in response.raw_body and "error" in response.body
    assert all_items(aws.dynamodb, aws.table) == [], case
    assert drain(aws.sqs, aws.queue_url) == [], case
