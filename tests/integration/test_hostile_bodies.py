"""Validly signed hostile bodies: a compromised or buggy sender, a fuzzing partner, a mis-keyed
replay tool. Every answer is a 2xx or a 4xx, never a 5xx (which Stripe would retry for three
days); a 4xx stores and publishes nothing; every published message parses under orjson, a strict
RFC 8259 parser (no ``NaN``/``Infinity``, no number a double cannot hold, no lone surrogate), as
consumers in other languages read it.

Hypothesis picks a handled event type, a field anywhere in its payload (top level, ``data``,
``data.object`` and every nested field) and a mutation: another JSON type, a huge or
out-of-range number, a raw ``NaN``/``Infinity``/``1e400``, a lone surrogate, a long text, deep
nesting, or the field removed. The cases run are printed at the end of the session.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import MAX_RECORD_BYTES, RECORD
from infra.fixtures.payloads import available_events, encode, fresh_event
from stripe_webhook.handlers import build_registry
from tests.integration.conftest import Aws
from tests.support import all_items, deliver, drain

HOSTILE_CASES: Counter[str] = Counter()
"""Cases run per mutation and per answer; reported by tests/conftest.py."""

HANDLED = [name for name in available_events() if build_registry().resolve(name) is not None]
RAW = "__raw_json__"
"""A field set to ``RAW + n`` is written as the ``n``-th raw JSON text (what json.dumps cannot write)."""

RAW_VALUES = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e400": "1e400",
    "lone high surrogate": '"\\ud800"',
    "lone low surrogate": '"x\\udc00y"',
    "deep nesting": "[" * 3000 + "]" * 3000,
    "nested past the parser": "[" * 200_000 + "]" * 200_000,
}
VALUES: dict[str, Any] = {
    "empty list": [],
    "list": ["paid", 1],
    "empty object": {},
    "object": {"id": "x", "status": "paid"},
    "null": None,
    "true": True,
    "zero": 0,
    "negative": -1,
    "int64 max": 2**63 - 1,
    "huge int": 10**40,
    "huge negative int": -(10**40),
    "float": 1.5,
    "big float": 1.7e308,
    "empty string": "",
    "long string": "x" * 6000,
    "300 characters": "y" * 300,
    "2,100-byte id": "pi_" + "a" * 2100,
    "id with a slash": "pi_../../v1/customers",
    "control characters": "a\u0000b\u001fc",
    "emoji": "\U0001f4b3 card",
    "dot dot": "..",
}


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every field's path in ``value`` (dict keys and list indexes), depth first."""
    found: list[tuple[str | int, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


def mutated(event: dict[str, Any], path: tuple[str | int, ...], mutation: str) -> bytes:
    parent: Any = event
    for key in path[:-1]:
        parent = parent[key]
    if mutation == "removed":
        del parent[path[-1]]
        return encode(event)
    if mutation in RAW_VALUES:
        parent[path[-1]] = RAW
        return encode(event).replace(json.dumps(RAW).encode(), RAW_VALUES[mutation].encode(), 1)
    parent[path[-1]] = VALUES[mutation]
    return encode(event)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[str, str, bytes]:
    event_type = draw(st.sampled_from(HANDLED))
    event = fresh_event(event_type)
    interesting = paths(event)
    # Half the cases hit what the function reads: the envelope and the object's own fields.
    own = [
        path for path in interesting if len(path) <= 1 or (path[:2] == ("data", "object") and len(path) == 3)
    ]
    path = draw(st.sampled_from(own if draw(st.booleans()) else interesting))
    mutation = draw(st.sampled_from(["removed", *RAW_VALUES, *VALUES]))
    return event_type, mutation, mutated(event, path, mutation)


def empty_table(aws: Aws) -> None:
    """Each case starts from an empty table (moto's transactions copy the whole table: a growing
    one would make every later case slower)."""
    for item in aws.dynamodb.scan(TableName=aws.table).get("Items", []):
        aws.dynamodb.delete_item(TableName=aws.table, Key={"pk": item["pk"], "sk": item["sk"]})


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=hostile_bodies())
@pytest.mark.slow  # a randomized run of many deliveries: make test and CI, not make check
def test_signed_hostile_bodies_get_2xx_or_4xx_and_publish_only_strict_json(
    aws: Aws, secret: str, case: tuple[str, str, bytes]
) -> None:
    event_type, mutation, body = case
    empty_table(aws)

    response = deliver(body, secret)

    HOSTILE_CASES[f"mutation {mutation}"] += 1
    HOSTILE_CASES[f"answer {response.status // 100}xx"] += 1
    assert response.status < 500, (event_type, mutation, response.body)
    assert 200 <= response.status < 300 or 400 <= response.status < 500
    published = drain(aws.sqs, aws.queue_url)
    if response.status >= 400:
        assert "error" in response.body and "Traceback" not in response.raw_body
        assert published == [], (event_type, mutation)
        assert all_items(aws.dynamodb, aws.table) == [], (event_type, mutation)
        return
    for message in published:
        orjson.loads(message.body)
        for name, value in message.attributes.items():
            bound = MAX_RECORD_BYTES if name == RECORD else 256  # the record: strict JSON, bounded
            assert value.isprintable() and len(value) <= bound, (name, value)
        if RECORD in message.attributes:
            assert isinstance(orjson.loads(message.attributes[RECORD]), dict)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", RAW_VALUES["lone high surrogate"], 400),
        ("object id", RAW_VALUES["lone high surrogate"], 400),
        ("object id", json.dumps(VALUES["2,100-byte id"]), 400),
        ("amount", "NaN", 400),
        ("amount", "Infinity", 400),
        ("amount", "1e400", 400),
        ("amount", "100000000000000000000000000000000000000000", 400),
        ("payment_status", "[]", 200),
        ("status", "{}", 200),
    ],
)
def test_the_reported_hostile_bodies(aws: Aws, secret: str, field: str, value: str, expected: int) -> None:
    """Given the bodies the review reproduced (a 502, a 503 on every retry, NaN published, a 500),
    when each is delivered validly signed, then each gets its 4xx, or a 200 that ignores the
    value of the wrong type."""
    event_type = (
        "checkout.session.completed"
        if field == "payment_status"
        else "customer.subscription.created"
        if field == "status"
        else "payment_intent.succeeded"
    )
    event = fresh_event(event_type)
    target = {"id": event, "object id": event["data"]["object"]}.get(field, event["data"]["object"])
    name = "id" if field in ("id", "object id") else field
    target[name] = RAW
    body = encode(event).replace(json.dumps(RAW).encode(), value.encode(), 1)

    response = deliver(body, secret)

    assert response.status == expected, response.body
    published = drain(aws.sqs, aws.queue_url)
    if expected == 400:
        assert published == [] and all_items(aws.dynamodb, aws.table) == []
    else:
        (message,) = published
        orjson.loads(message.body)
