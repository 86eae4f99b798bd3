"""The effect ledger: an effect outside our tables (an email, a notification) attempted at most once.

``EffectLedger.once`` records ``ATTEMPTING`` (conditional put) before the call, makes it once (the
client never re-sends: ``aws.ONE_ATTEMPT``), and records ``DONE`` after; a refusal releases the
entry (the message is retried), a *permanent* refusal (the service refuses the request itself, e.g.
SES a malformed customer address: retrying cannot change it) is recorded ``REFUSED`` and never
attempted again (``EffectRefused``), and a lost answer, a 5xx or an entry a dead invocation left
``ATTEMPTING`` becomes ``UNCERTAIN``: never repeated until a person settles it (``ops effects``).
What is recorded of a refusal is the service's error code, never its message (SES's names the
address). The whole rule and how to settle: docs/actions.md.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from contract import aws
from stripe_actions.items import from_item, to_item

EFFECT_PREFIX = "effect#"
ATTEMPTING, DONE, UNCERTAIN, REFUSED = "ATTEMPTING", "DONE", "UNCERTAIN", "REFUSED"

logger = Logger(service="stripe-actions", child=True)


class EffectUncertain(Exception):
    """An effect may or may not have happened; it is not attempted again (a person decides)."""

    def __init__(self, effect: str, reason: str) -> None:
        super().__init__(f"{effect}: {reason}")
        self.effect = effect
        self.reason = reason


class EffectRefused(Exception):
    """The service refused the effect for good (``REFUSED``): it is recorded, not attempted again,
    and the message is not retried for it (``consumer``)."""

    def __init__(self, effect: str, code: str) -> None:
        super().__init__(f"{effect}: refused by the service ({code}); not attempted again")
        self.effect = effect
        self.code = code


def never_permanent(_error: BaseException) -> str | None:
    return None


def refused_by_service(error: BaseException) -> bool:
    """True when the call cannot have had its effect: the service answered 4xx (it refused or
    throttled the request and applied nothing), or no connection to it was ever made."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return isinstance(status, int) and 400 <= status < 500
    return isinstance(error, EndpointConnectionError | ConnectTimeoutError)


def _condition_failed(error: ClientError) -> bool:
    return aws.error_code(error) == "ConditionalCheckFailedException"


class EffectLedger(aws.ServiceAdapter):
    """Entries ``ATTEMPTING`` → ``DONE`` | ``UNCERTAIN`` per named effect, in the idempotency table."""

    service = "dynamodb"

    def __init__(
        self,
        table_name: str,
        *,
        remember_seconds: int,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
        new_attempt: Callable[[], str] = lambda: secrets.token_hex(8),
        action: str = "",
    ) -> None:
        """``action``: whose effects these are. Its entries are ``effect#<action>#<effect>``, the
        keys its role may write (``dynamodb:LeadingKeys``, infra/modules/action.yaml), listed and
        settled by that name (``fulfil_order#receipt:in_…``)."""
        super().__init__(client)
        self.table_name = table_name
        self._scope = f"{action}#" if action else ""
        self._remember = remember_seconds
        self._clock = clock
        self._new_attempt = new_attempt

    def once(
        self,
        effect: str,
        call: Callable[[], str],
        *,
        details: Mapping[str, str] | None = None,
        refused: Callable[[BaseException], bool] = refused_by_service,
        permanent: Callable[[BaseException], str | None] = never_permanent,
    ) -> str:
        """Make ``call`` unless ``effect`` was attempted before; its result, or the stored one.

        ``details`` (the recipient, the subject) are kept with the entry for the person who has
        to settle an uncertain one. ``permanent`` names (an error code) a refusal retrying cannot
        change: recorded ``REFUSED`` and raised as ``EffectRefused``, now and on every later
        delivery. Raises what ``call`` raised when ``refused`` says nothing happened, else
        ``EffectUncertain``."""
        attempt = self._new_attempt()
        found = self._legacy(effect) or self._begin(self._scope + effect, attempt, details or {})
        if found is not None:
            if found.get("status") == DONE:
                return str(found.get("result", ""))
            if found.get("status") == REFUSED:
                raise EffectRefused(effect, str(found.get("reason", "")))
            raise EffectUncertain(effect, _why(found))
        try:
            result = call()
        except Exception as error:  # classified, never swallowed: re-raised or raised as uncertain
            code = permanent(error)
            if code is not None:
                self._settle(self._scope + effect, attempt, REFUSED, reason=code)
                raise EffectRefused(effect, code) from None  # its message may name the recipient
            if refused(error):
                self._release(self._scope + effect, attempt)
                raise
            reason = f"{type(error).__name__} during the call: it may have been applied"
            self._settle(self._scope + effect, attempt, UNCERTAIN, reason=reason)
            raise EffectUncertain(effect, reason) from error
        self._settle(self._scope + effect, attempt, DONE, result=result)
        return result

    def _legacy(self, effect: str) -> dict[str, Any] | None:
        """The entry an action wrote before entries were scoped by action (``effect#<effect>``,
        kept ``remember_seconds`` at most): what it says still holds, so an effect done, refused or
        uncertain then is never attempted again now. None when there is none."""
        return self._get(effect) if self._scope else None

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry (for ``ops effects`` and the local inspector; actions never scan)."""
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table_name,
            FilterExpression="begins_with(id, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": EFFECT_PREFIX}},
        ):
            for item in page.get("Items", []):
                entry = from_item(item)
                yield {**entry, "effect": str(entry["id"])[len(EFFECT_PREFIX) :]}

    def settle(self, effect: str, *, happened: bool, stale_after_seconds: int = 60) -> bool:
        """A person's verdict on an uncertain entry (or one ``ATTEMPTING`` for longer than an
        invocation can run): ``happened`` marks it done, else the entry is removed so that a
        redelivery or redrive attempts it once. False if there is no such entry to settle."""
        key = to_item({"id": EFFECT_PREFIX + effect})
        condition = "#s = :uncertain OR (#s = :attempting AND started_at < :stale)"
        values = {
            ":uncertain": UNCERTAIN,
            ":attempting": ATTEMPTING,
            ":stale": int(self._clock()) - stale_after_seconds,
        }
        try:
            if happened:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression="SET #s = :done, settled_at = :now",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=to_item({**values, ":done": DONE, ":now": int(self._clock())}),
                )
            else:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=key,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=to_item(values),
                )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def _begin(self, effect: str, attempt: str, details: Mapping[str, str]) -> dict[str, Any] | None:
        """Record the attempt; None if recorded (ours), else the entry another attempt left."""
        now = int(self._clock())
        entry: dict[str, Any] = {
            "id": EFFECT_PREFIX + effect,
            "status": ATTEMPTING,
            "attempt": attempt,
            "started_at": now,
            "expiration": now + self._remember,
        }
        if details:
            entry["details"] = dict(details)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(entry),
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            old = error.response.get("Item")
            found = from_item(old) if isinstance(old, dict) and old else self._get(effect)
            if found is None:  # removed since (a refusal released it): the message is retried
                raise
            return None if found.get("attempt") == attempt else found
        return None

    def _get(self, effect: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.table_name, Key=to_item({"id": EFFECT_PREFIX + effect}), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def _settle(self, effect: str, attempt: str, status: str, **values: str) -> None:
        """Our attempt's outcome. If DynamoDB fails here the entry stays ``ATTEMPTING``, which a
        later delivery reads as uncertain: never as "not attempted"."""
        names = {"#s": "status", **{f"#{name}": name for name in values}}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item({"id": EFFECT_PREFIX + effect}),
                UpdateExpression="SET " + ", ".join(f"{name} = :{name[1:]}" for name in names),
                ConditionExpression="attempt = :attempt",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(
                    {
                        ":s": status,
                        ":attempt": attempt,
                        **{f":{name}": value for name, value in values.items()},
                    }
                ),
            )
        except (ClientError, BotoCoreError):
            logger.warning("effect outcome not recorded", extra={"effect": effect, "effect_status": status})

    def _release(self, effect: str, attempt: str) -> None:
        """The service refused: nothing happened, so the entry goes and a retry may attempt it."""
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=to_item({"id": EFFECT_PREFIX + effect}),
                ConditionExpression="attempt = :attempt",
                ExpressionAttributeValues={":attempt": {"S": attempt}},
            )
        except (ClientError, BotoCoreError):
            logger.warning("refused effect not released", extra={"effect": effect})


def _why(found: Mapping[str, Any]) -> str:
    if found.get("status") == UNCERTAIN:
        return str(found.get("reason") or "uncertain since an earlier attempt")
    return "an earlier attempt started and never recorded its outcome (its invocation may have died)"
