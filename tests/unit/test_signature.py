"""Our verifier against the cases Stripe's library tests, and differentially against the library itself."""

from __future__ import annotations

import time

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from stripe_webhook.edges.signature import compute_signature, sign_header, verify
from stripe_webhook.errors import SignatureError

SECRET = "whsec_" + "5a" * 16
PAYLOAD = b'{\n  "id": "evt_test_webhook",\n  "object": "event"\n}'
NOW = 1_731_412_345


def test_valid_header_returns_the_signed_timestamp() -> None:
    assert verify(PAYLOAD, sign_header(PAYLOAD, SECRET, NOW), [SECRET], NOW) == NOW


def test_signature_matches_stripes_own_signing() -> None:
    expected = stripe.WebhookSignature._compute_signature(f"{NOW}.{PAYLOAD.decode()}", SECRET)
    assert compute_signature(NOW, PAYLOAD, SECRET) == expected


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature_header"),
        ("", "missing_signature_header"),
        ("i'm not even a real signature header", "malformed_signature_header"),
        (f"t={NOW}", "malformed_signature_header"),
        (f"v1={'0' * 64}", "malformed_signature_header"),
        (f"t=abc,v1={'0' * 64}", "malformed_signature_header"),
        (f"t=,v1={'0' * 64}", "malformed_signature_header"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", "malformed_signature_header"),
        (f"t=+{NOW},v1={'0' * 64}", "malformed_signature_header"),
        (f"t={NOW},v0={'0' * 64}", "malformed_signature_header"),
        (f"t={NOW},v1", "malformed_signature_header"),
        (f"t={NOW},v1={'0' * 64}", "signature_mismatch"),
        ("t=" + "9" * 5000 + ",v1=" + "a" * 64, "malformed_signature_header"),
        ("x" * 9000, "malformed_signature_header"),
    ],
)
def test_malformed_or_wrong_headers_are_rejected(header: str | None, code: str) -> None:
    with pytest.raises(SignatureError) as raised:
        verify(PAYLOAD, header, [SECRET], NOW)
    assert raised.value.code == code


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamps_outside_five_minutes_either_way_are_rejected(offset: int) -> None:
    header = sign_header(PAYLOAD, SECRET, NOW + offset)
    with pytest.raises(SignatureError) as raised:
        verify(PAYLOAD, header, [SECRET], NOW)
    assert raised.value.code == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_five_minutes_are_accepted(offset: int) -> None:
    verify(PAYLOAD, sign_header(PAYLOAD, SECRET, NOW + offset), [SECRET], NOW)


def test_uppercase_hex_is_not_the_signature() -> None:
    signature = compute_signature(NOW, PAYLOAD, SECRET).upper()
    with pytest.raises(SignatureError):
        verify(PAYLOAD, f"t={NOW},v1={signature}", [SECRET], NOW)


def test_any_v1_matching_any_secret_is_accepted() -> None:
    other = "whsec_" + "6b" * 16
    header = f"t={NOW},v1={compute_signature(NOW, PAYLOAD, other)},v1={'f' * 64},v0=deadbeef"
    assert verify(PAYLOAD, header, [SECRET, other], NOW) == NOW


def test_a_changed_byte_or_line_ending_breaks_the_signature() -> None:
    header = sign_header(PAYLOAD, SECRET, NOW)
    for tampered in (
        PAYLOAD.replace(b"\n", b"\r\n"),
        PAYLOAD + b" ",
        PAYLOAD[:-1],
        PAYLOAD.replace(b"e", b"E", 1),
    ):
        with pytest.raises(SignatureError):
            verify(tampered, header, [SECRET], NOW)


# Differential: wherever we accept, Stripe's library must accept too. Where the library accepts and
# we reject, it must be one of our deliberate strictnesses: a future timestamp, a second or
# non-canonical t (" 123"), or a v1 value with more after the signature ("v1=<sig>=", which the
# library truncates at the second "=").

HEX = "0123456789abcdef"


def _mutations(valid: str, timestamp: int) -> st.SearchStrategy[str]:
    signature = valid.split("v1=", 1)[1]
    pieces = st.sampled_from(
        [
            f"t={timestamp}",
            f"t={timestamp + 1}",
            f"t=0{timestamp}",
            f"t= {timestamp}",
            "t=",
            "t",
            f"v1={signature}",
            f"v1={signature.upper()}",
            f"v1= {signature}",
            f"v1={signature[:-1]}",
            f"v1={signature}=",
            "v1=" + "0" * 64,
            "v1",
            "v0=" + signature,
            " v1=" + signature,
            "",
            "x=y",
        ]
    )
    return st.lists(pieces, min_size=0, max_size=5).map(",".join)


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    # Keep clear of the tolerance edges, where the two clocks may straddle a second.
    age=st.integers(min_value=-600, max_value=600).filter(lambda age: abs(abs(age) - 300) > 5),
)
def test_we_never_accept_what_stripes_library_rejects(data: st.DataObject, age: int) -> None:
    now = int(time.time())
    timestamp = now - age
    header = data.draw(_mutations(sign_header(PAYLOAD, SECRET, timestamp), timestamp))
    try:
        verify(PAYLOAD, header, [SECRET], now)
        ours = True
    except SignatureError:
        ours = False
    try:
        stripe.WebhookSignature.verify_header(PAYLOAD.decode(), header, SECRET, tolerance=300)
        theirs = True
    except stripe.SignatureVerificationError:
        theirs = False

    if ours:
        assert theirs, header
    elif theirs:
        items = header.split(",")
        timestamps = [item for item in items if item.startswith("t=")]
        deliberate = (
            age < -300
            or len(timestamps) > 1
            or timestamps[0] != f"t={timestamp}"
            or any(item.startswith("v1=") and item.count("=") > 1 for item in items)
        )
        assert deliberate, header
