"""The console's requests view (the webhook inbox) in a real browser: Playwright driving Debian's
Chromium against the local stack, whose page (``make run``) is the console in its local mode.

Debian's Chromium drives it (CI installs it, ``.ci/provision``); without it this test is skipped
with the reason. ``INBOX_SCREENSHOTS=docs`` also writes the screenshots docs/local-development.md shows.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from infra.fixtures.delivery import post
from infra.fixtures.flows import flow_events
from infra.fixtures.payloads import encode, fresh_event
from infra.fixtures.signing import signature_header
from tests.e2e.conftest import SECRET, LocalStack, launch, screenshots, send, stop

SESSION = "cs_test_a1Xk9bQm3ZvKYlo2RfT8wLq0Hn4sC7dE2jP5yU6iO9"
HOSTILE = "<script>window.__xss = 1</script><img src=x onerror=window.__xss=2>"


def test_the_inbox_lists_every_request_opens_details_replays_and_never_runs_a_body(
    stack: LocalStack, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = screenshots(tmp_path)
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(f"http://127.0.0.1:{stack.port}/")
    rows = page.locator("#requests tbody tr")
    # the path column's header reads whole, however narrow the column
    path_header = page.locator("#requests th.path")
    assert path_header.inner_text() == "path"
    assert path_header.evaluate("(th) => th.scrollWidth <= th.clientWidth")

    # A flow and a tampered request appear without reloading
    flow = flow_events("checkout")
    assert all(send(stack, event) == 200 for event in flow)
    tampered = fresh_event("charge.refunded")
    assert send(stack, tampered, tamper=True) == 400
    completed = flow[-1]
    page.locator("#requests tbody tr", has_text=tampered["id"]).wait_for()
    assert "✗ 400 bad signature" in page.locator("#requests tbody tr", has_text=tampered["id"]).inner_text()
    assert rows.first.inner_text().count(tampered["id"]) == 1  # newest first
    page.screenshot(path=str(shots / "inbox-list.png"))

    # The detail: headers with the signature redacted, the body, the event log, the message
    page.locator("#requests tbody tr", has_text=completed["id"]).click()
    detail = page.locator("#detail")
    detail.get_by_text("Message on the consumer queue").wait_for()
    text = detail.inner_text()
    assert "v1: 1 signature (redacted)" in text and signature_header(b"x", SECRET)[-64:] not in text
    assert "PUBLISHED" in text and '"checkout.session.completed"' in text
    assert f"record object#{SESSION.lower()} / state: written by this event" in text.lower()
    page.screenshot(path=str(shots / "inbox-detail.png"))

    assert "\nnull\n" not in detail.inner_text()[:200]  # no stray placeholder under the title
    # The body is a JSON tree: values coloured by kind, objects fold; every part of the detail folds
    assert detail.locator(".json-string", has_text='"checkout.session.completed"').count() >= 1
    data = detail.locator(
        "details.json", has=page.locator(":scope > summary > .json-key:text-is('\"data\"')")
    ).first
    inner = data.locator(".json-key", has_text='"amount_total"').first
    assert inner.is_visible()
    data.locator(":scope > summary").click()
    assert not inner.is_visible()
    data.locator(":scope > summary").click()
    headers = detail.locator("details.part", has_text="Request headers").first
    headers.locator(":scope > summary").click()
    assert not headers.locator("dl").is_visible()
    headers.locator(":scope > summary").click()

    # Replay: the same event again is a duplicate, shown in place and live in the list; the open
    # detail is read again, so its deliveries include the replay without a reload
    page.locator("#action-replay").click()
    page.locator(".result", has_text="duplicate").wait_for()
    expect(detail.locator("#attempts tbody tr")).to_have_count(2)
    made = page.locator("#made")  # the request the replay made, linked and highlighted
    made_seq = made.inner_text().removeprefix("open #")
    page.locator(f'tbody tr.new[data-seq="{made_seq}"]').wait_for()
    seqs = [row.get_attribute("data-seq") for row in page.locator("#requests tbody tr").all()]
    assert len(seqs) == len(set(seqs))  # each request listed once, however the refreshes overlap
    page.locator("#requests tbody tr", has_text="duplicate").filter(has_text=completed["id"]).first.wait_for()

    # Ids shown exactly, times as people read them (raw on hover), the open request in the address
    assert f"Record OBJECT#{SESSION} / STATE" in detail.inner_text()  # not upper-cased
    received = detail.locator("dd .time").first
    assert re.search(r"\((just now|\d+ s ago)\)", received.inner_text())
    assert re.match(r"\d{10} · 20\d\d-", received.get_attribute("title") or "")
    seq = detail.locator("h2").inner_text().split()[0].lstrip("#")
    assert f"request={seq}" in page.url
    counts = page.locator("#counts").inner_text()
    assert re.match(r"\d+ requests, \d+ shown", counts)

    # A refused request cannot be replayed or resent: the buttons are off and say why
    page.locator("#requests tbody tr", has_text=tampered["id"]).click()
    detail.locator("h2", has_text="POST /webhook").wait_for()
    page.locator("#action-replay[disabled]").wait_for()
    assert "Refused: no v1 signature matches the signing secret" in page.locator("#why").inner_text()
    assert "stays refused" in (page.locator("#action-replay").get_attribute("title") or "")
    assert page.locator("#action-resend").is_disabled() and page.locator("#action-redrive").is_disabled()
    page.locator("#detail-pane").screenshot(path=str(shots / "inbox-refused.png"))

    # Every delivery of one event, grouped under it: the original and the replay's duplicate
    page.locator(f'#requests tbody tr[data-seq="{made_seq}"]').click()
    attempts = page.locator("#attempts tbody tr")
    attempts.first.wait_for()
    assert attempts.count() == 2 and "duplicate" in attempts.nth(1).inner_text()
    page.locator("#detail-pane").screenshot(path=str(shots / "inbox-deliveries.png"))

    # Filter by object id: only that session's requests
    page.fill("#filter-object", SESSION)
    expect(page.locator("#requests tbody tr", has_text=tampered["id"])).to_have_count(0)
    assert rows.count() >= 2  # the session's event and its replayed duplicate (and earlier tests')
    assert all(SESSION in rows.nth(index).inner_text() for index in range(rows.count()))
    page.click("#filter-clear")

    # Keyboard: j moves, t opens the object's timeline
    page.locator("#requests tbody tr", has_text=completed["id"]).first.wait_for()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    detail.locator("h2").wait_for()
    completed_row = page.locator("#requests tbody tr", has_text=completed["id"]).last  # the first delivery
    completed_row.click()
    detail.locator("h2", has_text=f"#{completed_row.get_attribute('data-seq')} POST").wait_for()
    page.keyboard.press("t")
    timeline = detail.locator("h2", has_text=f"Timeline of {SESSION}")
    timeline.wait_for()
    assert "written" in detail.inner_text()
    page.locator("#detail-pane").screenshot(path=str(shots / "inbox-timeline.png"))

    # A body with markup in it is shown as text and never runs
    hostile = fresh_event("customer.updated")
    hostile["data"]["object"]["metadata"] = {"note": HOSTILE}
    email = f"jenny.rosen+{hostile['id'][-10:]}@example.com"
    hostile["data"]["object"]["email"] = email
    assert send(stack, hostile) == 200
    page.locator("#requests tbody tr", has_text=hostile["id"]).click()
    detail.locator("dd", has_text=hostile["id"]).first.wait_for()
    detail.get_by_text("Message body").wait_for()
    assert HOSTILE in (detail.text_content() or "")  # as text, in the folded levels of the body
    assert page.evaluate("window.__xss") is None and dialogs == []
    assert page.locator('#detail img[src="x"], #detail script').count() == 0

    # Search looks in bodies too: a customer's email finds their events
    page.fill("#filter-text", email)
    expect(rows).to_have_count(1)
    assert hostile["id"] in rows.first.inner_text()
    page.screenshot(path=str(shots / "inbox-search.png"))


def test_a_link_to_a_request_opens_it_with_its_filters(stack: LocalStack, browser: Any) -> None:
    event = fresh_event("charge.refunded")
    assert send(stack, event) == 200
    (entry,) = get_json(stack, f"/api/requests?q={event['id']}")["requests"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    page.goto(f"http://127.0.0.1:{stack.port}/#/requests?type=charge.&request={entry['seq']}")

    page.locator("#detail h2", has_text=f"#{entry['seq']} ").wait_for()
    assert page.locator("#filter-type").input_value() == "charge."
    page.locator("#requests tbody tr", has_text=event["id"]).wait_for()
    assert all("charge." in row for row in page.locator("#requests tbody tr").all_inner_texts())

    # a link from before the inbox became the console's Requests tab opens the same view
    page.goto(f"http://127.0.0.1:{stack.port}/#type=charge.&request={entry['seq']}")
    page.reload()
    page.locator("#detail h2", has_text=f"#{entry['seq']} ").wait_for()
    assert page.locator("#filter-type").input_value() == "charge." and "#/requests?" in page.url


def test_a_risky_action_asks_first_and_its_result_is_linked(
    stack: LocalStack, browser: Any, tmp_path: Path
) -> None:
    shots = screenshots(tmp_path)
    event = fresh_event("customer.updated")
    assert send(stack, event) == 200
    (entry,) = get_json(stack, f"/api/requests?q={event['id']}")["requests"]
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    asked: list[str] = []
    answers = iter([False, True])  # first dismissed, then accepted

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        (dialog.accept if next(answers) else dialog.dismiss)()

    page.on("dialog", answer)
    page.goto(f"http://127.0.0.1:{stack.port}/#/requests?request={entry['seq']}")
    page.locator("#detail h2", has_text=f"#{entry['seq']} ").wait_for()

    before = len(get_json(stack, "/api/requests")["requests"])
    page.locator("#action-resend").click()  # dismissed: nothing is sent
    page.wait_for_timeout(500)
    dismissed = len(get_json(stack, "/api/requests")["requests"]) - before
    page.locator("#action-resend").click()  # accepted
    made = page.locator("#made")
    made.wait_for()

    assert len(asked) == 2 and "processed again" in asked[0]
    assert dismissed == 0
    page.locator("#requests tbody tr.new").first.wait_for()
    page.screenshot(path=str(shots / "inbox-action.png"))
    opened = made.inner_text().removeprefix("open ")  # read first: opening it replaces the detail
    made.click()
    page.locator("#detail h2", has_text=f"{opened} ").wait_for()


def test_the_inbox_is_live_without_polling(stack: LocalStack, browser: Any, tmp_path: Path) -> None:
    shots = screenshots(tmp_path)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    listed: list[str] = []
    page.on("request", lambda request: listed.append(request.url) if "/api/requests" in request.url else None)
    page.goto(f"http://127.0.0.1:{stack.port}/")
    page.locator("#live", has_text="live").wait_for()
    page.wait_for_timeout(500)
    settled = len(listed)

    page.wait_for_timeout(3000)  # idle: nothing is fetched (a 1 s poll would have fetched 3 times)
    idle = len(listed) - settled
    event = fresh_event("charge.dispute.created")  # the dispute_alert action answers it
    assert send(stack, event) == 200
    row = page.locator("#requests tbody tr", has_text=event["id"])
    row.wait_for(timeout=3000)  # pushed, not polled

    assert idle == 0, listed
    assert 1 <= len(listed) - settled <= 3
    # an action's outcome reaches the open detail without reopening it
    row.click()
    page.locator("#action-outcomes tbody tr", has_text="dispute_alert").wait_for(timeout=15000)
    page.locator("#detail-pane").screenshot(path=str(shots / "inbox-outcomes.png"))
    assert page.locator("#live").inner_text() == "live"
    page.close()


def test_the_live_stream_needs_the_token_when_the_inbox_is_public() -> None:
    stack = launch("--inbox-public")
    try:
        token = stack.wait_for_line("#token=").split("#token=", 1)[1].split()[0]
        url = f"http://127.0.0.1:{stack.port}/api/stream"
        with pytest.raises(HTTPError) as refused:
            urlopen(url, timeout=5)
        assert refused.value.code == 403
        with urlopen(Request(url, headers={"X-Inbox-Token": token}), timeout=5) as live:
            assert live.headers["Content-Type"].startswith("text/event-stream")
            assert live.readline() == b"event: hello\n"
            assert post(f"http://127.0.0.1:{stack.port}/webhook", b"{}", timeout=5).status == 400
            frames = b"".join(live.readline() for _ in range(4))
        assert b"event: request" in frames
    finally:
        stop(stack)


def get_json(stack: LocalStack, path: str) -> dict[str, Any]:
    with urlopen(Request(f"http://127.0.0.1:{stack.port}{path}"), timeout=5) as answer:
        value: dict[str, Any] = json.loads(answer.read())
    return value


def test_the_inbox_shows_the_message_a_queue_received_and_records_head_requests(stack: LocalStack) -> None:
    event = fresh_event("charge.refunded")
    assert send(stack, event) == 200
    with pytest.raises(HTTPError) as raised:
        urlopen(Request(f"http://127.0.0.1:{stack.port}/nowhere", method="HEAD"), timeout=5)
    assert raised.value.code == 404

    (entry,) = get_json(stack, f"/api/requests?q={event['id']}")["requests"]
    deadline = time.monotonic() + 10
    while (detail := get_json(stack, f"/api/requests/{entry['seq']}"))["message"]["copies"] == 0:
        assert time.monotonic() < deadline, "the inbox's queue never received the message"
        time.sleep(0.2)
    assert detail["message"]["body"].encode() == encode(event)
    assert detail["message"]["attributes"]["event_id"] == event["id"] and detail["message"]["copies"] == 1
    newest_rejected = get_json(stack, "/api/requests?status=4xx")["requests"][0]
    assert (newest_rejected["method"], newest_rejected["path"], newest_rejected["status"]) == (
        "HEAD",
        "/nowhere",
        404,
    )


def test_the_inbox_json_answers_errors_in_the_contract_shape(stack: LocalStack) -> None:
    listed = get_json(stack, "/api/requests?type=charge.")
    assert listed["size"] > 0 and all(
        entry["event_type"].startswith("charge.") for entry in listed["requests"]
    )
    url = f"http://127.0.0.1:{stack.port}/api/requests/999999/replay"
    answer = post(url, b"", headers={"X-Inbox-Request": "1"}, timeout=5)
    assert answer.status == 400 and "not in the inbox" in answer.json["message"]
    refused = post(url, b"", timeout=5)  # without the header the console's page sends: refused
    assert refused.status == 403 and "X-Inbox-Request" in refused.json["message"]


def _own_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None if it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("public", [False, True], ids=["default", "--inbox-public"])
def test_the_inbox_answers_other_machines_only_when_asked(public: bool) -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    stack = launch("--host", "0.0.0.0", *(["--inbox-public"] if public else []))
    port = stack.port
    try:
        with urlopen(f"http://127.0.0.1:{port}/", timeout=5) as local:
            assert local.status == 200
        if public:
            token = stack.wait_for_line("#token=").split("#token=", 1)[1].split()[0]
            with pytest.raises(HTTPError) as no_token:
                urlopen(f"http://{address}:{port}/api/requests", timeout=5)
            assert no_token.value.code == 403
            with urlopen(
                Request(f"http://{address}:{port}/api/requests", headers={"X-Inbox-Token": token}),
                timeout=5,
            ) as remote:
                assert remote.status == 200
        else:
            with pytest.raises(HTTPError) as raised:
                urlopen(f"http://{address}:{port}/api/requests", timeout=5)
            assert raised.value.code == 403
        # The webhook itself answers everyone either way
        assert post(f"http://{address}:{port}/webhook", b"{}", timeout=5).status == 400
        # and the banner gives addresses a client can use, never 0.0.0.0
        banner = "".join(stack.seen)
        assert "0.0.0.0" not in banner and f"http://127.0.0.1:{port}/webhook" in banner
        remote = stack.wait_for_line(f":{port}/webhook   (from other machines)").split()[0]
        assert post(remote, b"{}", timeout=5).status == 400
        if public:
            link = stack.wait_for_line("share this link only with people").split()[0]
            origin, token = link.split("/#token=")
            with urlopen(
                Request(f"{origin}/api/requests", headers={"X-Inbox-Token": token}), timeout=5
            ) as shared:
                assert shared.status == 200
    finally:
        stop(stack)


def test_the_inbox_shows_what_the_example_actions_did_with_an_event(stack: LocalStack, browser: Any) -> None:
    event = fresh_event("charge.dispute.created")
    event["data"]["object"]["id"] = f"du_inbox{int(time.time() * 1000)}"
    assert send(stack, event) == 200
    (entry,) = get_json(stack, f"/api/requests?q={event['id']}")["requests"]
    deadline = time.monotonic() + 15
    while not (outcomes := get_json(stack, f"/api/requests/{entry['seq']}").get("actions")):
        assert time.monotonic() < deadline, "the dispute_alert action's outcome never reached the inbox"
        time.sleep(0.2)
    assert [(o["action"], o["key"], o["status"]) for o in outcomes] == [
        ("dispute_alert", event["data"]["object"]["id"], "done")
    ]

    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{stack.port}/")
    page.locator("#requests tbody tr", has_text=event["id"]).click()
    row = page.locator("#action-outcomes tbody tr", has_text="dispute_alert")
    row.wait_for()
    assert "done" in row.inner_text() and "alert sent, evidence due" in row.inner_text()
    page.close()


LAYOUT = """(pane) => {
    const view = pane.getBoundingClientRect();
    const lines = (node) => {  // how many lines its text takes: the distinct tops of its line boxes
        const range = document.createRange();
        range.selectNodeContents(node);
        return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
    };
    const problems = [];
    for (const row of pane.querySelectorAll("#requests tbody tr")) {
        // the identifying cells: each piece of text on one line, inside the list, and whole for
        // what Stripe writes (an attacker's 255-character "id" may be cut, its value on hover)
        const stripes = /^evt_[A-Za-z0-9]{24,40}$/.test(row.querySelector("td.event .id").textContent);
        for (const part of row.querySelectorAll("td.when, td.status .badge, td.event .type, td.event .id")) {
            const box = part.getBoundingClientRect();
            const text = part.textContent;
            if (lines(part) > 1) problems.push(`wraps: ${text}`);
            const cut = part.tagName !== "TD" && part.scrollWidth > part.clientWidth + 1;
            if (cut && stripes) problems.push(`cut: ${text}`);
            if (box.left < view.left - 1 || box.right > view.right + 1) problems.push(`outside: ${text}`);
        }
        // what gives way is cut on one line, its whole value on hover
        const object = row.querySelector("td.object");
        const id = object.querySelector(".id");
        if (id && lines(id) > 1) problems.push(`object wraps: ${id.textContent}`);
        const hover = object.title || "";
        if (id && id.textContent && !hover.includes(id.textContent)) problems.push("no hover value");
    }
    if (pane.scrollWidth > pane.clientWidth) problems.push("the list scrolls sideways");
    return problems;
}"""


def test_the_list_reads_whole_at_1280_and_1440_with_a_request_open(
    stack: LocalStack, browser: Any, tmp_path: Path
) -> None:
    shots = screenshots(tmp_path)
    session = fresh_event("checkout.session.completed")  # the longest ids Stripe has
    session["data"]["object"]["id"] = SESSION
    capturable = fresh_event("payment_intent.amount_capturable_updated")  # the longest type
    assert send(stack, session) == 200 and send(stack, session) == 200  # a second delivery: a duplicate
    assert send(stack, capturable) == 200
    assert send(stack, fresh_event("charge.refunded"), tamper=True) == 400  # signature_mismatch
    for width in (1280, 1440):
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.goto(f"http://127.0.0.1:{stack.port}/")
        rows = page.locator("#requests tbody tr", has_text=session["id"])
        rows.nth(1).wait_for()
        assert "= duplicate" in rows.first.inner_text() and "✓ processed" in rows.nth(1).inner_text()
        assert page.locator("#list-pane").evaluate(LAYOUT) == [], (width, "list")
        page.screenshot(path=str(shots / f"inbox-list-{width}.png"))

        rows.first.click()  # the duplicate: its deliveries are what a reader looks for first
        attempts = page.locator("#attempts")
        attempts.wait_for()
        assert page.locator("#list-pane").evaluate(LAYOUT) == [], (width, "detail open")
        box = attempts.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, (width, "deliveries below the fold")
        assert page.locator("#detail .outcome").inner_text().startswith("= duplicate")
        page.screenshot(path=str(shots / f"inbox-detail-{width}.png"))
        page.close()


def test_a_stopped_stack_is_said_and_its_actions_are_off(browser: Any, tmp_path: Path) -> None:
    shots = screenshots(tmp_path)
    own = launch()
    event = fresh_event("customer.created")
    assert send(own, event) == 200
    pages = []
    for width in (1280, 1440):
        page = browser.new_page(viewport={"width": width, "height": 800})
        page.goto(f"http://127.0.0.1:{own.port}/")
        page.locator("#requests tbody tr", has_text=event["id"]).click()
        page.locator("#action-replay:not([disabled])").wait_for()
        pages.append((width, page))
    stop(own)
    for width, page in pages:
        banner = page.locator("#stopped")
        banner.wait_for(timeout=15_000)
        assert "Stack stopped" in banner.inner_text() and "make run" in banner.inner_text()
        assert page.locator("#live").inner_text() == "stopped"
        for action in ("replay", "resend", "redrive"):
            assert page.locator(f"#action-{action}").is_disabled(), action
        page.screenshot(path=str(shots / f"inbox-stopped-{width}.png"))
        page.close()


def test_a_large_event_s_detail_reads_its_body_back_from_s3(stack: LocalStack, browser: Any) -> None:
    from tests.support import large_invoice

    event = large_invoice(400 * 1024, "invoice.paid")  # over SNS's 256 KiB: its body goes to S3
    invoice = event["data"]["object"]["id"]
    assert send(stack, event) == 200
    (entry,) = get_json(stack, f"/api/requests?q={event['id']}")["requests"]

    detail = get_json(stack, f"/api/requests/{entry['seq']}")

    assert detail["event_log"]["payload_s3"]["key"] == f"events/{event['id']}.json"
    assert "payload_z" not in detail["event_log"] and "payload" not in detail["event_log"]
    # the records come from the body read back from S3; the message is the extended client's pointer
    record = next(item for item in detail["records"] if item["key"] == f"OBJECT#{invoice} / STATE")
    assert record["effect"] == "written by this event" and record["stored"]["status"] == "paid"
    assert "s3Key" in detail["message"]["body"] and f"events/{event['id']}.json" in detail["message"]["body"]

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"http://127.0.0.1:{stack.port}/")
    page.locator("#requests tbody tr", has_text=event["id"]).click()
    page.locator("#detail", has_text=f"OBJECT#{invoice} / STATE").wait_for()
    text = page.locator("#detail").inner_text()
    assert "written by this event" in text and "s3Key" in text and "payload_s3" in text
    page.close()
