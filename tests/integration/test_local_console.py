"""The local stack's console: a handler's bug prints a readable traceback, not an escaped JSON line."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from infra.local.views import print_tracebacks_readably
from stripe_webhook.observability import logger


@pytest.fixture
def restored_logger() -> Iterator[None]:
    handlers, level = list(logger._logger.handlers), logger.registered_handler.level
    yield
    logger._logger.handlers[:] = handlers
    logger.registered_handler.setLevel(level)


def test_a_handler_exception_prints_python_s_traceback_and_no_json_line(
    function_logs: io.StringIO, restored_logger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    print_tracebacks_readably(verbose=False)

    def invoice_handler() -> None:
        raise KeyError("status_transitions")

    try:
        invoice_handler()
    except KeyError:
        logger.exception("the billing handler raised", extra={"error": "handler_failed", "event_id": "evt_1"})

    _, err = capsys.readouterr()
    assert "-- the billing handler raised [handler_failed] evt_1: traceback" in err
    assert "Traceback (most recent call last):" in err and "in invoice_handler" in err
    assert "KeyError: 'status_transitions'" in err
    assert "handler_failed" not in function_logs.getvalue()  # the JSON line is kept for --verbose


def test_verbose_keeps_the_json_logs_too(function_logs: io.StringIO, restored_logger: None) -> None:
    print_tracebacks_readably(verbose=True)
    try:
        raise KeyError("evidence_details")
    except KeyError:
        logger.exception("the disputes handler raised", extra={"error": "handler_failed"})
    assert '"error":"handler_failed"' in function_logs.getvalue()
