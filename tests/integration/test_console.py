"""The console's reads and actions on moto, after real deliveries through the handler, with every
AWS call it makes recorded (botocore's ``before-call``): what it shows, that it never scans the
event log unless asked, that a dead-lettered message is shown without being received, that each
action is recorded with the caller before it is made, and that the IAM documents match the calls."""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from infra import REPO_ROOT
from infra.console.actions import DONE, FAILED, UNCERTAIN, Refused
from infra.console.event_log import FILTERED_LIMIT, MAX_QUERIES, EventLog, Filters
from infra.console.launch import build
from infra.console.routes import App
from infra.console.server import ConsoleServer
from infra.fixtures.flows import flow_events
from infra.fixtures.payloads import fresh_event, load_event
from infra.local.action_logs import ActionLogs
from infra.local.action_runners import ActionRunner, build_runners
from infra.local.resources import LocalResources, create_action_resources
from stripe_webhook.adapters import schema
from stripe_webhook.adapters.lease import index_entry
from tests.integration.conftest import Aws
from tests.support import deliver, drain


@dataclass
class Console:
    app: App
    aws: Aws
    runners: dict[str, ActionRunner]
    calls: list[str] = field(default_factory=list)

    def run_actions(self, rounds: int = 30) -> None:
        for _ in range(rounds):
            if not sum(runner.poll_once() for runner in self.runners.values()):
                return

    def dead_letter_url(self, name: str) -> str:
        runner = self.runners[name]
        return runner.queue.dead_letter_url


@pytest.fixture
def console(aws: Aws) -> Iterator[Console]:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}:{model.name}")

    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            made: Any = boto3.client(service)  # type: ignore[call-overload]
            made.meta.events.register("before-call", record)
            clients[service] = made
        return clients[service]

    actions = create_action_resources(
        aws.dynamodb, aws.sns, aws.sqs, boto3.client("ses"), aws.topic_arn, visibility_timeout=0
    )
    local = LocalResources(aws.table, aws.topic_arn, aws.queue_url, aws.bucket)
    runners = build_runners(aws.sqs, local, actions, lambda outcome: None, ActionLogs(boto3.client("logs")))
    args = argparse.Namespace(aws_endpoint="moto", stack=None, local=False, port=8050, allow_actions=True)
    app = build(args, client)
    calls.clear()
    yield Console(app, aws, {runner.queue.actions[0]: runner for runner in runners}, calls)


def operations(console: Console) -> set[str]:
    return {call.replace("monitoring", "cloudwatch") for call in console.calls}


def test_an_event_shows_its_body_records_message_and_what_the_actions_did(
    console: Console, secret: str
) -> None:
    events = flow_events("checkout")
    for event in events:
        assert deliver(event, secret).status == 200
    console.run_actions()
    session = next(event for event in events if event["type"] == "checkout.session.completed")

    detail = console.app.get(f"/api/events/{session['id']}", {})

    assert json.loads(detail["body"])["id"] == session["id"]
    assert detail["entry"]["status"] == schema.PUBLISHED
    (record,) = detail["records"]
    assert (
        record["written_by_this_event"] and record["record"]["object_id"] == session["data"]["object"]["id"]
    )
    assert detail["message"]["attributes"]["event_type"]["StringValue"] == "checkout.session.completed"
    assert [(o["action"], o["outcome"], o["receive_count"]) for o in detail["actions"]] == [
        ("fulfil_order", "done", 1)
    ]
    assert "dynamodb:Scan" not in console.calls


def test_every_delivered_event_is_listed_in_at_most_ten_queries_a_page(console: Console, secret: str) -> None:
    handled = [fresh_event(name) for name in ("invoice.paid", "invoice.payment_failed", "customer.created")]
    unhandled = [fresh_event("invoice.paid", type=name) for name in ("product.created", "price.updated")]
    for event in [*handled, *unhandled]:
        assert deliver(event, secret).status == 200
    console.calls.clear()

    page = console.app.get("/api/events", {})

    listed = {entry["event_id"]: entry["event_type"] for entry in page["events"]}
    assert listed == {event["id"]: event["type"] for event in [*handled, *unhandled]}
    assert page["queries"] <= MAX_QUERIES and console.calls.count("dynamodb:Query") == page["queries"]
    invoices = console.app.get("/api/events", {"type": "invoice."})
    assert sorted(entry["event_type"] for entry in invoices["events"]) == [
        "invoice.paid",
        "invoice.payment_failed",
    ]
    assert "hint" not in invoices
    typo = console.app.get("/api/events", {"type": "invoice.payed"})
    assert typo["events"] == [] and "did you mean invoice.paid" in typo["hint"]
    assert typo["queries"] <= MAX_QUERIES
    assert "dynamodb:Scan" not in console.calls


@pytest.mark.parametrize("object_id", ["prod-basic", "price_1.2", "coupon:SUMMER", "sub_1QJ8c1F2eZvKYlo2"])
def test_every_object_id_the_function_keeps_can_be_looked_up(
    console: Console, secret: str, object_id: str
) -> None:
    """One id rule (``events.OBJECT_ID``): the ids a user may choose, with ``-``, ``.`` or ``:``,
    are kept by the function and looked up by the console; what no Stripe id is, is refused."""
    event = load_event("product.created")
    event["data"]["object"]["id"] = object_id
    assert deliver(event, secret).status == 200

    timeline = console.app.get(f"/api/objects/{urllib.parse.quote(object_id, safe='')}", {})

    assert [entry["event_id"] for entry in timeline["created"]] == [event["id"]]
    assert console.app.get(f"/api/events/{event['id']}", {})["entry"]["object_id"] == object_id
    for refused in ("../etc", "-leading", "a" * 300):
        with pytest.raises(ValueError, match="is not a Stripe object id"):
            console.app.get(f"/api/objects/{urllib.parse.quote(refused, safe='')}", {})


def test_an_older_event_shows_the_newer_record_it_did_not_overwrite(console: Console, secret: str) -> None:
    newer = fresh_event("payment_intent.succeeded")
    older = fresh_event("payment_intent.succeeded", created=newer["created"] - 60)
    older["data"]["object"]["id"] = newer["data"]["object"]["id"]
    older["data"]["object"]["status"] = "processing"
    for event in (newer, older):
        assert deliver(event, secret).status == 200

    (record,) = console.app.get(f"/api/events/{older['id']}", {})["records"]

    assert not record["written_by_this_event"]
    assert record["record"]["last_event_id"] == newer["id"]


def test_an_event_links_to_the_trace_that_published_it_and_to_every_trace_of_it(
    console: Console, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced, untraced = fresh_event("invoice.paid"), fresh_event("invoice.paid")
    root = "1-6750a1b2-0123456789abcdef01234567"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    assert deliver(traced, secret).status == 200
    monkeypatch.delenv("_X_AMZN_TRACE_ID")
    assert deliver(untraced, secret).status == 200

    shown = console.app.get(f"/api/events/{traced['id']}", {})["trace"]
    not_kept = console.app.get(f"/api/events/{untraced['id']}", {})["trace"]

    assert shown["trace_id"] == root
    assert shown["trace_url"] == f"https://console.aws.amazon.com/xray/home?region=us-east-1#/traces/{root}"
    assert shown["search"] == f'annotation.event_id = "{traced["id"]}"'
    assert shown["search_url"].endswith(f"#/traces?filter=annotation.event_id%20%3D%20%22{traced['id']}%22")
    assert "trace_url" not in not_kept and not_kept["search"] == f'annotation.event_id = "{untraced["id"]}"'


def test_an_object_s_timeline_is_in_created_and_in_arrival_order(console: Console, secret: str) -> None:
    now = int(time.time())
    later = fresh_event("payment_intent.succeeded", created=now)
    earlier = fresh_event("payment_intent.succeeded", created=now - 30)
    earlier["data"]["object"]["id"] = later["data"]["object"]["id"]
    assert deliver(later, secret).status == 200  # the later one arrives first
    time.sleep(1.05)  # received_at is whole seconds
    assert deliver(earlier, secret).status == 200

    timeline = console.app.get(f"/api/objects/{later['data']['object']['id']}", {})

    assert [entry["event_id"] for entry in timeline["created"]] == [earlier["id"], later["id"]]
    assert [entry["event_id"] for entry in timeline["arrival"]] == [later["id"], earlier["id"]]
    assert timeline["record"]["last_event_id"] == later["id"]
    assert "dynamodb:Scan" not in console.calls


def test_a_dead_lettered_message_is_shown_without_being_received(console: Console) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    runner = console.runners["entitlement"]
    console.aws.sqs.send_message(QueueUrl=runner.queue.queue_url, MessageBody="no action can read this")
    console.run_actions()
    dead_letters = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[
        runner.queue.dead_letter_url.rsplit("/", 1)[-1]
    ]
    (message,) = dead_letters.messages
    receives = message.approximate_receive_count

    shown = next(
        q for q in console.app.get("/api/consumers", {})["queues"] if q["name"].endswith("entitlement")
    )

    assert shown["dead_letter"]["waiting"] == 1 and shown["max_receives"] == runner.queue.max_receives
    (dead,) = shown["dead_lettered"]
    assert dead["outcome"] == "poison" and dead["receive_count"] == runner.queue.max_receives
    assert message.approximate_receive_count == receives  # not received: nothing spent
    assert not any(call == "sqs:ReceiveMessage" for call in console.calls)


def test_a_stored_body_larger_than_any_body_is_said_not_read_whole(console: Console, secret: str) -> None:
    from tests.support import large_invoice

    event = large_invoice(300 * 1024)
    assert deliver(event, secret).status == 200
    item = console.app.reads.ctx.components.queries.get_item(schema.event_pk(event["id"]), schema.EVENT_SK)
    assert item is not None
    location = item["payload_s3"]
    console.aws.s3.put_object(
        Bucket=location["bucket"], Key=location["key"], Body=b"x" * (10 * 1024 * 1024 + 1)
    )

    detail = console.app.get(f"/api/events/{event['id']}", {})

    assert "larger than any body" in detail["body_problem"] and "body" not in detail


def test_the_reconciler_s_recovered_and_skipped_events_are_listed(console: Console, secret: str) -> None:
    from stripe_webhook.recovery.reconciler_state import State

    recovered = fresh_event("invoice.paid")
    assert deliver(recovered, secret).status == 200
    ledger = console.app.reads.ctx.components.ledger
    begun = ledger.begin(time.time(), 60)
    assert begun is not None
    state, token = begun
    state.last_run = int(time.time())
    state.sweeps["undelivered"].watermark = state.last_run - 42
    state.recovered = {recovered["id"]: state.last_run}
    state.named = {"evt_old": "rendered in API version 2020-08-27"}
    ledger.save(state, token, finished=True)
    assert isinstance(state, State)

    (row,) = console.app.get("/api/events", {"status": "recovered"})["events"]
    assert (row["event_id"], row["event_type"], row["status"]) == (
        recovered["id"],
        "invoice.paid",
        "PUBLISHED",
    )
    (skipped,) = console.app.get("/api/events", {"status": "skipped"})["events"]
    assert skipped["reason"].startswith("rendered in API version")
    health = console.app.get("/api/health", {})["reconciler"]
    assert (health["lag_seconds"], health["recovered"], health["skipped"]) == (42, 1, 1)


def test_read_only_refuses_every_action_and_records_nothing(console: Console) -> None:
    console.app.allow_actions = False
    with pytest.raises(PermissionError, match="--allow-actions"):
        console.app.post("/api/actions", {"kind": "redrive", "target": "x", "confirmed": True})
    assert console.app.get("/api/audit", {})["entries"] == []


def test_a_redrive_is_recorded_with_the_caller_then_moves_the_dead_letters(console: Console) -> None:
    runner = console.runners["entitlement"]
    console.aws.sqs.send_message(QueueUrl=runner.queue.queue_url, MessageBody="no action can read this")
    console.run_actions()
    name = runner.queue.queue_url.rsplit("/", 1)[-1]
    plan = console.app.post("/api/plan", {"kind": "redrive", "target": name})
    assert name in plan["says"] and "dead-letter" in plan["says"]
    with pytest.raises(ValueError, match="confirmed"):
        console.app.post("/api/actions", {"kind": "redrive", "target": name})

    done = console.app.post("/api/actions", {"kind": "redrive", "target": name, "confirmed": True})

    assert done["moved"] == 1
    assert drain(console.aws.sqs, console.dead_letter_url("entitlement")) == []
    assert [m.body for m in drain(console.aws.sqs, runner.queue.queue_url)] == ["no action can read this"]
    (entry,) = console.app.get("/api/audit", {})["entries"]
    assert (entry["action"], entry["target"], entry["status"]) == ("redrive", name, DONE)
    assert entry["who"].startswith("arn:aws:") and entry["result"] == {"moved": 1}


def test_a_redrive_cut_short_says_how_many_messages_it_had_moved(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = console.runners["entitlement"]
    for n in range(2):
        console.aws.sqs.send_message(QueueUrl=runner.queue.queue_url, MessageBody=f"unreadable {n}")
    console.run_actions()
    name = runner.queue.queue_url.rsplit("/", 1)[-1]
    sqs = console.app.actions.ctx.aws("sqs")
    send, sent = sqs.send_message, []

    def second_one_lost(**request: Any) -> Any:
        answer = send(**request)
        sent.append(answer)
        if len(sent) == 2:
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        return answer

    monkeypatch.setattr(sqs, "send_message", second_one_lost)
    with pytest.raises(ReadTimeoutError):
        console.app.post("/api/actions", {"kind": "redrive", "target": name, "confirmed": True})

    (entry,) = console.app.get("/api/audit", {})["entries"]
    assert entry["status"] == UNCERTAIN and entry["result"]["moved"] == 1


def test_a_redrive_on_a_fifo_stack_keeps_each_message_s_group(fifo_aws: Aws) -> None:
    """On a FIFO stack (``TopicType=fifo``) a send without ``MessageGroupId`` is refused
    (``MissingParameter``): each moved message keeps its group, so its object's order holds,
    and gets a deduplication id of its own (the original's was used minutes ago)."""
    from infra.console.actions import move_dead_letters

    sqs = fifo_aws.sqs
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    queue = sqs.create_queue(QueueName="fulfil-order.fifo", Attributes=fifo)["QueueUrl"]
    dead = sqs.create_queue(QueueName="fulfil-order-dlq.fifo", Attributes=fifo)["QueueUrl"]
    for group, body in (("pi_1", "first of pi_1"), ("pi_2", "only of pi_2"), ("pi_1", "second of pi_1")):
        sqs.send_message(
            QueueUrl=dead, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body[:5] + group
        )
    progress: dict[str, Any] = {}

    move_dead_letters(sqs, dead, queue, progress)

    assert progress == {"moved": 3}
    moved = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    )["Messages"]
    by_group: dict[str, list[str]] = {}
    for message in moved:
        by_group.setdefault(message["Attributes"]["MessageGroupId"], []).append(message["Body"])
    assert by_group == {"pi_1": ["first of pi_1", "second of pi_1"], "pi_2": ["only of pi_2"]}
    assert sqs.receive_message(QueueUrl=dead).get("Messages") is None


def test_a_resend_whose_answer_is_lost_is_recorded_uncertain(
    console: Console, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = fresh_event("invoice.paid")
    assert deliver(event, secret).status == 200
    drain(console.aws.sqs, console.aws.queue_url)
    assert (
        console.app.post("/api/actions", {"kind": "resend", "target": event["id"], "confirmed": True})[
            "status"
        ]
        == DONE
    )
    (copy,) = drain(console.aws.sqs, console.aws.queue_url)
    assert copy.json["id"] == event["id"] and copy.attributes["redrive"] == "true"

    sns = console.app.actions.ctx.components.publisher.client

    def lost(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com")

    monkeypatch.setattr(sns, "publish", lost)
    with pytest.raises(Exception, match="answer was lost"):
        console.app.post("/api/actions", {"kind": "resend", "target": event["id"], "confirmed": True})
    statuses = [entry["status"] for entry in console.app.get("/api/audit", {})["entries"]]
    assert statuses == [UNCERTAIN, DONE]
    with pytest.raises(Refused):
        console.app.post("/api/plan", {"kind": "settle", "target": "receipt:in_x", "verdict": "maybe"})
    with pytest.raises(Refused, match="not waiting"):
        console.app.post(
            "/api/actions",
            {"kind": "settle", "target": "receipt:in_x", "verdict": "happened", "confirmed": True},
        )
    assert console.app.get("/api/audit", {})["entries"][0]["status"] == FAILED


def test_an_effect_refused_for_good_is_listed_apart_from_those_to_settle(console: Console) -> None:
    from stripe_actions.effects import EffectLedger, EffectRefused

    table = console.app.actions.ctx.stack.actions_idempotency_table
    assert table is not None
    ledger = EffectLedger(table, remember_seconds=3600, client=console.aws.dynamodb, action="fulfil_order")

    def refused() -> str:
        raise ValueError("Missing domain")

    with pytest.raises(EffectRefused):
        ledger.once("receipt:in_typo", refused, permanent=lambda _error: "InvalidParameterValue")

    found = console.app.get("/api/consumers", {})
    assert found["effects"] == []  # nothing to settle: it was refused, nothing happened
    assert [(e["effect"], e["status"], e["reason"]) for e in found["refused"]] == [
        ("fulfil_order#receipt:in_typo", "REFUSED", "InvalidParameterValue")
    ]


def test_a_settle_whose_answer_is_lost_after_it_applied_is_recorded_uncertain(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stripe_actions.effects import DONE as EFFECT_DONE
    from stripe_actions.effects import EffectLedger, EffectUncertain

    table = console.app.actions.ctx.stack.actions_idempotency_table
    assert table is not None
    ledger = EffectLedger(table, remember_seconds=3600, client=console.aws.dynamodb)

    def reset() -> str:
        raise ConnectionResetError("the connection dropped during SendEmail")

    with pytest.raises(EffectUncertain):
        ledger.once("receipt:in_lost", reset)
    waiting = console.app.get("/api/consumers", {})["effects"]
    assert [(e["effect"], e["status"]) for e in waiting] == [("receipt:in_lost", "UNCERTAIN")]
    dynamodb = console.app.actions.ctx.aws("dynamodb")
    update = dynamodb.update_item

    def applied_then_lost(**request: Any) -> Any:
        answer = update(**request)
        if request["TableName"] == table:  # the settle, not the audit log's own update
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        return answer

    monkeypatch.setattr(dynamodb, "update_item", applied_then_lost)
    with pytest.raises(ReadTimeoutError):
        console.app.post(
            "/api/actions",
            {"kind": "settle", "target": "receipt:in_lost", "verdict": "happened", "confirmed": True},
        )
    monkeypatch.undo()

    (entry,) = console.app.get("/api/audit", {})["entries"]
    assert entry["status"] == UNCERTAIN  # not FAILED: it may have happened, and it did
    assert {e["effect"]: e["status"] for e in ledger.entries()}["receipt:in_lost"] == EFFECT_DONE


def seed(dynamodb: Any, table: str, count: int, *, day: int, types: list[str], object_id: str) -> list[str]:
    """``count`` event-log items as the mark leaves them, spread over ``types`` and one day, every
    tenth about ``object_id``; their ids."""
    ids = []
    for start in range(0, count, 25):
        items = []
        for n in range(start, min(start + 25, count)):
            event_id = f"evt_seed{n:07d}"
            created = day + n * 86_000 // count
            event_type = types[n % len(types)]
            ids.append(event_id)
            items.append(
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": schema.event_pk(event_id)},
                            "sk": {"S": schema.EVENT_SK},
                            "event_type": {"S": event_type},
                            "created": {"N": str(created)},
                            "status": {"S": schema.PUBLISHED},
                            "received_at": {"N": str(created)},
                            "object_id": {"S": object_id if n % 10 == 0 else f"pi_seed{n:07d}"},
                            **index_entry(event_type, created, event_id),
                        }
                    }
                }
            )
        dynamodb.batch_write_item(RequestItems={table: items})
    return ids


@pytest.mark.slow  # 20,000 items in moto, whose every index query reads the whole table (~30 s)
def test_a_table_of_20_000_events_pages_without_a_scan_and_in_bounded_memory(aws: Aws) -> None:
    day = int(time.time()) // 86_400 * 86_400 - 86_400
    types = ["invoice.paid", "charge.succeeded", "customer.created"]
    ids = seed(aws.dynamodb, aws.table, 20_000, day=day, types=types, object_id="pi_busy")
    calls: list[str] = []
    fetched: list[int] = []
    aws.dynamodb.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    aws.dynamodb.meta.events.register(
        "after-call.dynamodb.Query", lambda parsed, **_: fetched.append(len(parsed.get("Items", [])))
    )
    log = EventLog(aws.dynamodb, aws.table)

    seen: list[tuple[int, str]] = []
    cursor, most = None, 0
    while True:  # every event about one busy object, 100 a page
        fetched.clear()
        page = log.page(Filters(object_id="pi_busy"), cursor, 100)
        most = max(most, sum(fetched))
        seen += [(entry["created"], entry["event_id"]) for entry in page.entries]
        cursor = page.cursor
        if cursor is None:
            break

    expected = {event_id for n, event_id in enumerate(ids) if n % 10 == 0}
    assert len(seen) == len(expected) == len({event_id for _, event_id in seen})
    assert {event_id for _, event_id in seen} == expected
    assert [created for created, _ in seen] == sorted((created for created, _ in seen), reverse=True)
    print(f"\n{len(seen):,} events of 20,000 in {len(seen) // 100} pages, at most {most} entries read a page")
    assert most <= 200  # what a page reads depends on its size, not on the table

    fetched.clear()
    one_type = log.page(Filters(event_type="invoice.paid", since=day, until=day + 86_399), None, 100)
    newest = sorted(((n, event_id) for n, event_id in enumerate(ids) if n % 3 == 0), reverse=True)[:100]
    assert [entry["event_id"] for entry in one_type.entries] == [event_id for _, event_id in newest]
    assert one_type.queries <= MAX_QUERIES and sum(fetched) <= MAX_QUERIES * FILTERED_LIMIT
    assert set(calls) == {"Query"}  # never a Scan


def test_the_iam_documents_list_exactly_the_calls_the_console_makes(console: Console, secret: str) -> None:
    event = fresh_event("checkout.session.completed")
    assert deliver(event, secret).status == 200
    console.run_actions()
    runner = console.runners["entitlement"]
    console.aws.sqs.send_message(QueueUrl=runner.queue.queue_url, MessageBody="no action can read this")
    console.run_actions()
    app = console.app
    ledger = app.reads.ctx.components.ledger
    begun = ledger.begin(time.time(), 60)
    assert begun is not None
    state, token = begun
    state.last_run, state.recovered = int(time.time()), {event["id"]: int(time.time())}
    ledger.save(state, token, finished=True)
    console.calls.clear()
    app.get("/api/events", {"status": "recovered"})
    app.get("/api/events", {"status": "skipped"})
    for path in (
        "/api/about",
        "/api/events",
        f"/api/events/{event['id']}",
        "/api/consumers",
        "/api/health",
        "/api/audit",
    ):
        app.get(path, {})
    app.get(f"/api/objects/{event['data']['object']['id']}", {})
    app.get("/api/events", {"status": "claimed", "scan": "1"})
    read = operations(console)
    console.calls.clear()
    name = runner.queue.queue_url.rsplit("/", 1)[-1]
    app.post("/api/actions", {"kind": "redrive", "target": name, "confirmed": True})
    app.post("/api/actions", {"kind": "resend", "target": event["id"], "confirmed": True})
    with pytest.raises(Refused):
        app.post(
            "/api/actions",
            {"kind": "settle", "target": "receipt:in_x", "verdict": "not-happened", "confirmed": True},
        )
    changed = operations(console) - read

    def documented(name: str) -> set[str]:
        policy = json.loads((REPO_ROOT / "docs" / name).read_text())
        return {action for statement in policy["Statement"] for action in statement["Action"]}

    # the local stack is found by listing (a deployed one from CloudFormation: see the next test);
    # sts:GetCallerIdentity needs no permission
    local_only = {"sqs:ListQueues", "logs:DescribeLogGroups", "sts:GetCallerIdentity"}
    deployed = {
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackResources",
        "cloudwatch:DescribeAlarms",
        "s3:GetObject",
    }
    assert documented("console-policy.json") == (read - local_only) | deployed
    assert documented("console-actions-policy.json") == changed | {"dynamodb:UpdateItem"}


def test_the_documented_policies_are_the_ones_console_policy_prints() -> None:
    from infra.console.policy import READ, WRITE, placeholders, policy

    for name, grants in (("console-policy.json", READ), ("console-actions-policy.json", WRITE)):
        assert json.loads((REPO_ROOT / "docs" / name).read_text()) == policy(placeholders(), grants), name


def test_a_stack_s_console_policy_names_its_own_resources_never_a_neighbour_s(aws: Aws) -> None:
    """Stacks ``shop`` and ``shop-prod`` side by side: ``shop``'s policy names ``shop``'s table,
    queue and log group by their exact ARNs, nothing of ``shop-prod``, and its writes are confined
    to the audit log's and the effect ledger's keys (``dynamodb:LeadingKeys``)."""
    from infra.console.policy import READ, WRITE, discover, policy
    from infra.ops.deployed import Context, Stack

    cloudformation = boto3.client("cloudformation")
    for name in ("shop", "shop-prod"):
        template = {
            "Resources": {
                "Table": {
                    "Type": "AWS::DynamoDB::Table",
                    "Properties": {
                        "TableName": f"{name}-EventsTable-1",
                        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                        "BillingMode": "PAY_PER_REQUEST",
                    },
                },
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-Queue-1"}},
                "Logs": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": f"/aws/lambda/{name}-Fn-1"},
                },
            }
        }
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    stack = Stack(
        "shop",
        "-",
        "shop-EventsTable-1",
        "arn:aws:sns:us-east-1:123456789012:shop-events",
        "-",
        payload_bucket="shop-payloadbucket-1",
        actions_idempotency_table="shop-Idempotency-1",
    )
    make_client: Any = boto3.client
    ctx = Context(stack, make_client)

    read, write = (policy(discover(ctx), grants) for grants in (READ, WRITE))

    text = json.dumps([read, write])
    assert "shop-prod" not in text and "STACK" not in text
    resources = [arn for statement in read["Statement"] + write["Statement"] for arn in statement["Resource"]]
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/shop-EventsTable-1" in resources
    assert "arn:aws:sqs:us-east-1:123456789012:shop-Queue-1" in resources
    wildcards = {arn for arn in resources if "*" in arn}
    assert all(arn.endswith(("/events/*", "/index/*", ":*")) for arn in wildcards), wildcards
    keys = {s["Sid"]: s.get("Condition") for s in write["Statement"]}
    assert keys["RecordWhatWasDone"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONSOLE#*"]}}
    assert keys["SettleEffects"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["effect#*"]}}


def test_a_deployed_stack_is_found_from_its_resources_and_modules(aws: Aws) -> None:
    from infra.console.deployment import discover
    from infra.ops.deployed import Context, Stack

    main_queue = aws.sqs.create_queue(QueueName="prod-FulfilOrder-1-Queue-1")["QueueUrl"]
    dead = aws.sqs.create_queue(QueueName="prod-FulfilOrder-1-DeadLetterQueue-1")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sqs.set_queue_attributes(
        QueueUrl=main_queue,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})},
    )
    resources = {
        "prod": [
            ("FulfilOrder", "AWS::CloudFormation::Stack", "prod-FulfilOrder-1"),
            ("Monitoring", "AWS::CloudFormation::Stack", "prod-Monitoring-1"),
        ],
        "prod-FulfilOrder-1": [
            ("Queue", "AWS::CloudFormation::Stack", "prod-FulfilOrder-1-Queue-1"),
            ("FunctionLogGroup", "AWS::Logs::LogGroup", "/aws/lambda/prod-FulfilOrder-1-Function"),
        ],
        "prod-FulfilOrder-1-Queue-1": [
            ("Queue", "AWS::SQS::Queue", main_queue),
            ("DeadLetterQueue", "AWS::SQS::Queue", dead),
        ],
        "prod-Monitoring-1": [
            ("ProcessingFailuresAlarm", "AWS::CloudWatch::Alarm", "prod-Monitoring-1-Failures")
        ],
    }

    class CloudFormation:
        def describe_stack_resources(self, StackName: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
            return {
                "StackResources": [
                    {"LogicalResourceId": logical, "ResourceType": kind, "PhysicalResourceId": physical}
                    for logical, kind, physical in resources[StackName]
                ]
            }

    def client(service: str) -> Any:
        return CloudFormation() if service == "cloudformation" else aws.sqs

    stack = Stack("prod", "https://x", aws.table, aws.topic_arn, "secret")
    found = discover(Context(stack, client))

    (pair,) = found.queues
    assert (pair.name, pair.url, pair.dead_letter_url, pair.max_receives) == (
        "FulfilOrder",
        main_queue,
        dead,
        5,
    )
    assert found.action_logs == {"FulfilOrder": "/aws/lambda/prod-FulfilOrder-1-Function"}
    assert found.alarms == ["prod-Monitoring-1-Failures"]


@pytest.fixture
def served(console: Console) -> Iterator[str]:
    server = ConsoleServer(("127.0.0.1", 0), console.app)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def ask(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
            return int(answer.status)
    except urllib.error.HTTPError as error:
        assert error.headers.get("Access-Control-Allow-Origin") is None
        return error.code


def test_the_server_answers_its_own_page_only(served: str) -> None:
    assert ask(f"{served}/") == 200
    assert ask(f"{served}/api/health") == 200
    assert ask(f"{served}/api/health", headers={"Host": "rebound.test"}) == 403
    assert (
        ask(f"{served}/api/health", headers={"Sec-Fetch-Site": "cross-site", "Origin": "http://a.test"})
        == 403
    )
    assert ask(f"{served}/api/health", method="OPTIONS") == 403
    change = json.dumps({"kind": "resend", "target": "evt_1"}).encode()
    assert ask(f"{served}/api/plan", method="POST", body=change) == 403  # no X-Inbox-Request
    assert ask(f"{served}/api/events/not%20an%20id") == 400
    assert ask(f"{served}/api/events/evt_missing") == 404


def test_every_error_is_said_in_the_contract_s_shape_and_the_requests_are_the_local_stack_s(
    served: str,
) -> None:
    """One route table serves make console and make run: without the local stack's requests
    (make console), their routes are a 404 that says where they are; ids follow the one rule."""
    for path, status in [
        ("/api/requests", 404),
        ("/api/requests/3", 404),
        ("/api/outcomes/evt_1", 404),
        ("/api/objects/not%20an%20id", 400),
        ("/api/nowhere", 404),
        ("/static/../server.py", 404),
    ]:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{served}{path}", timeout=10)
        content = json.loads(raised.value.read())
        assert raised.value.code == status and set(content) == {"error", "message"}, path
        if path.startswith(("/api/requests", "/api/outcomes")):
            assert "local stack only (make run)" in content["message"]


def test_an_oversized_body_is_refused_unread(served: str) -> None:
    import socket

    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /api/plan HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\nX-Inbox-Request: 1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        answer = connection.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_the_page_never_puts_data_into_html() -> None:
    for script in (REPO_ROOT / "infra" / "console" / "ui").glob("*.js"):
        text = script.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text
    assert load_event("checkout.session.completed")  # the fixtures the page's tests use exist
