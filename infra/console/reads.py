"""Everything the console shows, read from the stack's own resources with the operator's credentials.

    reads.events(filters, cursor)   a page of the event log (``event_log``), or the reconciler's
                                    recovered / skipped events, or (asked: a Scan) claims held now
    reads.event(event_id)           its log entry, body, records, message as published, actions' outcomes
    reads.timeline(object_id)       every event about one object (``by-object``) and its record
    reads.consumers()               queue and dead-letter depths, dead-lettered messages, uncertain effects
    reads.health()                  the reconciler's last run and lag, endpoints, alarms in ALARM

What the actions did, and which messages went to a dead-letter queue, is read from the actions' own
log lines (``action_log_lines``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from infra.console.action_log_lines import SETTLED, ActionLogLines
from infra.console.deployment import Deployment, QueuePair, queue_depth
from infra.console.event_log import EventLog, Filters, entry_of
from infra.local.views import event_records, plain
from infra.ops.deployed import Context, handled_event_types
from infra.ops.effects import ledger_of
from infra.stripe_types import unknown_prefix
from stripe_webhook.adapters import schema

MAX_SCAN_PAGES = 20
MAX_CLAIMED = 200
MAX_EFFECTS = 200
MAX_BATCH_TRIES = 5
MAX_EFFECT_ENTRIES = 20_000


class ConsoleReads:
    def __init__(self, ctx: Context, deployment: Deployment) -> None:
        self.ctx, self.deployment = ctx, deployment
        self.log = EventLog(ctx.aws("dynamodb"), ctx.stack.table_name)
        self.event_types = handled_event_types()
        self.logs = ActionLogLines(ctx.aws("logs"), deployment.action_logs)

    def events(
        self, filters: Filters, cursor: str | None, size: int, *, scan: bool = False
    ) -> dict[str, Any]:
        if filters.status in ("recovered", "skipped"):
            return self._reconciler_events(filters.status)
        if filters.status == "claimed":
            if not scan:
                raise ValueError("claims held now are in no index: ask for them with scan=1 (a Scan)")
            return self._claimed()
        page = self.log.page(filters, cursor, size)
        shown = {
            "events": page.entries,
            "cursor": page.cursor,
            "queries": page.queries,
            "reached": page.reached,
        }
        hint = unknown_prefix(filters.event_type, self.event_types)
        return {**shown, "hint": hint} if hint else shown

    def event(self, event_id: str) -> dict[str, Any]:
        from stripe_webhook.adapters.bodies import UnreadableBody
        from stripe_webhook.adapters.publisher import stored_message
        from stripe_webhook.errors import StorageError

        queries = self.ctx.components.queries
        try:
            stored = queries.get_event(event_id)
        except (UnreadableBody, StorageError) as error:  # shown beside the entry, not a failed page
            entry = queries.get_item(schema.event_pk(event_id), schema.EVENT_SK)
            return {"event_id": event_id, "entry": plain(entry or {}), "body_problem": str(error)}
        if stored is None:
            raise LookupError(f"no event {event_id} in the event log (kept EventRetentionDays)")
        body = stored.pop("payload", None)
        detail: dict[str, Any] = {"event_id": event_id, "entry": plain(stored), "body": body}
        if body is not None:
            message, attributes = stored_message({**stored, "payload": body})
            detail["message"] = {"attributes": attributes, "bytes": len(message.encode())}
            detail["records"] = [
                {"pk": pk, "sk": sk, "record": plain(item) if item else None, "written_by_this_event": own}
                for pk, sk, item, own in event_records(queries, body, event_id)
            ]
        detail["actions"] = self._outcomes(event_id, int(stored.get("received_at") or 0))
        detail["trace"] = trace_links(self.deployment.region, event_id, stored.get("trace_id"))
        return detail

    def _outcomes(self, event_id: str, since: int) -> list[dict[str, Any]]:
        """What the actions logged about the event, each attempt that failed at its queue's
        ``maxReceiveCount`` marked ``dead_lettered`` (SQS moved the message to the dead-letter queue)."""
        receives = {pair.name: pair.max_receives for pair in self.deployment.queues}
        outcomes = self.logs.outcomes(event_id, since)
        for outcome in outcomes:
            most = receives.get(str(outcome.get("function")))
            count = int(outcome.get("receive_count") or 0)
            failed = outcome.get("outcome") not in SETTLED
            outcome["dead_lettered"] = bool(failed and most is not None and count >= most)
        return outcomes

    def timeline(self, object_id: str, cursor: str | None = None) -> dict[str, Any]:
        page = self.log.page(Filters(object_id=object_id), cursor, 100)
        record = self.ctx.components.queries.get_record(object_id)
        arrival = sorted(
            page.entries, key=lambda entry: (int(entry.get("received_at") or 0), entry["event_id"])
        )
        created = sorted(page.entries, key=lambda entry: (int(entry.get("created") or 0), entry["event_id"]))
        return {
            "object_id": object_id,
            "created": created,
            "arrival": arrival,
            "record": plain(record) if record else None,
            "cursor": page.cursor,
        }

    def consumers(self) -> dict[str, Any]:
        queues = [self._queue(pair) for pair in self.deployment.queues]
        effects, refused, complete = self._effects()
        return {"queues": queues, "effects": effects, "refused": refused, "effects_complete": complete}

    def health(self) -> dict[str, Any]:
        state = self.ctx.components.ledger.state()
        reconciler: dict[str, Any] | None = None
        if state is not None and state.last_run is not None:
            reconciler = {
                "last_run": state.last_run,
                "lag_seconds": state.last_run - state.watermark if state.watermark is not None else None,
                "endpoints": state.endpoints,
                "recovered": len(state.recovered),
                "retrying": state.retries,
                "skipped": len(state.named),
            }
        recorded = [asdict(endpoint) for endpoint in self.ctx.components.ledger.endpoints()]
        return {
            "stack": self.ctx.stack.name,
            "local": self.ctx.stack.local,
            "region": self.deployment.region,
            "reconciler": reconciler,
            "endpoints": recorded,
            "alarms": self._alarms(),
            "alarms_known": not self.ctx.stack.local,
            "dashboard": self.ctx.stack.dashboard_url,
        }

    def _reconciler_events(self, status: str) -> dict[str, Any]:
        state = self.ctx.components.ledger.state()
        if status == "skipped":
            named = state.named if state else {}
            skipped = [
                {"event_id": event_id, "status": "skipped", "reason": why} for event_id, why in named.items()
            ]
            return {"events": skipped[::-1], "cursor": None, "queries": 1}
        recovered = state.recovered if state else {}
        ids = list(reversed(recovered))
        found: dict[str, dict[str, Any]] = {}
        client = self.ctx.aws("dynamodb")
        for start in range(0, len(ids), 100):  # BatchGetItem's most keys a request
            request = {
                self.ctx.stack.table_name: {
                    "Keys": [schema.event_key(event_id) for event_id in ids[start : start + 100]],
                    "ProjectionExpression": ", ".join(f"#{name}" for name in ("pk", *_SUMMARY)),
                    "ExpressionAttributeNames": {f"#{name}": name for name in ("pk", *_SUMMARY)},
                }
            }
            for _ in range(MAX_BATCH_TRIES):  # what DynamoDB left unprocessed, asked again (bounded)
                if not request:
                    break
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.ctx.stack.table_name, []):
                    values = entry_of(item)
                    found[values["event_id"]] = values
                request = answer.get("UnprocessedKeys") or {}
        rows = [
            {**found.get(event_id, {}), "event_id": event_id, "recovered_at": recovered[event_id]}
            for event_id in ids
        ]
        return {"events": rows, "cursor": None, "queries": 1 + (len(ids) + 99) // 100}

    def _claimed(self) -> dict[str, Any]:
        """Claims held now (``IN_PROGRESS`` with no index entry): a bounded Scan, when asked."""
        client = self.ctx.aws("dynamodb")
        request: dict[str, Any] = {
            "TableName": self.ctx.stack.table_name,
            "FilterExpression": "sk = :event AND #status = :progress AND attribute_not_exists(created_event)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":event": {"S": schema.EVENT_SK},
                ":progress": {"S": schema.IN_PROGRESS},
            },
            "ProjectionExpression": "pk, event_type, created, object_id, received_at, lease_expires_at",
        }
        rows: list[dict[str, Any]] = []
        pages, more = 0, True
        while more and pages < MAX_SCAN_PAGES and len(rows) < MAX_CLAIMED:
            pages += 1
            answer = client.scan(**request)
            rows += [{**plain(entry_of(item)), "status": "claimed"} for item in answer.get("Items", [])]
            more = "LastEvaluatedKey" in answer
            request["ExclusiveStartKey"] = answer.get("LastEvaluatedKey")
        return {
            "events": rows[:MAX_CLAIMED],
            "cursor": None,
            "queries": pages,
            "scanned_all": not more,
        }

    def _queue(self, pair: QueuePair) -> dict[str, Any]:
        sqs = self.ctx.aws("sqs")
        shown: dict[str, Any] = {
            "name": pair.name,
            "max_receives": pair.max_receives,
            **queue_depth(sqs, pair.url),
        }
        if pair.dead_letter_url is None:
            return shown
        shown["dead_letter"] = queue_depth(sqs, pair.dead_letter_url)
        group = self.deployment.action_logs.get(pair.name)
        shown["dead_lettered"] = self.logs.dead_lettered(group, pair.max_receives) if group else []
        shown["described_by_logs"] = group is not None
        return shown

    def _effects(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """The effects waiting to be settled, those the service refused for good (recorded, never
        retried), and whether every entry was looked at (at most ``MAX_EFFECT_ENTRIES`` are: the
        ledger shares its table with the actions' records)."""
        from stripe_actions.effects import ATTEMPTING, REFUSED, UNCERTAIN

        ledger = ledger_of(self.ctx)
        if ledger is None:
            return [], [], True
        waiting: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for looked, entry in enumerate(ledger.entries(), start=1):
            shown = plain({name: value for name, value in entry.items() if name != "id"})
            if entry.get("status") in (UNCERTAIN, ATTEMPTING):
                waiting.append(shown)
            elif entry.get("status") == REFUSED:
                refused.append(shown)
            if len(waiting) + len(refused) >= MAX_EFFECTS or looked >= MAX_EFFECT_ENTRIES:
                return waiting, refused, False
        return waiting, refused, True

    def _alarms(self) -> list[dict[str, Any]]:
        names, firing = self.deployment.alarms, []
        for start in range(0, len(names), 100):  # DescribeAlarms takes 100 names a call
            answer = self.ctx.aws("cloudwatch").describe_alarms(
                AlarmNames=names[start : start + 100], StateValue="ALARM"
            )
            firing += [
                {"name": alarm["AlarmName"], "reason": alarm.get("StateReason", "")}
                for alarm in answer.get("MetricAlarms", [])
            ]
        return firing


_SUMMARY = ("event_type", "created", "object_id", "object_type", "status", "received_at", "livemode")


XRAY_CONSOLE = "https://console.aws.amazon.com/xray/home"


def trace_links(region: str, event_id: str, trace_id: object) -> dict[str, str]:
    """Where X-Ray shows an event (its deep links, AWS X-Ray Developer Guide, "Console deep
    linking"): the trace of the delivery that published it (``trace_id``, kept by the mark), and
    every trace annotated with its id (each delivery and retry, the reconciler's, the actions')."""
    search = f'annotation.event_id = "{event_id}"'
    where = f"?region={quote(region)}" if region else ""
    links = {"search": search, "search_url": f"{XRAY_CONSOLE}{where}#/traces?filter={quote(search)}"}
    if isinstance(trace_id, str) and trace_id:
        links["trace_id"] = trace_id
        links["trace_url"] = f"{XRAY_CONSOLE}{where}#/traces/{quote(trace_id)}"
    return links
