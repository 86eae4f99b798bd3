"""Inject AWS faults through botocore's own event hooks, so the SDK's retries run for real.

A ``before-send`` handler registered first answers chosen operations with an
error response (or raises) instead of moto; every attempt, retries included,
passes through it and is counted. ``Fault(lose_answer=True)`` lets moto apply the
request and then raises botocore's ``ReadTimeoutError``: the service did the work and
its answer never arrived, which botocore's standard mode retries.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

_REASON_MESSAGES = {"TransactionConflict": "Transaction is ongoing for the item"}
"""Per-item messages DynamoDB sends in ``CancellationReasons`` (API reference, TransactWriteItems)."""
_JSON_PROTOCOL = {"dynamodb": "application/x-amz-json-1.0", "secrets-manager": "application/x-amz-json-1.1"}


def error_response(
    service: str, code: str, status: int, url: str, reasons: tuple[str, ...] = (), message: str = ""
) -> AWSResponse:
    """The error as the service sends it; ``reasons``: a cancelled transaction's per-item codes."""
    message = message or f"injected {code}"
    if service in _JSON_PROTOCOL:
        headers = {"Content-Type": _JSON_PROTOCOL[service], "x-amzn-ErrorType": code}
        prefix = "com.amazonaws.dynamodb.v20120810#" if service == "dynamodb" else ""
        fields: dict[str, Any] = {"__type": prefix + code, "message": message}
        if reasons:
            fields["CancellationReasons"] = [
                {
                    "Code": reason,
                    **({"Message": _REASON_MESSAGES[reason]} if reason in _REASON_MESSAGES else {}),
                }
                for reason in reasons
            ]
            listed = ", ".join(reasons)
            fields["message"] = f"Transaction cancelled, please refer cancellation reasons [{listed}]"
        body = json.dumps(fields)
    elif service == "s3":  # REST-XML: the error element is the document
        headers = {"Content-Type": "application/xml"}
        body = f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    else:  # query protocol (SNS)
        headers = {"Content-Type": "text/xml"}
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        )
    return AWSResponse(url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]


@dataclass
class Fault:
    code: str = ""
    status: int = 400
    times: int | None = None
    """How many attempts fail; None = every attempt."""
    reasons: tuple[str, ...] = ()
    """For ``TransactionCanceledException``: one ``CancellationReasons`` code per item, in order."""
    raise_: Callable[[], BaseException] | None = None
    lose_answer: bool = False
    """Let moto apply the request, then lose its answer (``ReadTimeoutError``)."""
    delay_seconds: float = 0.0
    """Hold the request this long first (a slow answer); with no ``code``, moto then answers it."""
    matching: str = ""
    """Only requests whose body contains this text (one table's or one item's writes); others pass."""
    message: str = ""
    """The error's message as the service words it (default ``injected <code>``)."""


@dataclass
class FaultInjector:
    faults: dict[str, Fault] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    """Every attempt per ``service.Operation``, retries included, failed or not."""

    def fail(self, operation: str, fault: Fault) -> None:
        self.faults[operation] = fault

    def heal(self, operation: str) -> None:
        self.faults.pop(operation, None)

    def install(self, session: Any) -> None:
        session.get_component("event_emitter").register_first("before-send", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _provider, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        self.attempts[key] += 1
        fault = self.faults.get(key)
        if fault is None or fault.times == 0:
            return None
        if fault.matching and fault.matching not in _text(request.body):
            return None
        if fault.times is not None:
            fault.times -= 1
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.raise_ is not None:
            raise fault.raise_()
        if not fault.code and not fault.lose_answer:
            return None
        if fault.lose_answer:
            apply_with_moto(request, event_name)
            raise ReadTimeoutError(endpoint_url=request.url)
        return refuse(request, service, fault.code, fault.status, fault.reasons, fault.message)


def _text(body: bytes | str | None) -> str:
    return body.decode(errors="replace") if isinstance(body, bytes) else body or ""


NOWHERE = "http://fault-injected.invalid/"
"""Where a handled request is pointed, so moto (after us on the same hook) never applies it."""


def refuse(
    request: Any, service: str, code: str, status: int, reasons: tuple[str, ...] = (), message: str = ""
) -> AWSResponse:
    """Answer the request with the service's error instead of letting moto apply it."""
    original, request.url = request.url, NOWHERE
    return error_response(service, code, status, original, reasons, message)


def apply_with_moto(request: Any, event_name: str) -> AWSResponse | None:
    """Have moto apply the request now, and make sure it does not apply it again after us."""
    response: AWSResponse | None = botocore_stubber(event_name=event_name, request=request)
    request.url = NOWHERE
    return response
