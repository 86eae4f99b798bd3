"""DynamoDB, the write side: the event log and the records, as the pipeline's ``EventStore``.

A new event costs one call to claim it *and* write its records (``claim.py``), and one to mark it
published (``lease.py``); a duplicate costs exactly one call. This class only holds the table
(``table.Table``) both write to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from contract import aws
from stripe_webhook.adapters import claim, lease
from stripe_webhook.adapters.table import Table, Waits
from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.ports import Claim, PayloadLocation, Resolver


class DynamoStore(aws.ServiceAdapter):
    service = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        lease_seconds: int,
        retention_seconds: int,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client)
        self._table_name = table_name
        self._lease_seconds = lease_seconds
        self._retention_seconds = retention_seconds
        self._waits = Waits(sleep=sleep, clock=clock)
        self._table: Table | None = None

    @property
    def table(self) -> Table:
        if self._table is None:  # the client is made on first use
            self._table = Table(
                self.client, self._table_name, self._lease_seconds, self._retention_seconds, self._waits
            )
        return self._table

    def claim(
        self,
        event: StripeEvent,
        records: Sequence[Record],
        handler: str | None,
        now: float,
        *,
        resolve: Resolver | None = None,
        payload: PayloadLocation | None = None,
    ) -> Claim:
        return claim.claim(self.table, event, records, handler, now, resolve=resolve, payload=payload)

    def mark_published(
        self,
        event: StripeEvent,
        token: str,
        message_id: str,
        now: float,
        *,
        deadline: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool:
        return lease.mark_published(
            self.table, event, token, message_id, now, deadline=deadline, payload=payload
        )

    def release(
        self,
        event: StripeEvent,
        token: str,
        *,
        published_maybe_at: float | None = None,
        payload: PayloadLocation | None = None,
    ) -> bool:
        return lease.release(self.table, event, token, published_maybe_at=published_maybe_at, payload=payload)
