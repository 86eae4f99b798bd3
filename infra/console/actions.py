"""What the console may change, with ``--allow-actions`` only: each one said before, and recorded.

    redrive   move an action's dead-lettered messages back to its queue (receive, send, delete)
    resend    publish a stored event again to the topic, marked ``redrive`` (as ``ops redrive``)
    settle    record whether an uncertain effect happened (as ``ops effects --settle``)

Each is recorded in the stack's table before it is made (``CONSOLE#<YYYY-MM>`` / ``<time>#<id>``,
``ATTEMPTING``, with the caller's identity from STS), then ``DONE`` with what it did, ``FAILED``
when the service refused, or ``UNCERTAIN`` when an answer was lost after the request left: the
log says so, and nothing is sent twice by the SDK (SNS and the console's SQS client make one attempt).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.console.deployment import Deployment, QueuePair, queue_depth
from infra.local.views import plain
from infra.ops.deployed import Context
from infra.ops.effects import AFTER_SETTLING, NOT_WAITING, ledger_of
from stripe_webhook.adapters import schema
from stripe_webhook.adapters.dynamo_items import from_item, to_item

AUDIT_PREFIX = "CONSOLE#"
ATTEMPTING, DONE, FAILED, UNCERTAIN = "ATTEMPTING", "DONE", "FAILED", "UNCERTAIN"
MAX_MOVED = 1_000
"""The most messages one redrive moves; run it again for more."""
AUDIT_DAYS = 400


class Refused(ValueError):
    """The action cannot be made as asked (nothing was recorded or changed)."""


@dataclass(frozen=True)
class Plan:
    kind: str
    target: str
    says: str


class ConsoleActions:
    def __init__(self, ctx: Context, deployment: Deployment, caller: str) -> None:
        self.ctx, self.deployment, self.caller = ctx, deployment, caller

    def plan(self, kind: str, target: str, verdict: str = "") -> Plan:
        """What the action will do, in words (the page asks the person with this)."""
        if kind == "redrive":
            pair = self._queue(target)
            assert pair.dead_letter_url is not None
            depth = queue_depth(self.ctx.aws("sqs"), pair.dead_letter_url)
            if not depth["waiting"] + depth["in_flight"]:
                raise Refused(f"{pair.name}'s dead-letter queue is empty: nothing to redrive")
            return Plan(
                kind,
                target,
                f"move up to {MAX_MOVED:,} messages from {pair.name}'s dead-letter"
                f" queue back to {pair.name}, where the action receives them again",
            )
        if kind == "resend":  # the item's key only: the body is read once, by the resend itself
            if self.ctx.components.queries.get_item(schema.event_pk(target), schema.EVENT_SK) is None:
                raise Refused(f"no stored event {target}")
            return Plan(
                kind,
                target,
                f"publish {target} again to {self.ctx.stack.topic_arn.rsplit(':', 1)[-1]}"
                " (every subscriber, marked redrive=true); done actions skip it",
            )
        if kind == "settle":
            if verdict not in ("happened", "not-happened"):
                raise Refused("settle needs verdict=happened or verdict=not-happened")
            then = AFTER_SETTLING[verdict == "happened"]
            return Plan(kind, target, f"record that {target} {verdict.replace('-', ' ')}: {then}")
        raise Refused(f"no action {kind!r}: redrive, resend or settle")

    def run(self, kind: str, target: str, verdict: str = "") -> dict[str, Any]:
        plan = self.plan(kind, target, verdict)
        entry = self._record(plan)
        progress: dict[str, Any] = {}  # what a redrive did before it failed, kept in the record
        doing: dict[str, Callable[[], dict[str, Any]]] = {
            "redrive": lambda: self._redrive(self._queue(target), progress),
            "resend": lambda: {"message_id": self._resend(target)},
            "settle": lambda: self._settle(target, happened=verdict == "happened"),
        }
        try:
            result = doing[kind]()
        except Exception as error:
            status = FAILED if _refused(error) else UNCERTAIN
            self._finish(entry, status, {"error": f"{type(error).__name__}: {error}", **progress})
            raise
        self._finish(entry, DONE, result)
        return {"status": DONE, "says": plan.says, **result}

    def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        """What the console did, newest first (this month and the one before)."""
        client, found = self.ctx.aws("dynamodb"), []
        now = time.time()
        for month in dict.fromkeys((_month(now), _month(now - 31 * 86_400))):
            answer = client.query(
                TableName=self.ctx.stack.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{AUDIT_PREFIX}{month}"}},
                ScanIndexForward=False,
                Limit=limit,
            )
            found += [plain(from_item(item)) for item in answer.get("Items", [])]
        return found[:limit]

    def _record(self, plan: Plan) -> dict[str, Any]:
        now = time.time()
        key = {"pk": f"{AUDIT_PREFIX}{_month(now)}", "sk": f"{int(now * 1000):015d}#{secrets.token_hex(4)}"}
        values = {
            **key,
            "action": plan.kind,
            "target": plan.target,
            "says": plan.says,
            "who": self.caller,
            "status": ATTEMPTING,
            "at": int(now),
            "expires_at": int(now) + AUDIT_DAYS * 86_400,
        }
        self.ctx.aws("dynamodb").put_item(TableName=self.ctx.stack.table_name, Item=to_item(values))
        return key

    def _finish(self, key: dict[str, Any], status: str, result: dict[str, Any]) -> None:
        self.ctx.aws("dynamodb").update_item(
            TableName=self.ctx.stack.table_name,
            Key=to_item(key),
            UpdateExpression="SET #status = :status, #result = :result, finished_at = :at",
            ExpressionAttributeNames={"#status": "status", "#result": "result"},
            ExpressionAttributeValues=to_item(
                {":status": status, ":result": result, ":at": int(time.time())}
            ),
        )

    def _queue(self, name: str) -> QueuePair:
        pair = next((pair for pair in self.deployment.queues if pair.name == name), None)
        if pair is None or pair.dead_letter_url is None:
            raise Refused(f"no queue {name!r} with a dead-letter queue in this stack")
        return pair

    def _stored(self, event_id: str) -> dict[str, Any]:
        stored = self.ctx.components.queries.get_event(event_id)
        if stored is None or "payload" not in stored:
            raise Refused(f"no stored event {event_id}")
        return stored

    def _redrive(self, pair: QueuePair, progress: dict[str, Any]) -> dict[str, Any]:
        assert pair.dead_letter_url is not None
        move_dead_letters(self.ctx.aws("sqs"), pair.dead_letter_url, pair.url, progress)
        return dict(progress)

    def _resend(self, event_id: str) -> str:
        from infra.ops.redrive import republish

        return republish(self.ctx, self._stored(event_id))

    def _settle(self, effect: str, *, happened: bool) -> dict[str, Any]:
        ledger = ledger_of(self.ctx)
        if ledger is None:
            raise Refused("this stack deploys no example actions: there is no effect to settle")
        if not ledger.settle(effect, happened=happened):
            raise Refused(f"{effect} {NOT_WAITING}")
        return {"settled": effect, "happened": happened}


def move_dead_letters(sqs: Any, dead_letter_url: str, queue_url: str, progress: dict[str, Any]) -> None:
    """Receive, send to the queue, then delete: a message is deleted only once it was sent again
    (a lost delete leaves a copy in both: the action's idempotency skips the second). A FIFO
    queue's message keeps its group (so its order with the others of its object) and gets a
    deduplication id of its own, stable for the dead-lettered message: a retried move within
    SQS's 5-minute window is dropped, while the original's id (sent minutes ago) is not reused."""
    fifo = queue_url.endswith(".fifo")
    progress["moved"] = 0
    while progress["moved"] < MAX_MOVED:
        messages = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            sent: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                sent["MessageAttributes"] = message["MessageAttributes"]
            if fifo:
                sent["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
                sent["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"
            sqs.send_message(**sent)
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            progress["moved"] += 1


def _month(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def _refused(error: Exception) -> bool:
    """A refusal (``Refused``, a 4xx): nothing happened. Anything else may have."""
    from stripe_actions.effects import refused_by_service

    return isinstance(error, Refused) or refused_by_service(error)


def caller_identity(sts: Any) -> str:
    """Who runs the console (``sts:GetCallerIdentity`` needs no permission)."""
    return str(sts.get_caller_identity()["Arn"])
