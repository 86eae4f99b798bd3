"""``--persist`` never loses what it saved: runs of the local stack's state on moto, one after another.

Each ``stack_run`` is one run of ``make run ARGS=--persist``: a fresh moto (what the stack starts
with), the snapshot restored, the run's deliveries, and the save when it stops (``PersistedRun``,
as ``stack.Services`` drives it). The reproductions of issue 35 are here: a snapshot holding one
entry this checkout cannot restore, ``--no-actions`` dropping the actions' records, a save that
lost most of a long consumer queue.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.fixtures.payloads import encode, fresh_event
from infra.local.inbox import Inbox
from infra.local.moto_server import LocalAws
from infra.local.resources import LocalResources
from infra.local.saving import PersistedRun, targets_of
from stripe_actions.adapters import fulfilment_key
from tests.integration.conftest import Actions, Aws, actions_on, mocked_aws
from tests.integration.test_actions import resend_last_message, session_event
from tests.support import all_items, deliver


@dataclass
class Run:
    aws: Aws
    actions: Actions | None
    inbox: Inbox | None
    persisted: PersistedRun
    said: list[str] = field(default_factory=list)

    def deliver(self, event: dict[str, Any], secret: str) -> None:
        answer = deliver(event, secret)
        assert answer.status == 200
        if self.inbox is not None:
            self.inbox.record(
                method="POST",
                path="/webhook",
                headers={"Content-Type": "application/json"},
                body=encode(event),
                status=answer.status,
                response_body=answer.raw_body,
                latency_ms=12.5,
            )

    def events(self) -> list[str]:
        return sorted(item["pk"] for item in all_items(self.aws.dynamodb, self.aws.table))


@contextmanager
def stack_run(
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
    *,
    actions: bool = True,
    inbox: bool = True,
    before_restore: Callable[[Aws], None] = lambda aws: None,
) -> Iterator[Run]:
    """One ``--persist`` run: restore on a fresh moto, then what the test does, then the stop's save."""
    with contextmanager(mocked_aws)(monkeypatch, secret, fifo=False) as aws:
        assert not all_items(aws.dynamodb, aws.table)  # a run starts empty
        running = actions_on(aws) if actions else None
        local = LocalResources(aws.table, aws.topic_arn, aws.queue_url, aws.bucket)
        targets = targets_of(local, running.resources if running else None)
        said: list[str] = []
        before_restore(aws)
        persisted = PersistedRun(
            LocalAws([], threading.Lock()),
            lambda name: getattr(aws, name),
            targets,
            Inbox(100) if inbox else None,
            said.append,
        )
        persisted.restore()
        yield Run(aws, running, persisted.inbox, persisted, said)
        persisted.save()


@pytest.fixture(autouse=True)
def persist_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRIPE_LOCAL_PERSIST_DIR", str(tmp_path))
    return tmp_path


def saved(persist_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((persist_dir / "snapshot.json").read_text())
    return loaded


def first_run(monkeypatch: pytest.MonkeyPatch, secret: str, count: int = 3) -> list[dict[str, Any]]:
    """A run that received ``count`` paid checkouts and fulfilled them (records, emails, ledger)."""
    events = [session_event("checkout.session.completed", f"cs_test_saved_{n}") for n in range(count)]
    with stack_run(monkeypatch, secret) as run:
        for event in events:
            run.deliver(event, secret)
        assert run.actions is not None and len(run.actions.run()) == count
    return events


@pytest.mark.parametrize(
    ("part", "damage", "named"),
    [
        ("inbox", lambda entry: entry | {"delivery_attempts": 2}, "fields this checkout does not know"),
        ("items", lambda item: ["not", "a", "map"], "not a map of attributes"),
        ("items", lambda item: item | {"payload_z": {"B": "%%%not-base64"}}, "not valid base64"),
        ("items", lambda item: {"sk": item["sk"]}, "no key pk"),
    ],
)
def test_a_snapshot_with_one_thing_it_cannot_restore_is_moved_aside_whole_and_never_saved_over(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path, part: str, damage: Any, named: str
) -> None:
    # Given a saved run, then one entry of it changed as a newer checkout (or damage) would
    events = first_run(monkeypatch, secret)
    snapshot = saved(persist_dir)
    snapshot[part][1] = damage(snapshot[part][1])
    text = json.dumps(snapshot)
    (persist_dir / "snapshot.json").write_text(text)

    # When the stack starts with it, receives one more event, and stops
    later = fresh_event("customer.created")
    with stack_run(monkeypatch, secret) as run:
        assert run.events() == []  # nothing of it was restored, not even the parts before the damage
        run.deliver(later, secret)

    # Then one line said where, the snapshot lies aside byte for byte, and the new save is beside it
    (aside,) = persist_dir.glob("snapshot.unreadable-*.json")
    assert aside.read_text() == text
    (line,) = [line for line in run.said if "cannot be restored" in line]
    assert named in line and f"{part}[1]" in line and aside.name in line
    assert [item["pk"]["S"] for item in saved(persist_dir)["items"]].count(f"EVENT#{later['id']}") == 1
    assert len(events) == 3


def test_a_restore_that_fails_part_way_saves_nothing_over_what_it_read(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path
) -> None:
    first_run(monkeypatch, secret)
    text = (persist_dir / "snapshot.json").read_text()

    def refuse_the_messages(aws: Aws) -> None:
        def refuse(**_: Any) -> None:  # after the tables were put back: the run holds part of it
            raise ConnectionError("the queue stopped answering")

        aws.sqs.meta.events.register("before-call.sqs.SendMessageBatch", refuse)

    with stack_run(monkeypatch, secret, before_restore=refuse_the_messages) as run:
        assert len(run.events()) > 0  # part of the snapshot is in this run

    (aside,) = persist_dir.glob("snapshot.unreadable-*.json")
    assert aside.read_text() == text and not (persist_dir / "snapshot.json").exists()
    assert run.persisted.restored.moved_to == aside
    assert any("restoring it failed: the queue stopped answering" in line for line in run.said)
    assert any(line.startswith("not saving") and aside.name in line for line in run.said)


def test_no_actions_keeps_the_actions_records_so_a_redrive_does_not_fulfil_again(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path
) -> None:
    events = first_run(monkeypatch, secret)
    before = saved(persist_dir)["tables"]
    assert all(before.values()) and len(before) == 2

    with stack_run(monkeypatch, secret, actions=False) as run:
        run.deliver(fresh_event("customer.created"), secret)
    assert saved(persist_dir)["tables"] == before
    assert any("kept unchanged" in line for line in run.said)

    # The next run with actions: every checkout is already fulfilled, no second email
    with stack_run(monkeypatch, secret) as run:
        assert run.actions is not None
        for event in events:
            assert run.actions.item(*fulfilment_key(event["data"]["object"]["id"])) is not None
            resend_last_message(run.actions, "fulfil_order", event["id"])  # as ops redrive --local does
        lines = run.actions.lines(run.actions.run())
        assert lines == [f"action fulfil_order cs_test_saved_{n} skipped: already done" for n in range(3)]
        assert run.actions.emails() == []


def test_an_aws_only_run_keeps_the_inbox_it_has_no_place_for(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path
) -> None:
    first_run(monkeypatch, secret)
    inbox = saved(persist_dir)["inbox"]
    assert len(inbox) == 3

    with stack_run(monkeypatch, secret, inbox=False):
        pass
    assert saved(persist_dir)["inbox"] == inbox

    with stack_run(monkeypatch, secret) as run:
        assert run.inbox is not None and len(run.inbox.entries()) == 3


def test_a_part_a_newer_checkout_saved_is_carried_over_unchanged(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path
) -> None:
    first_run(monkeypatch, secret)
    snapshot = saved(persist_dir) | {"schedules": [{"id": "sched_1"}]}
    (persist_dir / "snapshot.json").write_text(json.dumps(snapshot))

    with stack_run(monkeypatch, secret) as run:
        assert len(run.events()) > 0
    assert saved(persist_dir)["schedules"] == [{"id": "sched_1"}]


@pytest.mark.slow  # moto's SQS costs O(queue) a message: 1,250 take a minute
def test_a_save_keeps_every_message_of_a_long_queue_waiting_or_in_flight(
    monkeypatch: pytest.MonkeyPatch, secret: str, persist_dir: Path
) -> None:
    with stack_run(monkeypatch, secret, actions=False) as run:
        sqs, queue_url = run.aws.sqs, run.aws.queue_url
        for start in range(0, 1250, 10):
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"id": f"evt_{start + n}"}),
                    "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": "x.y"}},
                }
                for n in range(10)
            ]
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        in_flight = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600)
        assert len(in_flight["Messages"]) == 10

    assert len(saved(persist_dir)["messages"]) == 1250
    with stack_run(monkeypatch, secret, actions=False) as run:
        attributes = run.aws.sqs.get_queue_attributes(
            QueueUrl=run.aws.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1250"
