"""The trigger, inspect and sam_events commands against a running local stack, over real HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from infra import REPO_ROOT
from infra.fixtures.flows import FLOWS
from infra.fixtures.payloads import fresh_event
from infra.fixtures.versions import BASIL, PRE_BASIL
from infra.local.resources import TABLE_NAME
from stripe_webhook.adapters.queries import TableQueries
from stripe_webhook.composition import registry as deployed_registry
from tests.e2e.conftest import SECRET, LocalStack, run_tool, start
from tests.support import drain, free_port, get_item

TABLE = "stripe-webhooks-events"


def trigger(stack: LocalStack, *args: str, secret: str | None = SECRET) -> tuple[int, str, str]:
    env = {"STRIPE_WEBHOOK_SECRET": secret or "", "STRIPE_LOCAL_STATE": str(stack.state_file)}
    result = run_tool(
        "local.trigger",
        *args,
        "--url",
        f"http://127.0.0.1:{stack.port}/webhook",
        "--aws-endpoint",
        stack.endpoint,
        env=env,
    )
    return result.returncode, result.stdout, result.stderr


def event_ids(output: str) -> list[str]:
    return re.findall(r"^-> \S+ (evt_\w+)", output, flags=re.MULTILINE)


def record_id(output: str, prefix: str) -> str:
    """The id of the object the trigger showed a record for (runs use fresh ids)."""
    found = set(re.findall(rf"current record OBJECT#({prefix}\w+):", output))
    assert len(found) == 1, (prefix, found)
    return str(found.pop())


@pytest.fixture
def consumer(stack: LocalStack) -> tuple[Any, str]:
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="stripe-events-consumer")["QueueUrl"]
    drain(sqs, queue_url)
    return sqs, queue_url


def test_trigger_sends_a_signed_event_and_shows_what_was_stored(
    stack: LocalStack, consumer: tuple[Any, str]
) -> None:
    code, out, err = trigger(stack, "payment_intent.payment_failed")

    assert code == 0, err
    (event_id,) = event_ids(out)
    assert "200 processed handler=payments records=1" in out
    assert "event log: PUBLISHED handler=payments" in out
    assert "last_payment_error_decline_code=insufficient_funds" in out
    logged = get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT")
    assert logged is not None and logged["status"] == "PUBLISHED"
    assert [message.attributes["event_id"] for message in drain(*consumer)] == [event_id]


def test_resend_shows_dedup_and_publishes_once(stack: LocalStack, consumer: tuple[Any, str]) -> None:
    code, out, _ = trigger(stack, "invoice.paid", "--resend")

    assert code == 0
    assert event_ids(out)[0] == event_ids(out)[1]
    assert "200 duplicate" in out
    assert len(drain(*consumer)) == 1


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_every_flow_is_processed_in_order(stack: LocalStack, consumer: tuple[Any, str], flow: str) -> None:
    code, out, err = trigger(stack, "--flow", flow)

    assert code == 0, out + err
    sent = event_ids(out)
    assert len(sent) == len(FLOWS[flow][1])
    assert sorted(message.attributes["event_id"] for message in drain(*consumer)) == sorted(sent)


def test_shuffled_subscription_flow_ends_in_the_same_state(
    stack: LocalStack, consumer: tuple[Any, str]
) -> None:
    table = TableQueries(TABLE, client=stack.client("dynamodb"))
    for seed in ("1", "2", "1"):  # the same order twice on a used stack: runs never interfere
        code, out, _ = trigger(stack, "--flow", "subscription", "--shuffle", "--seed", seed)
        assert code == 0, out
        invoice = table.get_record(record_id(out, "in_"))
        checkout = table.get_record(record_id(out, "cs_test_"))
        assert invoice is not None and invoice["status"] == "paid"
        assert checkout is not None and checkout["may_fulfil"] is True and checkout["mode"] == "subscription"


def test_trigger_renders_events_in_another_api_version(stack: LocalStack, consumer: tuple[Any, str]) -> None:
    code, out, err = trigger(stack, "--flow", "subscription", "--api-version", BASIL)

    assert code == 0, out + err
    table = TableQueries(TABLE, client=stack.client("dynamodb"))
    for event_id in event_ids(out):
        logged = get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT")
        assert logged is not None and logged["api_version"] == BASIL
    invoice = table.get_record(record_id(out, "in_"))
    assert invoice is not None and invoice["subscription"] == record_id(out, "sub_")
    drain(*consumer)

    code, _, err = trigger(stack, "invoice_payment.paid", "--api-version", PRE_BASIL)
    assert code != 0 and "does not exist in API version 2024-06-20" in err and "Traceback" not in err


def test_flows_on_a_used_stack_never_interfere(stack: LocalStack) -> None:
    runs = [
        trigger(stack, "--flow", flow)[1]
        for flow in ("checkout", "async-checkout", "cancellation", "subscription")
    ]

    assert all("stale=1" not in out for out in runs)
    async_session = TableQueries(TABLE, client=stack.client("dynamodb")).get_record(
        record_id(runs[1], "cs_test_")
    )
    assert async_session is not None and async_session["payment_status"] == "paid"
    subscription = TableQueries(TABLE, client=stack.client("dynamodb")).get_record(record_id(runs[3], "sub_"))
    assert subscription is not None and subscription["entitled"] is True  # not the cancelled one's tombstone
    fixed = trigger(stack, "customer.created", "--fixed-ids")[1]
    assert record_id(fixed, "cus_") == "cus_R9p2JgW7tYvN4c"


def test_a_shuffle_without_a_seed_prints_the_seed_that_repeats_it(stack: LocalStack) -> None:
    code, out, _ = trigger(stack, "--flow", "subscription", "--shuffle", "--no-inspect")
    assert code == 0, out
    seed = re.search(r"shuffled with --seed (\d+)", out)
    assert seed is not None
    again_code, again, _ = trigger(
        stack, "--flow", "subscription", "--shuffle", "--seed", seed.group(1), "--no-inspect"
    )
    assert again_code == 0
    types = re.compile(r"^-> (\S+)", re.MULTILINE)
    assert types.findall(out) == types.findall(again)


@pytest.mark.parametrize("option", ["--tamper", "--stale"])
def test_tampered_and_stale_events_are_rejected_and_leave_nothing(
    stack: LocalStack, consumer: tuple[Any, str], option: str
) -> None:
    code, out, _ = trigger(stack, "charge.refunded", option)

    assert code == 0  # the 400 was the intended outcome
    assert "400" in out and "(as intended)" in out
    (event_id,) = event_ids(out)
    assert get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT") is None
    assert drain(*consumer) == []


def test_trigger_reads_the_secret_from_the_local_stack_when_none_is_set(stack: LocalStack) -> None:
    code, out, err = trigger(stack, "customer.created", secret=None)

    assert code == 0, err
    assert "200 processed" in out


def test_list_names_every_handled_type_and_flow() -> None:
    result = run_tool("local.trigger", "--list")

    assert result.returncode == 0
    for pattern in deployed_registry().patterns():
        assert pattern in result.stdout
    for flow in FLOWS:
        assert flow in result.stdout


def test_no_stack_running_is_a_clear_error(tmp_path: Path) -> None:
    result = run_tool(
        "local.trigger",
        "payment_intent.succeeded",
        "--url",
        f"http://127.0.0.1:{free_port()}/webhook",
        env={"STRIPE_WEBHOOK_SECRET": SECRET},
    )

    assert result.returncode == 1
    assert "nothing is listening" in result.stderr and "make run" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_secret_is_a_clear_error(stack: LocalStack) -> None:
    code, _, err = trigger(stack, "payment_intent.succeeded", secret="not-a-secret")

    assert code == 1
    assert "whsec_" in err and "not-a-secret" not in err and "Traceback" not in err


def test_a_stale_secret_in_the_shell_is_named_with_the_fix(stack: LocalStack) -> None:
    code, out, err = trigger(stack, "payment_intent.succeeded", secret="whsec_" + "0" * 32)

    assert code == 1 and "signature_mismatch" in out
    assert "STRIPE_WEBHOOK_SECRET in your shell is not the running stack's signing secret" in err
    assert "unset STRIPE_WEBHOOK_SECRET" in err and "Traceback" not in err


def test_inspect_lists_shows_and_tails(stack: LocalStack, consumer: tuple[Any, str]) -> None:
    _, out, _ = trigger(stack, "charge.dispute.created")
    (event_id,) = event_ids(out)
    endpoint = ["--aws-endpoint", stack.endpoint]

    listed = run_tool("local.inspector", *endpoint, "events", "--limit", "50")
    by_prefix = run_tool("local.inspector", *endpoint, "events", "--type", "charge.dispute.")
    no_prefix = run_tool("local.inspector", *endpoint, "events", "--type", "no_such_family.")
    shown = run_tool("local.inspector", *endpoint, "event", event_id)
    tailed = run_tool("local.inspector", *endpoint, "tail")

    assert event_id in listed.stdout and "charge.dispute.created" in listed.stdout
    assert event_id in by_prefix.stdout  # a prefix of types, as the inbox filters
    assert "no events of a type starting 'no_such_family.' stored yet" in no_prefix.stdout
    assert "status: PUBLISHED" in shown.stdout
    due = re.search(r"evidence_due_by=(\d+)", shown.stdout)
    assert due is not None and int(due.group(1)) > time.time()  # due in the future, as today's dispute
    assert f'"event_id": "{event_id}"' in shown.stdout
    # (the reconciler may add one: an earlier test's delivery refused for a stale secret is listed
    # by the stand-in as undelivered, and recovered, as Stripe's would be)
    assert event_id in tailed.stdout and re.search(r"^\d+ messages?$", tailed.stdout, re.MULTILINE)
    assert "+ the record its delivery wrote (" in tailed.stdout  # its size, not a line of JSON
    assert event_id not in [
        message.attributes["event_id"] for message in drain(*consumer)
    ]  # tail consumed it


def test_inspect_shows_every_record_an_event_wrote_and_refuses_unknown_ids(stack: LocalStack) -> None:
    _, out, _ = trigger(stack, "balance.available", "--no-inspect")
    (event_id,) = event_ids(out)
    endpoint = ["--aws-endpoint", stack.endpoint]

    shown = run_tool("local.inspector", *endpoint, "event", event_id)
    unknown = run_tool("local.inspector", *endpoint, "event", "evt_000000000000000000000000")

    assert shown.returncode == 0
    assert "record BALANCE#platform / BALANCE#test (written by this event): " in shown.stdout
    assert "available=" in shown.stdout
    assert unknown.returncode == 1 and "no event evt_000000000000000000000000" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_inspect_without_a_stack_is_a_clear_error() -> None:
    result = run_tool("local.inspector", "--aws-endpoint", f"http://127.0.0.1:{free_port()}", "events")

    assert result.returncode == 1
    assert "make run" in result.stderr and "Traceback" not in result.stderr


def test_sam_events_are_signed_proxy_events_the_function_accepts(stack: LocalStack, tmp_path: Path) -> None:
    result = run_tool(
        "local.sam_events",
        "invoice.paid",
        "--out",
        str(tmp_path),
        "--aws-endpoint",
        stack.endpoint,
        env={"STRIPE_WEBHOOK_SECRET": ""},
    )
    assert result.returncode == 0, result.stderr
    request = json.loads((tmp_path / "invoice.paid.json").read_text())

    assert request["httpMethod"] == "POST" and request["resource"] == "/webhook"
    assert (
        request["headers"]["X-Forwarded-Port"] == "443" and request["headers"]["X-Forwarded-Proto"] == "https"
    )
    assert "signed with the local stack's secret (whsec_" in result.stdout
    assert "sam local invoke WebhookFunction -e" in result.stdout
    port = stack.endpoint.rsplit(":", 1)[1]  # the stack's own AWS port, and the name containers use for it
    assert (
        f"--env-vars .sam-local/env.{port}.json --add-host host.docker.internal:host-gateway" in result.stdout
    )
    env_file = json.loads((REPO_ROOT / ".sam-local" / f"env.{port}.json").read_text())
    assert env_file["WebhookFunction"]["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{port}"
    status, _ = stack.post(request["body"].encode(), request["headers"])
    assert status == 200


def test_committed_sample_events_exist_for_sam_local_invoke() -> None:
    from infra.local.sam_events import SAMPLE_TYPES, SAMPLES_DIR

    for event_type in SAMPLE_TYPES:
        assert json.loads((SAMPLES_DIR / f"{event_type}.json").read_text())["resource"] == "/webhook"
    assert os.path.isdir(SAMPLES_DIR)


def test_make_events_writes_every_handled_type_into_a_git_ignored_folder(stack: LocalStack) -> None:
    from infra.local.sam_events import OUT_DIR

    result = run_tool("local.sam_events", "--aws-endpoint", stack.endpoint, env={"STRIPE_WEBHOOK_SECRET": ""})

    assert result.returncode == 0, result.stderr
    written = {path.stem for path in OUT_DIR.glob("*.json")}
    assert set(deployed_registry().patterns()) <= written
    ignored = subprocess.run(["git", "check-ignore", "-q", str(OUT_DIR)], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0


def test_the_tools_find_the_running_stack_by_its_state_file(stack: LocalStack) -> None:
    assert stack.state_file is not None and stack.state_file.is_file()
    state = json.loads(stack.state_file.read_text())
    assert state["webhook_url"] == f"http://127.0.0.1:{stack.port}/webhook"
    assert state["aws_endpoint"] == stack.endpoint
    env = {"STRIPE_LOCAL_STATE": str(stack.state_file), "STRIPE_WEBHOOK_SECRET": ""}

    sent = run_tool("local.trigger", "customer.created", env=env)  # no --url, --aws-endpoint or secret
    (event_id,) = event_ids(sent.stdout)
    shown = run_tool("local.inspector", "event", event_id, "--aws-endpoint", stack.endpoint, env=env)
    listed = run_tool("local.inspector", "events", env=env)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "current record OBJECT#cus_" in sent.stdout
    assert shown.returncode == 0 and "status: PUBLISHED" in shown.stdout  # the option after the command
    assert listed.returncode == 0 and event_id in listed.stdout


def test_a_second_stack_in_the_same_checkout_is_refused_and_names_the_running_one(stack: LocalStack) -> None:
    """Two stacks of one checkout would share one state file: the second used to overwrite it and
    remove it on exit, and the tools then said nothing was listening while the first still ran."""
    assert stack.state_file is not None
    before = stack.state_file.read_text()
    second = start(["--port", str(free_port())], {"STRIPE_LOCAL_STATE": str(stack.state_file)})
    out, _ = second.communicate(timeout=60)

    assert second.returncode == 1 and "Traceback" not in out
    assert f"a local stack of this checkout already runs (pid {stack.process.pid}," in out
    assert f"http://127.0.0.1:{stack.port}/webhook" in out and "Ctrl-C in its terminal" in out
    assert stack.state_file.read_text() == before  # the first stack's file, untouched
    sent = run_tool("local.trigger", "customer.created", env={"STRIPE_LOCAL_STATE": str(stack.state_file)})
    assert sent.returncode == 0, sent.stdout + sent.stderr  # the tools still find the first


def test_a_state_file_left_by_a_stopped_stack_is_reported_removed_and_ignored(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = tmp_path / "state.json"
    endpoint = f"http://127.0.0.1:{free_port()}"
    state.write_text(
        json.dumps(
            {
                "pid": gone.pid,
                "webhook_url": f"{endpoint}/webhook",
                "aws_endpoint": endpoint,
                "secret_name": "x",
            }
        )
    )

    result = run_tool("local.trigger", "customer.created", env={"STRIPE_LOCAL_STATE": str(state)})

    # refused, not sent to the default port (another program may hold it): it says how to choose
    assert "was left by a local stack that is no longer running" in result.stderr
    assert "pass --url" in result.stderr and "nothing is listening" not in result.stderr
    assert not state.exists()
    assert result.returncode == 1 and "make run" in result.stderr and "Traceback" not in result.stderr


def test_trigger_sends_a_payload_file_and_replays_a_stored_event(stack: LocalStack, tmp_path: Path) -> None:
    event = fresh_event("customer.updated")
    event["data"]["object"]["email"] = "from.a.file@example.com"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))

    sent_code, sent, _ = trigger(stack, "--payload", str(path))
    replay_code, replayed, _ = trigger(stack, "--replay", event["id"])
    missing_code, _, missing = trigger(stack, "--replay", "evt_000000000000000000000000")
    bad_code, _, bad = trigger(stack, "--payload", str(tmp_path / "absent.json"))

    assert sent_code == 0 and "200 processed" in sent and event["id"] in sent
    assert replay_code == 0 and "200 duplicate" in replayed and event["id"] in replayed
    assert missing_code == 1 and "no event evt_000000000000000000000000 is stored" in missing
    assert bad_code == 1 and "cannot read" in bad and "Traceback" not in bad


def test_ops_status_and_redrive_rehearse_on_the_local_stack(
    stack: LocalStack, consumer: tuple[Any, str]
) -> None:
    env = {"STRIPE_LOCAL_STATE": str(stack.state_file)}
    sent = trigger(stack, "customer.created", "--no-inspect")[1]
    (event_id,) = event_ids(sent)
    drain(*consumer)

    status = run_tool("ops", "status", "--local", env=env)
    redriven = run_tool(
        "ops",
        "redrive",
        "--local",
        "--type",
        "customer.created",
        "--since",
        "1h",
        "--queue-url",
        consumer[1],
        env=env,
    )
    refused = run_tool("ops", "register", "--local", env=env)
    rebuilt = run_tool("ops", "rebuild", "--local", "--since", "1h", "--type", "customer.created", env=env)

    assert status.returncode == 0, status.stderr
    assert "stack local" in status.stdout and "customer.created" in status.stdout
    assert "the local stack keeps none" in status.stdout and "(EventsProcessed)" not in status.stdout
    assert (
        f"is in the console's Requests tab (http://127.0.0.1:{stack.port}/)" in status.stdout
    )  # where it runs
    assert redriven.returncode == 0, redriven.stderr
    assert event_id in [message.attributes["event_id"] for message in drain(*consumer)]
    assert refused.returncode == 2 and "unrecognized arguments: --local" in refused.stderr
    # today's handlers write what they wrote: every record is unchanged, nothing is published
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "unchanged" in rebuilt.stdout and "records rebuilt; nothing was published" in rebuilt.stdout


def test_verify_records_finds_a_hand_edited_record_and_fix_restores_it_on_the_local_stack(
    stack: LocalStack,
) -> None:
    env = {"STRIPE_LOCAL_STATE": str(stack.state_file)}
    (event_id,) = event_ids(trigger(stack, "customer.created", "--no-inspect")[1])
    dynamodb = stack.client("dynamodb")
    stored = dynamodb.get_item(
        TableName=TABLE_NAME, Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}}
    )
    customer = stored["Item"]["object_id"]["S"]
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"pk": {"S": f"OBJECT#{customer}"}, "sk": {"S": "STATE"}},
        UpdateExpression="SET email = :typo",
        ExpressionAttributeValues={":typo": {"S": "typo@example.com"}},
    )
    check = ["ops", "verify", "--records", "--local", "--type", "customer.created", "--rate", "100"]

    found = run_tool(*check, env=env)
    fixed = run_tool(*check, "--fix", env=env)
    again = run_tool(*check, env=env)

    assert found.returncode == 1 and f'{customer}: email: stored "typo@example.com"' in found.stdout
    assert "records checked" in found.stdout and "(1 fixed)" in fixed.stdout
    assert customer not in again.stdout  # the local Stripe stand-in agrees with the record again


def test_ops_verify_checks_every_event_trigger_sent_against_the_local_log(stack: LocalStack) -> None:
    """``make trigger`` keeps what it sends in the local Stripe stand-in, as Stripe's Events API
    holds it; ``ops verify --local`` checks each against the log: one the webhook never got (kept
    here as delivered, as Stripe may count an event it never attempted) is named, exit 1;
    ``--recover`` processes it; verify again exits 0."""
    from infra.fixtures.payloads import fresh_event, with_fresh_ids
    from infra.local.stripe_standin import keep_sent

    env = {"STRIPE_LOCAL_STATE": str(stack.state_file)}
    since = str(int(time.time()) - 1)
    (sent_id,) = event_ids(trigger(stack, "customer.created", "--no-inspect")[1])
    lost = with_fresh_ids([fresh_event("customer.created", created=int(time.time()))])[0]
    keep_sent(stack.client("s3"), lost, delivered=True)
    window = ("--since", since, "--rate", "100")

    found = run_tool("ops", "verify", "--local", *window, env=env)
    recovered = run_tool("ops", "verify", "--local", *window, "--recover", env=env)
    again = run_tool("ops", "verify", "--local", *window, env=env)

    assert found.returncode == 1, found.stdout + found.stderr
    assert "2 events at Stripe, 1 in the log, 1 missing" in found.stdout
    assert f"missing {lost['id']}" in found.stdout and sent_id not in found.stdout
    assert recovered.returncode == 1 and "1 recovered through the pipeline" in recovered.stdout
    assert again.returncode == 0 and "2 events at Stripe, 2 in the log, 0 missing" in again.stdout


def test_trigger_sends_a_thin_notification(stack: LocalStack) -> None:
    code, out, err = trigger(stack, "--thin")

    assert code == 0, out + err
    assert "-> v1.billing.meter.error_report_triggered evt_" in out and "200 processed" in out
    (event_id,) = event_ids(out)
    logged = get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT")
    assert logged is not None and logged["status"] == "PUBLISHED"


def test_a_thin_type_with_a_typo_is_refused_with_the_closest_types(stack: LocalStack) -> None:
    code, out, err = trigger(stack, "--thin", "invoice.payd")

    assert code == 1 and "Traceback" not in err and "->" not in out  # nothing sent
    assert "'invoice.payd' is not an event type Stripe sends; did you mean invoice.paid" in err


def test_a_stored_thin_notification_opens_in_the_inbox_inspect_and_redrive(stack: LocalStack) -> None:
    # Given a thin notification no handler turns into a snapshot event, stored as Stripe sent it
    code, out, err = trigger(stack, "--thin")
    assert code == 0, out + err
    (event_id,) = event_ids(out)

    # When it is opened in the inbox, redriven from there, and shown by make inspect
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests?q={event_id}", timeout=5) as answer:
        (entry,) = json.loads(answer.read())["requests"]
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests/{entry['seq']}", timeout=5) as answer:
        detail = json.loads(answer.read())
    redrive = Request(
        f"http://127.0.0.1:{stack.port}/api/requests/{entry['seq']}/redrive",
        method="POST",
        headers={"X-Inbox-Request": "1"},
    )
    with urlopen(redrive, timeout=10) as answer:
        redriven = json.loads(answer.read())
    shown = run_tool("local.inspector", "--aws-endpoint", stack.endpoint, "event", event_id)

    # Then each shows the stored notification and the message it was published as
    assert json.loads(detail["message"]["body"])["id"] == event_id
    assert detail["message"]["attributes"]["payload_style"] == "thin"
    assert redriven["status"] == "sent"
    assert shown.returncode == 0 and event_id in shown.stdout and "Traceback" not in shown.stderr


def test_a_thin_notification_for_a_handled_type_runs_the_whole_thin_path_offline(stack: LocalStack) -> None:
    code, out, err = trigger(stack, "--thin", "invoice.paid")

    assert code == 0, out + err
    assert "-> v1.invoice.paid evt_" in out and "200 processed handler=billing records=1" in out
    invoice = record_id(out, "in_")
    fetched = stack.wait_for_line(f"fetched /v1/invoices/{invoice}")
    assert "200  (local Stripe API)" in fetched
    stack.wait_for_line(f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)", timeout=20)
    (event_id,) = event_ids(out)
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests?q={event_id}", timeout=5) as answer:
        (entry,) = json.loads(answer.read())["requests"]
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests/{entry['seq']}", timeout=5) as answer:
        detail = json.loads(answer.read())
    assert [(f["path"], f["status"]) for f in detail["fetches"]] == [(f"/v1/invoices/{invoice}", 200)]


def test_the_example_actions_run_once_per_fact_on_the_local_stack(stack: LocalStack) -> None:
    env = {"STRIPE_LOCAL_STATE": str(stack.state_file)}

    checkout = trigger(stack, "--flow", "checkout")
    subscription = trigger(stack, "--flow", "subscription")

    assert checkout[0] == 0 and subscription[0] == 0, checkout[2] + subscription[2]
    session, invoice = record_id(checkout[1], "cs_"), record_id(subscription[1], "in_")
    stack.wait_for_line(f"action fulfil_order {session} done (email to jenny.rosen@example.com)", timeout=20)
    stack.wait_for_line(f"action fulfil_order {invoice} done (email to jenny.rosen@example.com)", timeout=20)
    stack.wait_for_line(f"action fulfil_order {invoice} skipped: already done", timeout=20)
    stack.wait_for_line(
        f"action fulfil_order {record_id(subscription[1], 'cs_')} waiting: a subscription", timeout=20
    )
    stack.wait_for_line(f"action entitlement {record_id(subscription[1], 'sub_')}@", timeout=20)

    redriven = run_tool(
        "ops", "redrive", "--local", "--type", "checkout.session.completed", "--since", "1h", env=env
    )
    assert redriven.returncode == 0, redriven.stderr
    stack.wait_for_line(f"action fulfil_order {session} skipped: already done", timeout=20)

    listed = run_tool("local.inspector", "--aws-endpoint", stack.endpoint, "actions")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if session in line or invoice in line]
    assert len([row for row in rows if "fulfil_order" in row and "done: email to" in row]) == 2
    assert f"fulfil_order#receipt:{session}  to jenny.rosen@example.com" in listed.stdout
    assert f"fulfil_order#receipt:{invoice}  to jenny.rosen@example.com" in listed.stdout
    done = re.search(r"effects done \(emails SES accepted, alerts SNS accepted\): (\d+)", listed.stdout)
    assert done is not None and int(done.group(1)) >= 2  # these two, and other tests' on the shared stack

    settled = run_tool("ops", "effects", "--local", env=env)
    assert settled.returncode == 0 and "no effect waits to be settled" in settled.stdout, settled.stderr


def test_the_local_stripe_api_answers_what_the_stack_stored_so_same_second_events_resolve(
    stack: LocalStack,
) -> None:
    """Two updates of one customer in one second: the function asks the Stripe API for the
    customer's state; the local stand-in answers with what the stack last stored, never a 503."""
    from infra.fixtures.payloads import encode
    from infra.fixtures.signing import signature_header

    first = fresh_event("customer.updated")
    customer = f"cus_local{os.getpid()}x{len(stack.seen)}"
    first["data"]["object"]["id"] = customer
    second = json.loads(json.dumps(first))
    second["id"] = fresh_event("customer.updated")["id"]
    second["data"]["object"]["name"] = "Jenny Rosen-Smith"
    for event in (first, second):
        body = encode(event)
        status, text = stack.post(body, {"Stripe-Signature": signature_header(body, SECRET)})
        assert status == 200, text

    assert "200" in stack.wait_for_line(f"fetched /v1/customers/{customer}")  # the tie-break asked
    with urlopen(f"http://127.0.0.1:{stack.stripe_port}/v1/customers/{customer}", timeout=5) as answer:
        served = json.loads(answer.read())
    assert served["id"] == customer
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urlopen(f"http://127.0.0.1:{stack.stripe_port}/v1/customers/cus_never_seen", timeout=5)
    assert unknown.value.code == 404


def _inbox(stack: LocalStack, path: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    request = Request(f"http://127.0.0.1:{stack.port}{path}", method=method, headers={"X-Inbox-Request": "1"})
    try:
        with urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _seq(stack: LocalStack, event_id: str, status: str = "") -> int:
    query = f"/api/requests?q={event_id}" + (f"&status={status}" if status else "")
    return int(_inbox(stack, query)[1]["requests"][0]["seq"])


def test_a_refused_request_cannot_be_replayed_or_resent_into_the_stack(stack: LocalStack) -> None:
    # Given a request the stack refused: its body was changed after signing
    code, out, _ = trigger(stack, "charge.refunded", "--tamper")
    assert code == 0, out
    (event_id,) = event_ids(out)
    seq = _seq(stack, event_id, "4xx")

    # When the inbox is asked to replay it or resend it as new
    detail = _inbox(stack, f"/api/requests/{seq}")[1]
    replayed = _inbox(stack, f"/api/requests/{seq}/replay", "POST")
    resent = _inbox(stack, f"/api/requests/{seq}/resend", "POST")

    # Then both are refused, say why, and nothing of the forged body is stored
    assert "refused" in detail["available"]["replay"] and "refused" in detail["available"]["resend"]
    assert "no v1 signature matches the signing secret" in detail["why"]  # why, in words
    assert replayed[0] == 400 and "stays refused" in replayed[1]["message"]
    assert resent[0] == 400 and "stays refused" in resent[1]["message"]
    assert get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT") is None


def test_resend_as_new_rewrites_the_record_every_time(stack: LocalStack) -> None:
    # Given a stored event (as after a change to its handler, the developer wants it run again)
    code, out, _ = trigger(stack, "customer.updated")
    assert code == 0, out
    (event_id,) = event_ids(out)
    seq = _seq(stack, event_id)

    # When it is resent as new, again and again within the same second as far as it goes
    answers = [_inbox(stack, f"/api/requests/{seq}/resend", "POST")[1] for _ in range(6)]

    # Then each is a new event that writes the record, never a same-second tie that may be stale
    assert [(answer["status"], answer["response"]["records_written"]) for answer in answers] == [(200, 1)] * 6
    assert all(
        answer["response"]["records_stale"] == 0 and "rewritten" in answer["note"] for answer in answers
    )
    record = get_item(stack.client("dynamodb"), TABLE, "OBJECT#" + record_id(out, "cus_"), "STATE")
    assert record is not None and record["last_event_id"] == answers[-1]["event_id"]


def test_a_stale_signature_says_how_old_it_was(stack: LocalStack) -> None:
    code, out, _ = trigger(stack, "customer.created", "--stale")
    assert code == 0, out
    (event_id,) = event_ids(out)

    detail = _inbox(stack, f"/api/requests/{_seq(stack, event_id, '4xx')}")[1]

    assert "more than 5 minutes from now" in detail["why"]
    age = re.search(r"signed (\d+) s before it arrived", detail["why"])
    assert age is not None and 600 <= int(age.group(1)) <= 610


def test_every_delivery_of_an_event_is_listed_with_it_and_a_body_field_finds_it(stack: LocalStack) -> None:
    # Given an event delivered twice (as Stripe retries), about a customer with a known email
    code, out, _ = trigger(stack, "customer.created", "--resend")
    assert code == 0, out
    event_id = event_ids(out)[0]
    email = json.loads(_inbox(stack, f"/api/requests/{_seq(stack, event_id)}")[1]["body"])["data"]["object"][
        "email"
    ]

    # When one delivery is opened, and the list is searched for the email
    detail = _inbox(stack, f"/api/requests/{_seq(stack, event_id)}")[1]
    found = _inbox(stack, f"/api/requests?q={email}")[1]["requests"]

    # Then both deliveries are listed with it, and the email finds the event
    assert [attempt["verdict"] for attempt in detail["attempts"]] == ["processed", "duplicate"]
    assert event_id in {entry["event_id"] for entry in found}


def test_an_undelivered_event_is_recovered_by_the_local_reconciler_and_shown_as_such(
    stack: LocalStack,
) -> None:
    # Given an event Stripe could not deliver: the local Stripe API's Events API lists it
    code, out, err = trigger(stack, "invoice.paid", "--undelivered")
    assert code == 0, out + err
    (event_id,) = event_ids(out)
    assert "not delivered" in out and "the local stack's reconciler recovers them within 10 s" in out
    with urlopen(
        f"http://127.0.0.1:{stack.stripe_port}/v1/events?delivery_success=false&limit=100", timeout=5
    ) as listed:
        assert event_id in [event["id"] for event in json.loads(listed.read())["data"]]

    # When the reconciler's timer runs (every 10 s, taking events older than 2 s)
    line = stack.wait_for_line(f"RECONCILE invoice.paid {event_id} -> recovered", timeout=40)

    # Then the event is recorded and published once, and the inbox shows it as recovered
    assert "Events API" in line
    logged = get_item(stack.client("dynamodb"), TABLE, f"EVENT#{event_id}", "EVENT")
    assert logged is not None and logged["status"] == "PUBLISHED"
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests?q={event_id}", timeout=5) as answer:
        (entry,) = json.loads(answer.read())["requests"]
    assert (entry["method"], entry["verdict"], entry["event_type"]) == (
        "RECONCILE",
        "recovered",
        "invoice.paid",
    )
    # and a late webhook delivery of it is a duplicate
    code, out, _ = trigger(stack, "--replay", event_id)
    assert code == 0 and "200 duplicate" in out
    status = run_tool("ops", "status", "--local", env={"STRIPE_LOCAL_STATE": str(stack.state_file)})
    assert status.returncode == 0 and "reconciler: last run" in status.stdout, status.stdout + status.stderr
