"""``make run ARGS=--persist``: the local stack's data and inbox survive a restart (``make reset``).

moto's own recorder was the first choice and does not fit here: its replay re-sends every
recorded request through the server it is recorded on, which the local stack serves one request
at a time (``moto_server``), and it replays reads, receipt-handle deletes and publishes as well,
so queues would not come back as they were. Instead the stack saves what it holds when it stops
(SIGINT or SIGTERM) and puts it back when it starts: the table's items, the payload bucket's
objects, the consumer queue's waiting messages, the inbox's requests, and what the example
actions did (their idempotency records and the items they wrote); and the generated signing secret,
so exported secrets and Stripe CLI setups keep working. A stack killed with SIGKILL keeps what it
saved the time before: a snapshot is written whole to a temporary file and then renamed over the
old one, and one that cannot be read (a disk that filled up) is moved aside, never overwritten.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.local.inbox import Entry, Inbox
from infra.local.resources import LocalResources

STATE_DIR = REPO_ROOT / ".local-stack"
SNAPSHOT = "snapshot.json"
SECRET_FILE = "signing-secret"  # noqa: S105 (a file name, not a secret)


def state_dir() -> Path:
    """``.local-stack/`` at the repository root (git-ignored), or ``STRIPE_LOCAL_PERSIST_DIR`` (tests)."""
    return Path(os.environ.get("STRIPE_LOCAL_PERSIST_DIR") or STATE_DIR)


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item, in DynamoDB's JSON (a binary value, such as an event's deflated body, base64)."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return [
        {name: as_json_value(value) for name, value in item.items()}
        for page in pages
        for item in page["Items"]
    ]


def _put(dynamodb: Any, table: str, item: dict[str, Any]) -> None:
    dynamodb.put_item(TableName=table, Item={name: from_json_value(value) for name, value in item.items()})


def as_json_value(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value as botocore gives it → as DynamoDB's JSON spells it (bytes as base64)."""
    return _binary_values(value, lambda raw: base64.b64encode(raw).decode("ascii"))


def from_json_value(value: dict[str, Any]) -> dict[str, Any]:
    """The reverse of ``as_json_value``: what botocore takes."""
    return _binary_values(value, base64.b64decode)


def _binary_values(value: dict[str, Any], convert: Callable[[Any], Any]) -> dict[str, Any]:
    """``value`` with ``convert`` applied to every binary in it, however deep."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": convert(content)}
    if kind == "BS":
        return {"BS": [convert(entry) for entry in content]}
    if kind == "M":
        return {"M": {name: _binary_values(entry, convert) for name, entry in content.items()}}
    if kind == "L":
        return {"L": [_binary_values(entry, convert) for entry in content]}
    return value


def save(
    directory: Path, aws: Any, resources: LocalResources, inbox: Inbox | None, tables: tuple[str, ...] = ()
) -> int:
    """Write everything the stack holds (``tables``: more tables to keep, e.g. the actions');
    return how many things were saved."""
    bucket, queue_url = resources.bucket, resources.queue_url
    items = _scan(aws("dynamodb"), resources.table_name)
    more = {table: _scan(aws("dynamodb"), table) for table in tables}
    objects = []
    if bucket:
        s3 = aws("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                objects.append({"key": entry["Key"], "body": base64.b64encode(body).decode("ascii")})
    messages = _waiting_messages(aws("sqs"), queue_url) if queue_url else []
    entries = [asdict(entry) for entry in inbox.entries()] if inbox else []
    snapshot = {"items": items, "objects": objects, "messages": messages, "inbox": entries, "tables": more}
    _write_whole(directory / SNAPSHOT, json.dumps(snapshot))
    return len(items) + len(objects) + len(messages) + len(entries) + sum(map(len, more.values()))


def restore(
    directory: Path, aws: Any, resources: LocalResources, inbox: Inbox | None, tables: tuple[str, ...] = ()
) -> int:
    """Put a saved snapshot back into the fresh stack (and into those of ``tables`` it holds);
    return how many things were restored."""
    table, bucket, queue_url = resources.table_name, resources.bucket, resources.queue_url
    snapshot = read_snapshot(directory)
    if snapshot is None:
        return 0
    dynamodb = aws("dynamodb")
    for item in snapshot["items"]:
        _put(dynamodb, table, item)
    for stored in snapshot["objects"] if bucket else []:
        aws("s3").put_object(Bucket=bucket, Key=stored["key"], Body=base64.b64decode(stored["body"]))
    for message in snapshot["messages"] if queue_url else []:
        aws("sqs").send_message(QueueUrl=queue_url, **message)
    for values in snapshot["inbox"] if inbox else []:
        assert inbox is not None
        inbox.restore(Entry(**values))
    kept = {name: items for name, items in snapshot.get("tables", {}).items() if name in tables}
    for name, items in kept.items():
        for item in items:
            _put(dynamodb, name, item)
    restored = sum(len(snapshot[name]) for name in ("items", "objects", "messages", "inbox"))
    return restored + sum(map(len, kept.values()))


def read_snapshot(directory: Path, say: Callable[[str], None] = print) -> dict[str, Any] | None:
    """The saved snapshot, or None: there is none, or it cannot be read, and is then moved aside
    (``snapshot.unreadable-<time>.json``) so that the next save cannot overwrite it."""
    path = directory / SNAPSHOT
    if not path.is_file():
        return None
    try:
        snapshot = json.loads(path.read_text())
        if not isinstance(snapshot, dict) or not all(
            isinstance(snapshot.get(name), list) for name in ("items", "objects", "messages", "inbox")
        ):
            raise ValueError("it is not a snapshot of the local stack")
    except (OSError, ValueError) as error:
        aside = path.with_name(f"snapshot.unreadable-{time.strftime('%Y%m%d-%H%M%S')}.json")
        path.rename(aside)
        say(
            f"the saved state {path} cannot be read ({error}); moved it to {aside.name} and starting"
            " empty. Delete it once you no longer need it (make reset)."
        )
        return None
    return snapshot


def saved_secret(directory: Path) -> str | None:
    """The signing secret a ``--persist`` stack generated before, if any."""
    path = directory / SECRET_FILE
    secret = path.read_text().strip() if path.is_file() else ""
    return secret if secret.startswith("whsec_") else None


def keep_secret(directory: Path, secret: str) -> None:
    """Keep a generated signing secret for the next ``--persist`` start (readable by you only)."""
    _write_whole(directory / SECRET_FILE, secret + "\n", mode=0o600)


def _write_whole(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: a kill or a full disk leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def reset(directory: Path | None = None) -> bool:
    """Forget the saved state; True if there was any."""
    directory = directory or state_dir()
    existed = directory.exists()
    shutil.rmtree(directory, ignore_errors=True)
    return existed


def _waiting_messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """The queue's waiting messages, read without consuming them (made visible again at once)."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(100):
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = {
                "MessageBody": message["Body"],
                "MessageAttributes": message.get("MessageAttributes", {}),
            }
    # Hand them back: the stack is stopping, and a restart restores them from the snapshot
    return list(seen.values())


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m infra.local.persist", description="make reset: forget the local stack's saved state"
    )
    parser.add_argument("command", choices=["reset"])
    parser.parse_args(argv)
    print("removed the saved local state (.local-stack/)" if reset() else "no saved local state to remove")
    return 0


if __name__ == "__main__":
    from infra.cli import exit_with

    exit_with(main)
