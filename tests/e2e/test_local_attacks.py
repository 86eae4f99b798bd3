"""A web page the developer visits while `make run` is up attacks the local stack, in a real browser.

Playwright drives Debian's Chromium. The attacker's page is served from another origin on
loopback (``http://attacker.test:<port>``, which Chromium resolves to 127.0.0.1, and
``http://127.0.0.1:<another port>``, same-site but not same-origin), and tries what the review
reproduced: read the signing secret and scan the table through the local AWS endpoint, send a
message through it without reading the answer, replay / resend / redrive an inbox request, frame
the inbox, and read the inbox and the AWS endpoint by DNS rebinding (a page whose own name,
``rebound.test``, resolves to loopback, so its requests are same-origin to it). Each attempt must
fail and leave no trace, while the inbox's own page, boto3 and the tools keep working.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.request import Request, urlopen

import pytest

from infra.fixtures.payloads import fresh_event
from tests.e2e.conftest import SECRET, LocalStack, run_tool, send

ATTACKER_PAGE = b"""<!doctype html><title>cute cats</title><h1>cats</h1>"""


@pytest.fixture(scope="module")
def attacker() -> Iterator[int]:
    """The attacker's web server on loopback: one harmless-looking page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(ATTACKER_PAGE)))
            self.end_headers()
            self.wfile.write(ATTACKER_PAGE)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


ATTACKS = """
async ({inbox, aws, queue, stripe}) => {
  const results = {};
  async function attempt(name, url, options) {
    try {
      const response = await fetch(url, options);
      let text = "";
      try { text = await response.text(); } catch (e) { text = ""; }
      results[name] = {status: response.status, type: response.type, text};
    } catch (error) {
      results[name] = {blocked: String(error)};
    }
  }
  const amz = (target, body) => ({
    method: "POST",
    headers: {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target,
              "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261202/us-east-1/x/aws4_request"},
    body: JSON.stringify(body),
  });
  const secretId = {SecretId: "stripe-webhooks-local/signing-secret"};
  await attempt("read secret", aws + "/", amz("secretsmanager.GetSecretValue", secretId));
  await attempt("scan table", aws + "/", {...amz("DynamoDB_20120810.Scan", {TableName: "x"}),
    headers: {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"}});
  await attempt("send message (no-cors)", aws + "/", {method: "POST", mode: "no-cors",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "Action=SendMessage&Version=2012-11-05&QueueUrl=" + encodeURIComponent(queue)
      + "&MessageBody=attacker"});
  await attempt("send message (GET)", aws + "/?Action=SendMessage&Version=2012-11-05&QueueUrl="
    + encodeURIComponent(queue) + "&MessageBody=attacker", {mode: "no-cors"});
  for (const action of ["replay", "resend", "redrive"]) {
    const url = `${inbox}/api/requests/1/${action}`;
    await attempt(action + " (simple)", url, {method: "POST", mode: "no-cors"});
    await attempt(action + " (header)", url, {method: "POST", headers: {"X-Inbox-Request": "1"}});
  }
  await attempt("read inbox", `${inbox}/api/requests`, {});
  await attempt("read the live stream", `${inbox}/api/stream`, {});
  await attempt("read a Stripe object", `${stripe}/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu`, {});
  return results;
}
"""


def newest_seq(stack: LocalStack) -> int:
    with urlopen(f"http://127.0.0.1:{stack.port}/api/requests", timeout=5) as answer:
        requests = json.loads(answer.read())["requests"]
    return int(requests[0]["seq"]) if requests else 0


def newest_after(stack: LocalStack, seq: int, timeout: float = 10) -> dict[str, Any]:
    """The first request the inbox recorded after ``seq`` (waiting for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urlopen(f"http://127.0.0.1:{stack.port}/api/requests", timeout=5) as answer:
            newer = [entry for entry in json.loads(answer.read())["requests"] if entry["seq"] > seq]
        if newer:
            return dict(min(newer, key=lambda entry: entry["seq"]))
        time.sleep(0.1)
    raise AssertionError(f"no request recorded after #{seq}")


def inbox_size(stack: LocalStack) -> int:
    request = Request(f"http://127.0.0.1:{stack.port}/api/requests")
    with urlopen(request, timeout=5) as answer:
        return len(json.loads(answer.read())["requests"])


@pytest.mark.parametrize("origin", ["http://attacker.test:{port}", "http://127.0.0.1:{port}"])
def test_a_page_on_another_origin_can_neither_read_nor_change_anything(
    stack: LocalStack, browser: Any, attacker: int, origin: str
) -> None:
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName="attack-target")["QueueUrl"]
    assert send(stack, fresh_event("payment_intent.succeeded")) == 200
    before = inbox_size(stack)
    page = browser.new_page()
    page.goto(origin.format(port=attacker) + "/")

    results = page.evaluate(
        ATTACKS,
        {
            "inbox": f"http://127.0.0.1:{stack.port}",
            "aws": stack.endpoint,
            "queue": queue,
            "stripe": f"http://127.0.0.1:{stack.stripe_port}",
        },
    )

    for name, result in results.items():
        text = result.get("text", "")
        # Either the browser blocked it, or the answer is opaque or a refusal; never data.
        assert "blocked" in result or result["type"] == "opaque" or result["status"] == 403, (name, result)
        assert SECRET not in text and "evt_" not in text, (name, result)
    assert inbox_size(stack) == before  # no replay, resend or redrive happened
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    page.close()


def test_the_inbox_cannot_be_framed(stack: LocalStack, browser: Any, attacker: int) -> None:
    page = browser.new_page()
    page.goto(f"http://attacker.test:{attacker}/")
    page.set_content(f'<iframe id="inbox" src="http://127.0.0.1:{stack.port}/"></iframe>')
    page.wait_for_timeout(1500)
    framed = [frame for frame in page.frames if frame != page.main_frame]
    assert framed and all(frame.query_selector("#requests") is None for frame in framed)
    page.close()


@pytest.mark.parametrize("target", ["inbox", "aws", "stripe"])
def test_dns_rebinding_reads_nothing(stack: LocalStack, browser: Any, target: str) -> None:
    """The page's own name resolves to loopback: to the browser its requests are same-origin."""
    ports = {"inbox": stack.port, "aws": int(stack.endpoint.rsplit(":", 1)[1]), "stripe": stack.stripe_port}
    port = ports[target]
    page = browser.new_page()
    answer = page.goto(f"http://rebound.test:{port}/")
    assert answer is not None and answer.status == 403

    results = page.evaluate(
        """async () => {
          const read = async (path, options) => {
            const response = await fetch(path, options);
            return {status: response.status, text: await response.text()};
          };
          return {
            list: await read("/api/requests", {headers: {"X-Inbox-Request": "1"}}),
            detail: await read("/api/requests/1", {headers: {"X-Inbox-Request": "1"}}),
            stream: await read("/api/stream", {}),
            secret: await read("/", {method: "POST", headers: {
              "Content-Type": "application/x-amz-json-1.1",
              "X-Amz-Target": "secretsmanager.GetSecretValue"},
              body: JSON.stringify({SecretId: "stripe-webhooks-local/signing-secret"})}),
            object: await read("/v1/invoices/in_1QJ8c1F2eZvKYlo2Pq0Rs9Tu", {}),
          };
        }"""
    )

    for name, result in results.items():
        # 403 (foreign Host); the inbox's port answers POST / as the webhook side would: a 404
        assert result["status"] in (403, 404) and (
            name not in ("list", "stream") or result["status"] == 403
        ), (name, result)
        assert SECRET not in result["text"] and "evt_" not in result["text"], (name, result)
    page.close()


def test_the_inbox_page_boto3_and_the_tools_keep_working(stack: LocalStack, browser: Any) -> None:
    event = fresh_event("charge.succeeded")
    assert send(stack, event) == 200
    page = browser.new_page()
    page.goto(f"http://localhost:{stack.port}/")
    row = page.locator("#requests tbody tr", has_text=event["id"])
    row.wait_for()
    row.click()
    page.locator("#action-replay").click()
    page.locator(".result", has_text="duplicate").wait_for()
    page.close()

    secret = stack.client("secretsmanager").get_secret_value(SecretId="stripe-webhooks-local/signing-secret")
    assert secret["SecretString"] == SECRET
    endpoint = ["--aws-endpoint", stack.endpoint]
    shown = run_tool("local.inspector", *endpoint, "event", event["id"])
    assert shown.returncode == 0 and event["id"] in shown.stdout, shown.stderr


@pytest.mark.parametrize("origin", ["http://attacker.test:{port}", "http://rebound.test:{stack_port}"])
def test_a_web_page_cannot_post_events_to_the_webhook(
    stack: LocalStack, browser: Any, attacker: int, origin: str
) -> None:
    """Even with a validly signed body (a captured delivery, replayed within its tolerance): a
    cross-site page gets 403 before verification, and so does a rebound one, whose requests the
    browser treats as same-origin (so it may send the Stripe-Signature header)."""
    from infra.fixtures.payloads import encode
    from infra.fixtures.signing import signature_header

    event = fresh_event("charge.succeeded")
    body = encode(event).decode()
    before = newest_seq(stack)
    page = browser.new_page()
    page.goto(origin.format(port=attacker, stack_port=stack.port) + "/")
    same_origin = "rebound" in origin

    status = page.evaluate(
        """async ({url, body, signature, sameOrigin}) => {
          const options = sameOrigin
            ? {method: "POST", body,
               headers: {"Stripe-Signature": signature, "Content-Type": "application/json"}}
            : {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body};
          const response = await fetch(url, options);
          return response.status;
        }""",
        {
            "url": "/webhook" if same_origin else f"http://127.0.0.1:{stack.port}/webhook",
            "body": body,
            "signature": signature_header(body.encode(), SECRET),
            "sameOrigin": same_origin,
        },
    )
    page.close()

    assert status == (403 if same_origin else 0)  # a no-cors answer is opaque to the page
    # refused before verification, and recorded without its body (nothing of a refusal is kept)
    refused = newest_after(stack, before)
    assert refused["status"] == 403 and refused["verdict"] == "rejected: forbidden", refused
    assert refused["event_id"] is None
    stored = stack.client("dynamodb").get_item(
        TableName="stripe-webhooks-events", Key={"pk": {"S": f"EVENT#{event['id']}"}, "sk": {"S": "EVENT"}}
    )
    assert "Item" not in stored
