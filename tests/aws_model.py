"""moto made to behave like DynamoDB and SNS do under concurrency and partial failure.

moto applies every request at once, one at a time, and always answers. Real services do not.
Installed as the first ``before-send`` handler of a botocore session, this model runs each
request through moto (one at a time: moto is not thread-safe) after deciding, at random, what
the real service would have done. Modelled on:

- DynamoDB Developer Guide, "Transaction conflict handling in DynamoDB": a ``PutItem``,
  ``UpdateItem`` or ``DeleteItem`` on an item that an ongoing ``TransactWriteItems`` includes
  fails with ``TransactionConflictException``; a ``TransactWriteItems`` with an item that is part
  of another ongoing transaction is cancelled (``TransactionCanceledException``, its
  ``CancellationReasons`` holding ``TransactionConflict`` at that item's position and ``None``
  elsewhere, as the API reference shows). So each transaction here is "ongoing" for a few
  milliseconds during which it holds its items.
- DynamoDB throttling (``ProvisionedThroughputExceededException``, 400) and server errors
  (``InternalServerError``, 500): nothing was applied; botocore's standard mode retries both.
- Lost answers: the service applied the request and the answer never arrived
  (``ReadTimeoutError``); botocore re-sends it within the same call.
- SNS ``Publish``: throttled (``Throttling``, 400: not applied), or applied with its answer lost.
  At most one SNS answer is lost per event, so a standard topic may carry at most two copies.
- A killed invocation: Lambda stops the function while it claims an event (its timeout), before
  or after DynamoDB applied the claim. ``Killed`` is a ``BaseException``: nothing catches it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from botocore.exceptions import ReadTimeoutError

from tests.faults import apply_with_moto, refuse

Key = tuple[str, str, str]
CLAIMS = ("PutItem", "TransactWriteItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")


class Killed(BaseException):
    """The invocation was stopped by Lambda; the delivery gets no answer (API Gateway: 5xx)."""


@dataclass
class Rates:
    """Chance per request of each fault; ``calm()`` sets them all to zero (the outage ends)."""

    throttle: float = 0.02
    server_error: float = 0.01
    lost_answer: float = 0.02
    sns_throttle: float = 0.02
    sns_lost_answer: float = 0.03
    kill: float = 0.01
    hold_seconds: tuple[float, float] = (0.001, 0.006)
    """How long a transaction is in flight (holds its items)."""


@dataclass
class AwsModel:
    rates: Rates
    seed: int
    injected: Counter[str] = field(default_factory=Counter)
    """Faults injected, by kind."""
    lost_publishes: Counter[str] = field(default_factory=Counter)
    """Per event id: publishes SNS applied whose answer was lost."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()  # guards the random source, the counters and the holds
        self._moto = threading.Lock()  # moto runs one request at a time
        self._held: Counter[Key] = Counter()  # items held by ongoing transactions

    def install(self, session: Any) -> None:
        session.get_component("event_emitter").register_first("before-send", self._before_send)

    def calm(self) -> None:
        with self._lock:
            self.rates = Rates(0, 0, 0, 0, 0, 0, self.rates.hold_seconds)

    def _roll(self) -> float:
        with self._lock:
            return self._random.random()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        _provider, service, operation = event_name.split(".", 2)
        if service == "dynamodb" and operation in WRITES:
            return self._dynamodb_write(request, event_name, operation)
        if service == "sns" and operation == "Publish":
            return self._publish(request, event_name)
        with self._moto:
            return apply_with_moto(request, event_name)

    def _dynamodb_write(self, request: Any, event_name: str, operation: str) -> Any:
        rates, url = self.rates, request.url
        roll = self._roll()
        if roll < rates.throttle:
            self._count("dynamodb throttled")
            return refuse(request, "dynamodb", "ProvisionedThroughputExceededException", 400)
        if roll < rates.throttle + rates.server_error:
            self._count("dynamodb 500")
            return refuse(request, "dynamodb", "InternalServerError", 500)
        body = json.loads(request.body)
        keys = touched_items(operation, body)
        transaction = operation == "TransactWriteItems"
        with self._lock:
            conflicts = [key in self._held for key in keys]
            if any(conflicts):
                self.injected["dynamodb conflict"] += 1
            elif transaction:
                self._held.update(keys)
        if any(conflicts):
            if transaction:
                reasons = tuple("TransactionConflict" if hit else "None" for hit in conflicts)
                return refuse(request, "dynamodb", "TransactionCanceledException", 400, reasons)
            return refuse(request, "dynamodb", "TransactionConflictException", 400)
        kill = operation in CLAIMS and self._roll() < rates.kill
        try:
            if kill and self._roll() < 0.5:
                self._count("killed before the claim applied")
                raise Killed
            if transaction:
                time.sleep(self._uniform(*rates.hold_seconds))
            with self._moto:
                response = apply_with_moto(request, event_name)
        finally:
            if transaction:
                with self._lock:
                    self._held.subtract(keys)
                    self._held += Counter()  # drop zero counts
        if kill:
            self._count("killed after the claim applied")
            raise Killed
        if self._roll() < rates.lost_answer:
            self._count("dynamodb answer lost")
            raise ReadTimeoutError(endpoint_url=url)
        return response

    def _publish(self, request: Any, event_name: str) -> Any:
        rates = self.rates
        if self._roll() < rates.sns_throttle:
            self._count("sns throttled")
            return refuse(request, "sns", "Throttling", 400)
        event_id, url = published_event_id(request.body), request.url
        with self._moto:
            response = apply_with_moto(request, event_name)
        with self._lock:
            lose = self.lost_publishes[event_id] == 0 and self._random.random() < rates.sns_lost_answer
            if lose:
                self.lost_publishes[event_id] += 1
                self.injected["sns answer lost"] += 1
        if lose:
            raise ReadTimeoutError(endpoint_url=url)
        return response

    def _uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._random.uniform(low, high)


def touched_items(operation: str, body: dict[str, Any]) -> list[Key]:
    """The (table, pk, sk) of every item a DynamoDB write request touches, in request order."""

    def key(table: str, attributes: dict[str, Any]) -> Key:
        return (table, attributes["pk"]["S"], attributes["sk"]["S"])

    if operation == "TransactWriteItems":
        keys = []
        for entry in body["TransactItems"]:
            ((kind, action),) = entry.items()
            keys.append(key(action["TableName"], action["Item"] if kind == "Put" else action["Key"]))
        return keys
    return [key(body["TableName"], body["Item"] if operation == "PutItem" else body["Key"])]


def published_event_id(body: bytes | str) -> str:
    """The event id of an SNS ``Publish`` request (query protocol, form-encoded)."""
    text = body.decode() if isinstance(body, bytes) else body
    message = parse_qs(text)["Message"][0]
    return str(json.loads(message)["id"])
