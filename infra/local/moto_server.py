"""moto as the local stack's AWS endpoint, made to behave like the real thing under load.

Two adjustments to moto (pinned in requirements.txt; tests/e2e exercise both):

- One request at a time. moto's backends are not thread-safe: a DynamoDB
  transaction racing another write fails with a 500, and a conditional write
  is only a claim if it is atomic, as it is in DynamoDB.
- Transactions roll back only the items they touch. moto snapshots the whole
  table (a deep copy) before every TransactWriteItems, which makes each claim
  cost O(table size): after a few thousand events the local stack would crawl.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any


def start_aws(host: str, port: int) -> Any:
    """Start moto on ``host:port`` in a background thread; the returned server has ``stop()``."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class SerializedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serialized(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    install_item_level_transaction_rollback()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log would drown ours
    server = SerializedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def install_item_level_transaction_rollback() -> None:
    """Make moto's TransactWriteItems snapshot the touched items instead of whole tables."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "item_level_rollback", False):
        return
    whole_table_version = models.DynamoDBBackend.transact_write_items

    class _TablesNotCopied:
        """Stands in for the ``copy`` module inside moto's DynamoDB models: tables are not copied."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {
                name: op["Item"][name]
                for name in (table.hash_key_attr, table.range_key_attr)
                if name and name in op.get("Item", {})
            }
            current = self.get_item(table.name, key) if len(key) == len(table.schema) else None
            saved.append((table, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        try:
            whole_table_version(self, transact_items)
        except Exception:
            for table, key, attributes in reversed(saved):
                if attributes is None:
                    hash_value = DynamoType(key[table.hash_key_attr])
                    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                    table.delete_item(hash_value, range_value)
                else:
                    table.put_item(attributes)
            raise

    transact_write_items.item_level_rollback = True  # type: ignore[attr-defined]
    models.copy = _TablesNotCopied  # type: ignore[attr-defined,assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
