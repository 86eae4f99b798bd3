"""``make run ARGS=--persist``: the local stack's data and inbox survive a restart (``make reset``).

moto's own recorder was the first choice and does not fit here: its replay re-sends every
recorded request through the server it is recorded on, which the local stack serves one request
at a time (``moto_server``), and it replays reads, receipt-handle deletes and publishes as well,
so queues would not come back as they were. Instead the stack saves what it holds when it stops
(SIGINT or SIGTERM) and puts it back when it starts: the table's items, the payload bucket's
objects, every message of the consumer queue and of the actions' queues (waiting or in flight,
read from moto without receiving them), the inbox's requests, and what the example actions did
(their idempotency records and the items they wrote); and the generated signing secret, so
exported secrets and Stripe CLI setups keep working.

Saved state is never lost. A snapshot is checked whole before anything of it is restored
(``snapshot.parse``); one that cannot be read or restored is moved aside with one line, never
overwritten, and the stack starts without it; if restoring fails part way, the run saves nothing.
What a run has no place for (``--no-actions``: the actions' records) is saved again unchanged. A
snapshot is written whole to a temporary file, flushed, then renamed over the old one: a stack
killed with SIGKILL keeps the one saved before.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.cli import Problem
from infra.local import snapshot
from infra.local.inbox import Inbox
from infra.local.state import saved_in_use

STATE_DIR = REPO_ROOT / ".local-stack"
SECRET_FILE = "signing-secret"  # noqa: S105 (a file name, not a secret)
PARTS = ("items", "objects", "messages", "inbox", "tables", "queues")
Say = Callable[[str], None]


def state_dir() -> Path:
    """``.local-stack/`` at the repository root (git-ignored), or ``STRIPE_LOCAL_PERSIST_DIR`` (tests)."""
    return Path(os.environ.get("STRIPE_LOCAL_PERSIST_DIR") or STATE_DIR)


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item, in DynamoDB's JSON (a binary value, such as an event's deflated body, base64)."""
    pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    return [
        {name: snapshot.as_json_value(value) for name, value in item.items()}
        for page in pages
        for item in page["Items"]
    ]


@dataclass(frozen=True)
class Targets:
    """Where this run puts a snapshot back, and what it saves: a part without one is carried over."""

    table: str
    bucket: str | None = None
    queue_url: str | None = None
    """The consumer queue (the snapshot's ``messages``)."""
    tables: tuple[str, ...] = ()
    """The actions' tables (``--no-actions``: none)."""
    queues: dict[str, str] = field(default_factory=dict)
    """The actions' queues and dead-letter queues, name → URL."""


@dataclass
class Restored:
    count: int = 0
    carried: dict[str, Any] = field(default_factory=dict)
    """The snapshot's parts this run has nowhere to put, saved again as they were."""
    moved_to: Path | None = None
    """Restoring failed part way and the snapshot was moved here: this run saves nothing."""


def restore(directory: Path, aws: Any, targets: Targets, inbox: Inbox | None, say: Say = print) -> Restored:
    """Put a saved snapshot back into the fresh stack, once all of it has been checked: one that
    cannot be (``snapshot.parse``, or a key the table does not have) is moved aside, and nothing of
    it restored. What this run has no place for is carried over to its save."""
    read = read_snapshot(directory, say)
    if read is None:
        return Restored()
    kept = Restored(carried=_not_restored(read.raw, targets, inbox))
    dynamodb = aws("dynamodb")
    try:
        _check_keys(dynamodb, targets.table, read.items, "items")
        for name in targets.tables:
            _check_keys(dynamodb, name, read.tables.get(name, []), f"tables.{name}")
    except snapshot.Unrestorable as error:
        _move_aside(directory / snapshot.SNAPSHOT, str(error), say)
        return Restored()
    try:
        kept.count = _put_back(aws, read, targets, inbox)
    except Exception as error:  # whatever stopped it, the snapshot must not be saved over
        kept.moved_to = _move_aside(directory / snapshot.SNAPSHOT, f"restoring it failed: {error}", say)
        say("this run will not save its state: what it holds is only part of the snapshot")
    return kept


def _put_back(aws: Any, read: snapshot.Snapshot, targets: Targets, inbox: Inbox | None) -> int:
    dynamodb, count = aws("dynamodb"), 0
    puts = [(targets.table, read.items)] + [(name, read.tables.get(name, [])) for name in targets.tables]
    for table, items in puts:
        for item in items:
            dynamodb.put_item(TableName=table, Item=item)
            count += 1
    for key, body in read.objects if targets.bucket else []:
        aws("s3").put_object(Bucket=targets.bucket, Key=key, Body=body)
        count += 1
    sends = [(targets.queue_url, read.messages)] if targets.queue_url else []
    sends += [(url, read.queues.get(name, [])) for name, url in targets.queues.items()]
    for queue_url, messages in sends:
        for start in range(0, len(messages), 10):  # a batch at a time: moto's SQS is O(queue) a call
            batch = [{"Id": str(n), **message} for n, message in enumerate(messages[start : start + 10])]
            failed = aws("sqs").send_message_batch(QueueUrl=queue_url, Entries=batch).get("Failed")
            if failed:
                raise RuntimeError(f"the queue refused a message: {failed[0].get('Message', failed[0])}")
            count += len(batch)
    for entry in read.inbox if inbox else []:
        assert inbox is not None
        inbox.restore(entry)
        count += 1
    return count


def _not_restored(raw: dict[str, Any], targets: Targets, inbox: Inbox | None) -> dict[str, Any]:
    """The parts of ``raw`` this run does not restore, as they were: parts a newer checkout added,
    and those whose place this run lacks (``--no-actions``: the actions' tables and queues)."""
    carried = {name: value for name, value in raw.items() if name not in PARTS}
    placeless = {"objects": not targets.bucket, "messages": not targets.queue_url, "inbox": inbox is None}
    carried |= {name: raw[name] for name, lacking in placeless.items() if lacking and name in raw}
    carried["tables"] = {
        name: items for name, items in raw.get("tables", {}).items() if name not in targets.tables
    }
    carried["queues"] = {
        name: messages for name, messages in raw.get("queues", {}).items() if name not in targets.queues
    }
    return carried


def _check_keys(dynamodb: Any, table: str, items: list[snapshot.Item], where: str) -> None:
    """Each item has the table's key, of its type: else ``put_item`` would fail half way through."""
    schema = dynamodb.describe_table(TableName=table)["Table"]
    kinds = {entry["AttributeName"]: entry["AttributeType"] for entry in schema["AttributeDefinitions"]}
    key = [(entry["AttributeName"], kinds[entry["AttributeName"]]) for entry in schema["KeySchema"]]
    for n, item in enumerate(items):
        for name, kind in key:
            if kind not in item.get(name, {}):
                raise snapshot.Unrestorable(f"{where}[{n}]: no key {name} of type {kind} (table {table})")


@dataclass(frozen=True)
class Saved:
    count: int
    carried: int


def save(
    directory: Path,
    aws: Any,
    targets: Targets,
    inbox: Inbox | None,
    *,
    queue_messages: Callable[[str], list[snapshot.Message]],
    carried: dict[str, Any] | None = None,
) -> Saved:
    """Write everything the stack holds, whole, with the ``carried`` parts of the snapshot it
    restored; ``queue_messages``: a queue's messages, waiting or in flight (``LocalAws``)."""
    dynamodb, carried = aws("dynamodb"), carried or {}
    fresh: dict[str, Any] = {
        "items": _scan(dynamodb, targets.table),
        "tables": {name: _scan(dynamodb, name) for name in targets.tables},
        "queues": {name: queue_messages(url) for name, url in targets.queues.items()},
    }
    if targets.bucket:
        fresh["objects"] = _objects(aws("s3"), targets.bucket)
    if targets.queue_url:
        fresh["messages"] = queue_messages(targets.queue_url)
    if inbox is not None:
        fresh["inbox"] = [asdict(entry) for entry in inbox.entries()]
    whole = {"objects": [], "messages": [], "inbox": [], **carried, **fresh}
    for part in ("tables", "queues"):
        whole[part] = {**carried.get(part, {}), **fresh[part]}
    _write_whole(directory / snapshot.SNAPSHOT, json.dumps(whole))
    return Saved(count=_count(fresh), carried=_count(carried))


def _count(parts: dict[str, Any]) -> int:
    lists = [value for name, value in parts.items() if name in PARTS and isinstance(value, list)]
    named = [value for name in ("tables", "queues") for value in parts.get(name, {}).values()]
    return sum(map(len, lists + named))


def _objects(s3: Any, bucket: str) -> list[dict[str, str]]:
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            objects.append({"key": entry["Key"], "body": snapshot.base64_text(body)})
    return objects


def read_snapshot(directory: Path, say: Say = print) -> snapshot.Snapshot | None:
    """The saved snapshot, checked whole, or None: there is none, or it cannot be read or restored,
    and is then moved aside (``snapshot.unreadable-<time>.json``) so that no save overwrites it."""
    path = directory / snapshot.SNAPSHOT
    if not path.is_file():
        return None
    try:
        size = path.stat().st_size
        if size > snapshot.MAX_BYTES:
            raise snapshot.Unrestorable(f"{size:,} bytes, more than the {snapshot.MAX_BYTES:,} it may hold")
        return snapshot.parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # Unrestorable, UnicodeDecodeError
        _move_aside(path, str(error), say)
        return None


def _move_aside(path: Path, why: str, say: Say) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = (f"snapshot.unreadable-{stamp}{f'-{n}' if n > 1 else ''}.json" for n in range(1, 1000))
    aside = next(path.with_name(name) for name in names if not path.with_name(name).exists())
    path.rename(aside)
    say(
        f"the saved state {path} cannot be restored ({why[:300]}); moved it to {aside.name} and"
        " starting without it. Delete it once you no longer need it (make reset)."
    )
    return aside


def saved_secret(directory: Path) -> str | None:
    """The signing secret a ``--persist`` stack generated before, if any."""
    path = directory / SECRET_FILE
    try:
        with path.open("rb") as handle:
            secret = handle.read(1024).decode("ascii").strip()  # a secret is ~40 characters
    except (OSError, UnicodeDecodeError):
        return None
    return secret if re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]{16,}", secret) else None


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


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m infra.local.persist", description="make reset: forget the local stack's saved state"
    )
    parser.add_argument("command", choices=["reset"])
    parser.parse_args(argv)
    running = saved_in_use(state_dir())
    if running:  # it would save everything again when it stops, under a new secret
        raise Problem(f"not removed: {running}. Stop it (Ctrl-C in its terminal), then make reset")
    print("removed the saved local state (.local-stack/)" if reset() else "no saved local state to remove")
    return 0


if __name__ == "__main__":
    from infra.cli import exit_with

    exit_with(main)
