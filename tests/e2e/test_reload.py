"""`make run` reloads the function's code on save, keeping the stack's state."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import FUNCTIONS_DIR, REPO_ROOT
from infra.fixtures.delivery import post
from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from tests.e2e.conftest import SECRET, LocalStack, launch, screenshots, stop
from tests.support import get_item

CUSTOMER = "OBJECT#cus_R9p2JgW7tYvN4c"


@pytest.fixture
def editable_stack(tmp_path: Path) -> Iterator[tuple[LocalStack, Path]]:
    """A stack serving a copy of functions/ (beside a copy of the template) that the test may edit."""
    code = tmp_path / "functions"
    shutil.copytree(FUNCTIONS_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "template.yaml", tmp_path / "template.yaml")
    shutil.copytree(REPO_ROOT / "infra" / "modules", tmp_path / "infra" / "modules")
    running = launch("--functions-dir", str(code))
    try:
        yield running, code
    finally:
        stop(running)


def deliver(stack: LocalStack, event_type: str) -> dict[str, object]:
    event = fresh_event(event_type)
    body = encode(event)
    answer = post(
        f"http://127.0.0.1:{stack.port}/webhook", body, header=signature_header(body, SECRET), timeout=10
    )
    assert answer.status == 200, answer.text
    return event


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    time.sleep(0.05)  # a new modification time even on coarse clocks
    path.write_text(text.replace(old, new))


def test_saving_a_handler_reloads_it_and_keeps_the_stack_s_state(
    editable_stack: tuple[LocalStack, Path],
) -> None:
    stack, code = editable_stack
    customers = code / "stripe_webhook" / "handlers" / "customers.py"
    before = deliver(stack, "customer.created")
    dynamodb = stack.client("dynamodb")
    first = get_item(dynamodb, "stripe-webhooks-events", CUSTOMER, "STATE")
    assert first is not None and "loyalty_tier" not in first

    edit(
        customers,
        'attributes = pick(customer, "email",',
        'attributes = {"loyalty_tier": "gold"} | pick(customer, "email",',
    )
    stack.wait_for_line("reloaded the function's code (stripe_webhook/handlers/customers.py)")
    deliver(stack, "customer.updated")

    record = get_item(dynamodb, "stripe-webhooks-events", CUSTOMER, "STATE")
    assert record is not None and record["loyalty_tier"] == "gold"
    assert (
        get_item(dynamodb, "stripe-webhooks-events", f"EVENT#{before['id']}", "EVENT") is not None
    )  # state kept

    # A broken edit is reported, and the last good code keeps serving
    edit(customers, "def customer_changed(", "def customer_changed(:")
    stack.wait_for_line("reload failed (stripe_webhook/handlers/customers.py)")
    stack.wait_for_line("SyntaxError")
    assert deliver(stack, "customer.updated")["type"] == "customer.updated"  # answered 200 by the old code


def test_a_handler_s_bug_shows_its_traceback_with_the_request_in_the_inbox(
    editable_stack: tuple[LocalStack, Path], browser: Any, tmp_path: Path
) -> None:
    import json
    from urllib.request import urlopen

    # Given a handler with a bug
    stack, code = editable_stack
    customers = code / "stripe_webhook" / "handlers" / "customers.py"
    edit(
        customers,
        'attributes = pick(customer, "email",',
        'attributes = customer["no_such_field"] or pick(customer, "email",',
    )
    stack.wait_for_line("reloaded the function's code (stripe_webhook/handlers/customers.py)")

    # When an event reaches it
    event = fresh_event("customer.created")
    body = encode(event)
    answer = post(
        f"http://127.0.0.1:{stack.port}/webhook", body, header=signature_header(body, SECRET), timeout=10
    )

    # Then Stripe gets a 500, and the inbox shows what was raised, where, with the request
    assert answer.status == 500 and answer.json["error"] == "handler_failed"
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests?q={event['id']}", timeout=5) as listed:
        (entry,) = json.loads(listed.read())["requests"]
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests/{entry['seq']}", timeout=5) as opened:
        detail = json.loads(opened.read())
    assert "Traceback (most recent call last):" in detail["traceback"]
    assert "customers.py" in detail["traceback"] and "KeyError: 'no_such_field'" in detail["traceback"]

    # and the console's Requests tab shows it with the request
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"http://127.0.0.1:{stack.port}/#/requests?request={entry['seq']}")
    shown = page.locator("#traceback")
    shown.wait_for()
    assert "KeyError: 'no_such_field'" in shown.inner_text()
    assert "‼ 500 handler failed" in page.locator("#detail").inner_text()
    page.locator("#detail-pane").screenshot(path=str(screenshots(tmp_path) / "inbox-traceback.png"))
    page.close()


def test_a_template_change_is_named_with_the_restart_it_needs(
    editable_stack: tuple[LocalStack, Path],
) -> None:
    """The stack made its queues and actions from the template when it started: a new action
    instance would never run, so the change is named, with the restart that applies it."""
    stack, code = editable_stack
    edit(code.parent / "template.yaml", "Resources:\n", "Resources:\n  # a new action would go here\n")

    line = stack.wait_for_line("template.yaml changed", timeout=10)

    assert "Restart to apply it: Ctrl-C, then make run again" in line
    assert deliver(stack, "customer.created")  # and it keeps serving meanwhile
