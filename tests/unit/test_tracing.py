"""The trace header as Lambda and SQS hand it over, and where segment documents go."""

from __future__ import annotations

import pytest

from contract import tracing
from contract.tracing import TraceHeader


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            TraceHeader("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", True),
        ),
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:0",
            TraceHeader("1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8", False),
        ),
        (
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            TraceHeader("1-5759e988-bd862e3fe1be46a994272793", None, False),
        ),
        ("Parent=53995c3f42cd8ad8;Sampled=1", None),
        ("Root=2-5759e988;Sampled=1", None),
        ("", None),
        (None, None),
        ("Root=1-" + "a" * 200 + ";Sampled=1", None),
    ],
)
def test_a_trace_header_is_read_as_x_ray_writes_it(value: str | None, expected: TraceHeader | None) -> None:
    assert TraceHeader.parse(value) == expected


def test_without_a_sampled_header_a_span_is_only_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, object]] = []
    monkeypatch.setattr(tracing, "_send", sent.append)
    monkeypatch.delenv(tracing.HEADER_ENV, raising=False)
    with tracing.span("claim", event_id="evt_1"):
        pass
    monkeypatch.setenv(
        tracing.HEADER_ENV, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
    )
    with tracing.span("claim", event_id="evt_1"):
        pass

    assert sent == []


def test_a_span_that_raises_is_sent_as_a_fault_and_the_error_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, object]] = []
    monkeypatch.setattr(tracing, "_send", sent.append)
    monkeypatch.setenv(
        tracing.HEADER_ENV, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    )

    with pytest.raises(RuntimeError), tracing.span("publish", event_id="evt_1"):
        raise RuntimeError("SNS")

    (document,) = sent
    assert document["fault"] is True and document["type"] == "subsegment"
    assert document["parent_id"] == "53995c3f42cd8ad8" and document["annotations"] == {"event_id": "evt_1"}


@pytest.mark.parametrize(
    ("value", "address"),
    [
        (None, ("127.0.0.1", 2000)),
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", ("127.0.0.2", 2001)),
    ],
)
def test_documents_go_to_the_daemon_lambda_names(
    monkeypatch: pytest.MonkeyPatch, value: str | None, address: tuple[str, int]
) -> None:
    if value is None:
        monkeypatch.delenv(tracing.DAEMON_ENV, raising=False)
    else:
        monkeypatch.setenv(tracing.DAEMON_ENV, value)

    assert tracing._daemon() == address


def test_a_daemon_address_that_cannot_be_read_loses_the_document_not_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(tracing.DAEMON_ENV, "no port here")
    monkeypatch.setattr(tracing, "_socket", lambda: pytest.fail("nothing is sent"))

    tracing._send({"name": "claim"})
