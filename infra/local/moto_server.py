"""moto as the local stack's AWS endpoint, made to behave like the real thing under load, and
closed to web pages (``guard.browser_refusal``: moto itself grants CORS to any origin).

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
import json
import logging
import threading
from typing import Any

from infra.local.guard import HostPolicy, browser_refusal


class LocalAws:
    """moto on one port, on one or more addresses (loopback, and the Docker bridge when asked)."""

    def __init__(self, servers: list[Any], lock: threading.Lock) -> None:
        self.servers = servers
        self.lock = lock

    def queue_messages(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message of the queue, waiting or in flight, as ``--persist`` keeps it: read from moto
        itself (receiving them would hide some, and takes seconds a batch on a long queue)."""
        from moto.sqs.models import sqs_backends

        from infra.local.connect import REGION
        from infra.local.snapshot import message_json

        account, name = queue_url.rstrip("/").split("/")[-2:]
        with self.lock:
            queue = sqs_backends[account][REGION].get_queue(name)
            return [message_json(message.body, message.message_attributes) for message in queue._messages]

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def start_aws(hosts: list[str], port: int, policy: HostPolicy) -> LocalAws:
    """Start moto on ``port`` at each of ``hosts``, in background threads, behind ``policy``: no
    browser request, no foreign ``Host``, no CORS (``guard``)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def guarded(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = {
            name[5:].replace("_", "-").lower(): str(value)
            for name, value in environ.items()
            if name.startswith("HTTP_")
        }
        refusal = browser_refusal(str(environ.get("REQUEST_METHOD", "")), headers, policy)
        if refusal is not None:
            body = json.dumps({"__type": "AccessDenied", "message": refusal}).encode()
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]

        def without_cors(status: str, response_headers: list[tuple[str, str]], *info: Any) -> Any:
            kept = [
                (name, value)
                for name, value in response_headers
                if not name.lower().startswith("access-control-")
            ]
            return start_response(status, kept, *info)

        with lock:
            return list(app(environ, without_cors))

    install_item_level_transaction_rollback()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log would drown ours
    servers = [make_server(host, port, guarded, True, request_handler=MotoRequestHandler) for host in hosts]
    for server in servers:
        threading.Thread(target=server.serve_forever, name="local-aws", daemon=True).start()
    return LocalAws(servers, lock)


def docker_bridge_address(interface: str = "docker0") -> str | None:
    """The host's address on Docker's default bridge (what ``host-gateway`` names), or None."""
    import fcntl
    import socket
    import struct

    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), siocgifaddr, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


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
