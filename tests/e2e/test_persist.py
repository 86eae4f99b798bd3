"""`make run ARGS=--persist`: the table, bucket, queue and inbox survive a restart; `make reset` forgets."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from pathlib import Path

from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from tests.e2e.conftest import LocalStack, launch, run_tool, send
from tests.support import drain, get_item


def run_stack(persist_dir: Path) -> LocalStack:
    return launch("--persist", env={"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir)})


def stop_and_save(stack: LocalStack) -> None:
    stack.process.send_signal(signal.SIGINT)
    stack.wait_for_line("for the next --persist run", timeout=30)
    stack.process.wait(timeout=15)


def test_a_persisted_stack_comes_back_with_its_records_queue_and_inbox(tmp_path: Path) -> None:
    persist_dir = tmp_path / "saved"
    first = run_stack(persist_dir)
    event = fresh_event("customer.created")
    assert send(first, event) == 200
    stop_and_save(first)

    second = run_stack(persist_dir)
    try:
        assert "restored" in second.wait_for_line("restored")
        dynamodb = second.client("dynamodb")
        assert get_item(dynamodb, "stripe-webhooks-events", f"EVENT#{event['id']}", "EVENT") is not None
        assert get_item(dynamodb, "stripe-webhooks-events", "OBJECT#cus_R9p2JgW7tYvN4c", "STATE") is not None
        sqs = second.client("sqs")
        queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
        assert [message.attributes["event_id"] for message in drain(sqs, queue_url)] == [event["id"]]
        with urllib.request.urlopen(f"http://127.0.0.1:{second.port}/api/requests", timeout=5) as answer:
            listed = json.loads(answer.read())["requests"]
        assert [entry["event_id"] for entry in listed] == [event["id"]]
    finally:
        stop_and_save(second)

    reset = run_tool("local.persist", "reset", env={"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir)})
    assert reset.returncode == 0 and "removed" in reset.stdout and not persist_dir.exists()


def test_ctrl_c_under_concurrent_senders_keeps_every_event_answered_200(tmp_path: Path) -> None:
    """Six senders deliver new events without pause while the stack is stopped with Ctrl-C: once it
    stops, a delivery gets a 503 or no connection (the sender's to send again); every event that
    got a 200 is in the save, and back after a restart (``stripe listen`` never resends a 200)."""
    persist_dir = tmp_path / "saved"
    first = run_stack(persist_dir)
    answered: list[str] = []
    refused: list[int] = []
    stop_sending = threading.Event()

    def sender() -> None:
        while not stop_sending.is_set():
            event = fresh_event("customer.created")
            try:
                status = send(first, event)
            except OSError:
                refused.append(0)  # no connection: the stack is gone
                continue
            if status == 200:
                answered.append(event["id"])
            else:
                refused.append(status)

    senders = [threading.Thread(target=sender) for _ in range(6)]
    for thread in senders:
        thread.start()
    time.sleep(3)
    first.process.send_signal(signal.SIGINT)
    first.wait_for_line("for the next --persist run", timeout=30)
    stop_sending.set()
    for thread in senders:
        thread.join()
    first.process.wait(timeout=15)

    second = run_stack(persist_dir)
    try:
        dynamodb = second.client("dynamodb")
        missing = [
            event_id
            for event_id in answered
            if get_item(dynamodb, "stripe-webhooks-events", f"EVENT#{event_id}", "EVENT") is None
        ]
        assert len(answered) > 20 and missing == []
        assert set(refused) <= {0, 503}
    finally:
        stop_and_save(second)


def test_a_second_ctrl_c_while_stopping_never_cuts_the_save_short(tmp_path: Path) -> None:
    persist_dir = tmp_path / "saved"
    first = run_stack(persist_dir)
    event = fresh_event("customer.created")
    assert send(first, event) == 200

    first.process.send_signal(signal.SIGINT)
    first.wait_for_line("stopping", timeout=10)
    first.process.send_signal(signal.SIGINT)  # impatient
    first.wait_for_line("for the next --persist run", timeout=30)
    first.process.wait(timeout=15)

    assert "Ctrl-C is ignored until it is done" in first.wait_for_line("still saving", timeout=5)
    second = run_stack(persist_dir)
    try:
        dynamodb = second.client("dynamodb")
        assert get_item(dynamodb, "stripe-webhooks-events", f"EVENT#{event['id']}", "EVENT") is not None
    finally:
        stop_and_save(second)


def _banner_secret(stack: LocalStack) -> str:
    return stack.wait_for_line("signing secret").split()[2]


def test_a_persisted_stack_keeps_its_generated_signing_secret(tmp_path: Path) -> None:
    persist_dir = tmp_path / "saved"
    first = launch(
        "--persist", env={"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir), "STRIPE_WEBHOOK_SECRET": ""}
    )
    secret = _banner_secret(first)
    stop_and_save(first)

    second = launch(
        "--persist", env={"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir), "STRIPE_WEBHOOK_SECRET": ""}
    )
    try:
        assert _banner_secret(second) == secret and secret.startswith("whsec_")
        body = encode(fresh_event("customer.created"))
        answer = post(f"http://127.0.0.1:{second.port}/webhook", body, header=signature_header(body, secret))
        assert answer.status == 200
    finally:
        stop_and_save(second)


def test_a_damaged_snapshot_is_moved_aside_never_overwritten(tmp_path: Path) -> None:
    # Given a snapshot cut short, as a kill or a full disk during a save leaves it
    persist_dir = tmp_path / "saved"
    persist_dir.mkdir()
    damaged = '{"items": [{"pk": {"S": "EVENT#evt_1"}'
    (persist_dir / "snapshot.json").write_text(damaged)

    # When the stack starts and stops with --persist
    stack = run_stack(persist_dir)
    notice = stack.wait_for_line("cannot be restored")
    event = fresh_event("customer.created")
    assert send(stack, event) == 200
    stop_and_save(stack)

    # Then it said so, kept the damaged file whole, and saved the new state beside it
    (aside,) = persist_dir.glob("snapshot.unreadable-*.json")
    assert aside.name in notice and "Traceback" not in "".join(stack.seen)
    assert aside.read_text() == damaged
    saved = json.loads((persist_dir / "snapshot.json").read_text())
    assert any(item["pk"]["S"] == f"EVENT#{event['id']}" for item in saved["items"])


def test_a_snapshot_with_an_entry_this_checkout_cannot_restore_is_kept_whole(tmp_path: Path) -> None:
    # Given a saved run whose inbox holds an entry a newer checkout wrote (a field this one lacks)
    persist_dir = tmp_path / "saved"
    first = run_stack(persist_dir)
    for _ in range(3):
        assert send(first, fresh_event("customer.created")) == 200
    stop_and_save(first)
    saved = json.loads((persist_dir / "snapshot.json").read_text())
    saved["inbox"][1]["delivery_attempts"] = 2
    text = json.dumps(saved)
    (persist_dir / "snapshot.json").write_text(text)

    # When the stack starts with it and stops
    second = run_stack(persist_dir)
    notice = second.wait_for_line("cannot be restored")
    stop_and_save(second)

    # Then one line named the entry, no traceback, and the snapshot lies aside byte for byte
    (aside,) = persist_dir.glob("snapshot.unreadable-*.json")
    assert "inbox[1]" in notice and aside.name in notice and "Traceback" not in "".join(second.seen)
    assert aside.read_text() == text
    assert json.loads((persist_dir / "snapshot.json").read_text())["inbox"] == []


def test_a_damaged_saved_signing_secret_is_replaced_and_said(tmp_path: Path) -> None:
    persist_dir = tmp_path / "saved"
    persist_dir.mkdir()
    (persist_dir / "signing-secret").write_bytes(b"whsec_\xff\x00 half-written")
    env = {"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir), "STRIPE_WEBHOOK_SECRET": ""}

    stack = launch("--persist", env=env)
    try:
        warning = stack.wait_for_line("is damaged")
        (banner,) = [line for line in stack.seen if line.strip().startswith("signing secret")]
        secret = banner.split()[2]
    finally:
        stop_and_save(stack)

    assert "is damaged" in warning and "replaced it with a new one" in warning
    assert secret.startswith("whsec_") and (persist_dir / "signing-secret").read_text().strip() == secret


def test_make_reset_while_a_persist_stack_runs_is_refused_and_removes_nothing(tmp_path: Path) -> None:
    """Removing the saved state under a running stack used to lose its generated secret: it saved
    everything again under a new one when it stopped."""
    persist_dir = tmp_path / "saved"
    env = {"STRIPE_LOCAL_PERSIST_DIR": str(persist_dir), "STRIPE_WEBHOOK_SECRET": ""}  # generated
    first = launch("--persist", env=env)
    secret = _banner_secret(first)
    try:
        refused = run_tool("local.persist", "reset", env=env)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert f"not removed: a --persist local stack (pid {first.process.pid}) is running" in refused.stderr
        assert persist_dir.exists()
    finally:
        stop_and_save(first)

    second = launch("--persist", env=env)
    try:
        assert _banner_secret(second) == secret
    finally:
        stop_and_save(second)
    removed = run_tool("local.persist", "reset", env=env)
    assert removed.returncode == 0 and "removed" in removed.stdout and not persist_dir.exists()


def test_restored_action_messages_run_after_the_banner_never_before(tmp_path: Path) -> None:
    """What a stack does on its own (the actions, the reconciler) starts once it is ready: a saved
    action message is put back first, and its line follows the banner instead of burying it."""
    persist_dir = tmp_path / "saved"
    first = run_stack(persist_dir)
    event = fresh_event("checkout.session.completed")
    assert send(first, event) == 200
    first.wait_for_line("action fulfil_order")
    stop_and_save(first)
    snapshot = persist_dir / "snapshot.json"
    saved = json.loads(snapshot.read_text())
    (message,) = saved["messages"]  # the consumer queue's copy: one an action queue would hold too
    saved["queues"]["stripe-actions-fulfil_order"] = [message]
    saved["queues"]["stripe-actions-dispute_alert-dlq"] = [message] * 300  # put back after it, slowly
    snapshot.write_text(json.dumps(saved))

    second = run_stack(persist_dir)
    try:
        action = second.wait_for_line(f"action fulfil_order {event['data']['object']['id']}", timeout=30)
        banner = second.wait_for_line("Press Ctrl-C to stop")
        assert second.seen.index(banner) < second.seen.index(action)
    finally:
        stop_and_save(second)
