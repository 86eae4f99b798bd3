"""The local front refuses before it reads: a bad or missing ``Content-Length`` is a 400 before any
byte of the body is read, and a refused request (a foreign ``Host``, a path that is not the
webhook's) keeps nothing of its body, whatever it declares. Raw sockets on loopback, so each
request says exactly what an attacker's would."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.e2e.conftest import LocalStack, launch, stop

MIB = 1024 * 1024


def exchange(port: int, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` and ``body`` (as far as the server reads it) and return the status and answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head.encode("latin-1") + b"\r\n")
        with contextlib.suppress(OSError):  # the server may answer and close without reading it
            connection.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def latest(stack: LocalStack) -> dict[str, object]:
    """The inbox's newest entry, in full."""
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests", timeout=5) as answer:
        seq = json.loads(answer.read())["requests"][0]["seq"]
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests/{seq}", timeout=5) as answer:
        detail: dict[str, object] = json.loads(answer.read())
    return detail


@pytest.mark.parametrize(
    "length_header",
    [
        "Content-Length: -1",
        "Content-Length: ten",
        "Content-Length: 5\r\nContent-Length: 9",
        "Transfer-Encoding: chunked",
        "",
    ],
    ids=["negative", "not a number", "two lengths", "chunked", "missing"],
)
def test_a_bad_or_missing_length_is_a_400_before_any_read(stack: LocalStack, length_header: str) -> None:
    head = f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\nContent-Type: application/json\r\n"
    head += f"{length_header}\r\n" if length_header else ""

    status, answer = exchange(stack.port, head, b"{" * MIB)

    assert status == 400
    assert json.loads(answer)["error"] == "bad_request"
    entry = latest(stack)
    assert entry["status"] == 400 and entry["body"] == ""


@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [("/nowhere", "127.0.0.1", 404), ("/webhook", "attacker.test", 403), ("/webhook", "127.0.0.1", 405)],
    ids=["no such path", "a foreign Host", "the wrong method"],
)
def test_a_refused_request_keeps_nothing_of_its_body(
    stack: LocalStack, path: str, host: str, expected: int
) -> None:
    method = "PUT" if expected == 405 else "POST"
    body = b'{"padding": "' + b"x" * (3 * MIB) + b'"}'
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{stack.port}\r\nContent-Length: {len(body)}\r\n"

    status, _ = exchange(stack.port, head, body)

    assert status == expected
    entry = latest(stack)
    assert entry["status"] == expected and entry["body"] == ""


MEMORY_CEILING_MIB = 400
"""The local stack's peak resident memory under any load, in MiB (docs/local-development.md): about
150 at rest, plus the inbox's 64 MiB, plus a few requests of 10 MiB in flight and their copies."""


def peak_mib(pid: int) -> float:
    """The process's peak resident set (``VmHWM``), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def test_the_stack_s_memory_stays_under_its_ceiling_whatever_the_requests() -> None:
    stack = launch()
    try:
        at_rest = peak_mib(stack.process.pid)
        port, host = stack.port, f"Host: 127.0.0.1:{stack.port}"
        big = b'{"id": "evt_load", "object": "event", "pad": "' + b"x" * (9 * MIB) + b'"}'
        unsigned = big[: 5 * MIB] + b'"}'
        webhook, elsewhere = f"POST /webhook HTTP/1.1\r\n{host}", f"POST /nope HTTP/1.1\r\n{host}"
        shapes = {  # what each is answered: all are refused, some after reading
            "5 MiB unsigned (read, kept in the inbox)": (webhook, len(unsigned), unsigned, 400),
            "9 MiB, over Lambda's 6 MB": (webhook, len(big), big, 413),
            "9 MiB to a path that is not the webhook": (elsewhere, len(big), big, 404),
            "9 MiB with a foreign Host": ("POST /webhook HTTP/1.1\r\nHost: a.test", len(big), big, 403),
            "a negative length": (webhook, -1, big, 400),
            "11 MiB declared, 9 sent": (webhook, 11 * MIB, big, 413),
        }
        answered: dict[str, set[int]] = {name: set() for name in shapes}
        for _ in range(12):  # bounded: 72 requests, about 600 MiB sent
            for name, (head, length, body, _status) in shapes.items():
                answered[name].add(exchange(port, f"{head}\r\nContent-Length: {length}\r\n", body)[0])
        peak = peak_mib(stack.process.pid)
        ceiling = MEMORY_CEILING_MIB
        print(f"local stack memory: {at_rest:.0f} MiB at rest, {peak:.0f} MiB at peak (ceiling {ceiling})")

        assert answered == {name: {status} for name, (*_, status) in shapes.items()}
        assert peak < MEMORY_CEILING_MIB
    finally:
        stop(stack)
