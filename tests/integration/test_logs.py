"""Logs of a full run never carry personal data from bodies, signature headers or secrets."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from contract import aws as aws_clients
from infra.fixtures.payloads import available_events, encode, fresh_event
from infra.fixtures.signing import signature_header
from stripe_webhook import composition
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import deliver, invoke, signed_request

PERSONAL_FIELDS = {
    "email",
    "name",
    "phone",
    "line1",
    "fingerprint",
    "client_secret",
    "receipt_email",
    "customer_email",
    "customer_name",
    "description",
    "hosted_invoice_url",
    "receipt_url",
}


def personal_values(value: Any) -> set[str]:
    """Every string under a personal-data key, anywhere in a payload."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in PERSONAL_FIELDS and isinstance(inner, str) and len(inner) > 3:
                found.add(inner)
            found |= personal_values(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= personal_values(inner)
    return found


def test_logs_of_a_full_run_hold_no_personal_data_headers_or_secrets(
    aws: Aws, secret: str, function_logs: io.StringIO
) -> None:
    events = [fresh_event(name) for name in available_events()]
    headers = []
    for event in events:  # every event type, processed
        body = encode(event)
        header = signature_header(body, secret)
        headers.append(header)
        assert invoke(signed_request(body, secret, header=header)).status == 200
    for event in events[:5]:  # redeliveries
        assert deliver(event, secret, timestamp=int(time.time()) + 1).body["status"] == "duplicate"
    forged = signature_header(encode(events[0]), "whsec_" + "9d" * 16)
    assert invoke(signed_request(encode(events[0]), secret, header=forged)).status == 400
    composition.reset()  # a cold start, so the fault hook is on the new clients
    injector = FaultInjector()
    injector.install(aws_clients.session())
    injector.fail("sns.Publish", Fault("KMSThrottling", 400))
    failing = fresh_event("customer.created")
    assert deliver(failing, secret).status == 503  # an error with a traceback in the logs

    logs = function_logs.getvalue()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert {line.get("correlation_id") for line in lines} >= {event["id"] for event in events}
    assert any("Traceback" in line.get("exception", "") for line in lines)
    forbidden = {secret, forged.split("v1=")[1]} | {header.split("v1=")[1] for header in headers}
    for event in (*events, failing):
        forbidden |= personal_values(event)
    assert len(forbidden) > 20
    assert sorted(value for value in forbidden if value in logs) == []
