"""AWS X-Ray without its SDK: the spans both functions add to an event's trace.

With ``Tracing: Active`` (the template's ``Tracing`` parameter) Lambda records each invocation as a
segment and gives the function its trace header in ``_X_AMZN_TRACE_ID`` (Root, Parent = the
function's segment, Sampled). botocore copies that header onto every AWS request the function makes
(its recursion-detection handler), so SNS and then SQS carry the trace onwards; a message arrives with
it as ``AWSTraceHeader``. What this module adds:

* ``span(name, **annotations)``: a subsegment of the current invocation's segment (``verify``,
  ``claim``, ``publish``, ``mark``, ``stripe_fetch``), with the event id and type as annotations,
  which X-Ray indexes: ``annotation.event_id = "evt_…"`` finds an event's traces.
* ``segment(name, header, …)``: a segment of its own in a *message's* trace, under the SQS hop that
  delivered it: an action's work appears in the trace of the event it acted on.

Documents go to the X-Ray daemon that Lambda runs beside the function (``AWS_XRAY_DAEMON_ADDRESS``),
one UDP datagram each, as the SDK sends them (AWS X-Ray Developer Guide, "Sending segment documents
to the X-Ray daemon"). Nothing is sent unless the header says the trace is sampled, a send never
raises, and nothing here is on the import path of anything heavier than ``json`` and ``socket``:
the X-Ray SDK's import and its patching of botocore cost the cold start far more
(docs/performance.md, "Tracing"). Never an annotation from the body: ids and types only.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

HEADER_ENV = "_X_AMZN_TRACE_ID"
DAEMON_ENV = "AWS_XRAY_DAEMON_ADDRESS"
DEFAULT_DAEMON = "127.0.0.1:2000"
PREAMBLE = b'{"format": "json", "version": 1}\n'
MAX_DOCUMENT_BYTES = 64 * 1024
"""The daemon reads one UDP datagram per document (64 KB); ours are a few hundred bytes."""

Annotations = Mapping[str, str | int | bool]


@dataclass(frozen=True)
class TraceHeader:
    """An X-Ray trace header: ``Root=1-…;Parent=…;Sampled=1`` (any other field is ignored)."""

    root: str
    parent: str | None
    sampled: bool

    @classmethod
    def parse(cls, value: str | None) -> TraceHeader | None:
        fields = dict(part.split("=", 1) for part in (value or "").split(";") if "=" in part)
        root = fields.get("Root", "")
        if not root.startswith("1-") or len(root) > 64:
            return None
        return cls(root, fields.get("Parent") or None, fields.get("Sampled") == "1")


def current() -> TraceHeader | None:
    """The current invocation's trace (Lambda sets the variable for each invocation)."""
    return _parsed(os.environ.get(HEADER_ENV))


@functools.lru_cache(maxsize=4)
def _parsed(value: str | None) -> TraceHeader | None:
    """One invocation's header, parsed once however many steps ask (it changes per invocation)."""
    return TraceHeader.parse(value)


def trace_id() -> str | None:
    """The current invocation's trace id, for log lines (None when not traced)."""
    header = current()
    return header.root if header is not None else None


@contextlib.contextmanager
def span(name: str, **annotations: str | int | bool) -> Iterator[None]:
    """Time the block as a subsegment of the invocation's segment; a block that raises is a fault."""
    header = current()
    if header is None or header.parent is None or not header.sampled:
        yield
        return
    started, fault = time.time(), False
    try:
        yield
    except BaseException:
        fault = True
        raise
    finally:
        _send(_document(name, header, started, annotations, fault=fault, subsegment=True))


def segment(
    name: str, header: TraceHeader | None, started: float, annotations: Annotations, *, fault: bool = False
) -> None:
    """Record ``started``..now as a segment named ``name`` in ``header``'s trace (a message's
    ``AWSTraceHeader``), under the hop that delivered it."""
    if header is not None and header.sampled:
        _send(_document(name, header, started, annotations, fault=fault, subsegment=False))


def _document(
    name: str,
    header: TraceHeader,
    started: float,
    annotations: Annotations,
    *,
    fault: bool,
    subsegment: bool,
) -> dict[str, object]:
    document: dict[str, object] = {
        "name": name,
        "id": os.urandom(8).hex(),
        "trace_id": header.root,
        "start_time": started,
        "end_time": time.time(),
        "annotations": dict(annotations),
    }
    if header.parent is not None:
        document["parent_id"] = header.parent
    if subsegment:
        document["type"] = "subsegment"
    else:
        document["origin"] = "AWS::Lambda::Function"
    if fault:
        document["fault"] = True
    return document


def _send(document: dict[str, object]) -> None:
    datagram = PREAMBLE + json.dumps(document, separators=(",", ":")).encode()
    if len(datagram) > MAX_DOCUMENT_BYTES:
        return
    with contextlib.suppress(OSError, ValueError):  # tracing never fails the work it watches
        address = _daemon()
        _socket().sendto(datagram, address)


@functools.cache
def _socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def _daemon() -> tuple[str, int]:
    """The daemon's UDP address: ``host:port``, or ``tcp:host:port udp:host:port``."""
    value = os.environ.get(DAEMON_ENV) or DEFAULT_DAEMON
    udp = next((part[4:] for part in value.split() if part.startswith("udp:")), value.split()[0])
    host, _, port = udp.rpartition(":")
    return host, int(port)
