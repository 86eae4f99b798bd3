"""The console against the local stack's AWS side, after real deliveries, in Debian's Chromium.

The stack receives a checkout flow and a dispute through its webhook; the example actions run; a
message no action can read goes to the entitlement action's dead-letter queue. The console
(``python -m infra.console --aws-endpoint …``) is then used as an operator would at 1280 and
1440 px: find events by type, by object id and by time range, open one, its object's timeline,
the dead-lettered message, and fail to redrive without ``--allow-actions``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import REPO_ROOT
from infra.fixtures.flows import flow_events
from infra.fixtures.payloads import fresh_event
from tests.e2e.conftest import LocalStack, screenshots, send
from tests.support import free_port


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_console(stack: LocalStack, *options: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.console",
            "--aws-endpoint",
            stack.endpoint,
            "--port",
            str(port),
            *options,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if f"http://127.0.0.1:{port}/" in line:
            return process, port
    raise AssertionError(f"the console did not start (exit {process.wait()})")


@pytest.fixture(scope="module")
def delivered(stack: LocalStack) -> Iterator[dict[str, Any]]:
    events = flow_events("checkout")
    dispute = fresh_event("charge.dispute.created")
    unhandled = fresh_event("invoice.paid", type="product.created")  # no handler: listed all the same
    for event in [*events, dispute, unhandled]:
        assert send(stack, event) == 200
    sqs = stack.client("sqs")
    queue = next(url for url in sqs.list_queues()["QueueUrls"] if url.endswith("stripe-actions-entitlement"))
    sqs.send_message(QueueUrl=queue, MessageBody="not a message any action can read")
    dead_letters = queue.replace("stripe-actions-entitlement", "stripe-actions-entitlement-dlq")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and depth(sqs, dead_letters) == 0:
        time.sleep(0.5)
    assert depth(sqs, dead_letters) == 1
    session = next(event for event in events if event["type"] == "checkout.session.completed")
    yield {"session": session, "dispute": dispute, "dead_letters": dead_letters, "unhandled": unhandled}


def assert_no_id_breaks(page: Any) -> None:
    """No id on the page is broken across lines (each shows on one line, whole or cut with an
    ellipsis), and neither the list nor the detail scrolls sideways."""
    broken = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              '.ident, #events td .id, #events td .type, #events a.object, dd.token, #detail-pane td.key'))
            .filter((node) => node.offsetParent !== null)
            .filter((node) => node.getClientRects().length > 1 ||
              node.getBoundingClientRect().height > 1.8 * parseFloat(getComputedStyle(node).fontSize) * 1.45)
            .map((node) => node.textContent)"""
    )
    assert broken == []
    sideways = page.evaluate(
        """() => ['#list-pane', '#detail-pane'].map((name) => document.querySelector(name))
            .map((pane) => pane.scrollWidth - pane.clientWidth)"""
    )
    assert max(sideways) <= 1


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("width", [1280, 1440])
def test_an_operator_finds_opens_and_follows_events_and_cannot_change_anything_read_only(
    stack: LocalStack, delivered: dict[str, Any], browser: Any, width: int, tmp_path: Path
) -> None:
    session = delivered["session"]
    session_id, object_id = session["id"], session["data"]["object"]["id"]
    process, port = open_console(stack)
    try:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#events tbody tr")
        assert "read-only" in page.inner_text("#who")
        page.wait_for_selector(f"#events tr[data-event='{delivered['unhandled']['id']}']")
        assert re.search(r"\d+ queries", page.inner_text("#progress"))
        queries = int(re.search(r"(\d+) queries", page.inner_text("#progress")).group(1))  # type: ignore[union-attr]
        assert queries <= 10

        # a typo in the type: a "did you mean", not a silent empty list
        page.fill("#filter-type", "checkout.sesion.completed")
        page.press("#filter-type", "Enter")
        expect(page.locator("#progress")).to_contain_text("did you mean checkout.session.completed")

        # by type
        page.fill("#filter-type", "checkout.session.completed")
        page.press("#filter-type", "Enter")
        expect(page.locator("#events tbody tr")).to_have_count(1)
        assert "type=checkout.session.completed" in page.url
        page.wait_for_selector(f"#events tr[data-event='{session_id}']")

        # opened: body, record, message, the action's outcome; the link keeps it
        page.click(f"#events tr[data-event='{session_id}'] td.event")
        page.wait_for_selector("#body")
        assert json.loads(page.inner_text("#body"))["id"] == session_id
        assert "written by this event" in page.inner_text("#records")
        assert "checkout.session.completed" in page.inner_text("#message-attributes")
        page.wait_for_selector("#action-outcomes")
        assert re.search(r"fulfil_order\s+done", page.inner_text("#action-outcomes"))
        assert_no_id_breaks(page)
        page.screenshot(path=str(screenshots(tmp_path) / f"console-event-{width}.png"))
        page.reload()
        page.wait_for_selector("#body")
        assert page.input_value("#filter-type") == "checkout.session.completed"

        # by object id, then the object's timeline
        page.goto(f"http://127.0.0.1:{port}/#/events?object={object_id}")
        page.wait_for_selector(f"#events tr[data-event='{session_id}']")
        page.click(f"#events tr[data-event='{session_id}'] a.object")
        page.wait_for_selector("#current-record")
        assert object_id in page.inner_text("#current-record")
        assert session_id in page.inner_text("#arrival")

        # by time range: now is in it, an hour ago to half an hour ago is not
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 3600))
        later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))
        page.goto(f"http://127.0.0.1:{port}/#/events?type=charge.dispute.created&since={stamp}&until={later}")
        page.wait_for_selector(f"#events tr[data-event='{delivered['dispute']['id']}']")
        earlier = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1800))
        page.goto(
            f"http://127.0.0.1:{port}/#/events?type=charge.dispute.created&since={stamp}&until={earlier}"
        )
        expect(page.locator("#list p.muted")).to_have_text("No event in this range.")

        # keyboard: 2 is the consumers' tab; the dead-lettered message is shown, not consumed
        page.keyboard.press("2")
        page.wait_for_selector("[data-queue='stripe-actions-entitlement'] #dead-lettered")
        shown = page.inner_text("[data-queue='stripe-actions-entitlement']")
        assert "poison" in shown and "dead-letter queue 1" in shown
        assert depth(stack.client("sqs"), delivered["dead_letters"]) == 1
        button = page.locator("[data-queue='stripe-actions-entitlement'] button[data-kind='redrive']")
        assert button.is_disabled()
        # an empty dead-letter queue offers no redrive
        assert (
            page.locator("[data-queue='stripe-actions-fulfil_order'] button[data-kind='redrive']").count()
            == 0
        )
        page.screenshot(path=str(screenshots(tmp_path) / f"console-consumers-{width}.png"))
        refused = page.evaluate(
            """() => fetch('/api/actions', {method: 'POST', headers: {'X-Inbox-Request': '1',
                'Content-Type': 'application/json'}, body: JSON.stringify({kind: 'redrive',
                target: 'stripe-actions-entitlement', confirmed: true})}).then(r => r.status)"""
        )
        assert refused == 403
        assert depth(stack.client("sqs"), delivered["dead_letters"]) == 1
        page.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_foreign_host_and_a_cross_site_request_are_refused(
    stack: LocalStack, delivered: dict[str, Any], browser: Any
) -> None:
    process, port = open_console(stack, "--allow-actions")
    try:
        page = browser.new_page()
        answer = page.goto(f"http://rebound.test:{port}/")  # DNS rebinding: loopback under a foreign name
        assert answer is not None and answer.status == 403
        page.goto(f"http://attacker.test:{stack.port}/not-found")  # any page of another origin
        page.evaluate(
            """port => fetch(`http://127.0.0.1:${port}/api/actions`, {method: 'POST', mode: 'no-cors',
                body: JSON.stringify({kind: 'redrive', target: 'stripe-actions-entitlement',
                confirmed: true})}).catch(() => null)""",
            port,
        )
        page.close()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/events",
            headers={"Origin": "http://attacker.test", "Sec-Fetch-Site": "cross-site"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        assert refused.value.headers.get("X-Frame-Options") == "DENY"
        assert refused.value.headers.get("Access-Control-Allow-Origin") is None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/audit", timeout=10) as audit:
            assert json.loads(audit.read())["entries"] == []
        assert depth(stack.client("sqs"), delivered["dead_letters"]) == 1
    finally:
        process.terminate()
        process.wait(timeout=10)


UI_FILES = ("/", "/static/page.js", "/static/console.js", "/static/requests.js", "/static/page.css")


def read(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        body: bytes = answer.read()
    return body


def test_make_run_serves_the_same_console_with_what_only_the_local_stack_knows(
    stack: LocalStack, delivered: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    session = delivered["session"]
    process, port = open_console(stack)
    try:
        assert all(read(port, path) == read(stack.port, path) for path in UI_FILES)  # one UI
        with pytest.raises(urllib.error.HTTPError) as deployed:  # the requests are make run's alone
            read(port, "/api/requests")
        assert (
            deployed.value.code == 404 and "local stack only" in json.loads(deployed.value.read())["message"]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"http://127.0.0.1:{stack.port}/")
    page.wait_for_selector("#requests tbody tr")  # the local mode opens on the requests
    assert "local stack" in page.inner_text("#title") and "actions allowed" in page.inner_text("#who")
    page.click("#tabs a[data-tab='events']")
    page.wait_for_selector(f"#events tr[data-event='{delivered['unhandled']['id']}']")  # unhandled too
    queries = int(re.search(r"(\d+) queries", page.inner_text("#progress")).group(1))  # type: ignore[union-attr]
    assert queries <= 10
    arrived = fresh_event("customer.created")  # the event log is live on the local stack too
    assert send(stack, arrived) == 200
    page.wait_for_selector(f"#events tr[data-event='{arrived['id']}']", timeout=10_000)
    page.click(f"#events tr[data-event='{session['id']}'] td.event")
    page.wait_for_selector("#body")
    assert "written by this event" in page.inner_text("#records")
    assert_no_id_breaks(page)
    page.screenshot(path=str(screenshots(tmp_path) / "console-local-event.png"))
    page.keyboard.press("1")  # the requests' tab, first on the local stack
    page.wait_for_selector(f"#requests tbody tr:has-text('{session['id']}')")
    assert "#/requests" in page.url
    page.close()
