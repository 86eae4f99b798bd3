"""What the webhook and the consumer kit agree on, and the only thing the kit imports of the webhook.

This module is the message contract in Python, beside its JSON Schema: what the webhook publishes
to SNS and what the kit reads; and the event-type patterns both route by (``matches``), the largest
body either will read (``MAX_BODY_BYTES``) and the metrics namespace both count in. Beside it,
``contract.records`` is the shape of the records the kit reads from the webhook's table, and
``contract.aws`` is how both make their AWS clients. The publisher (``stripe_webhook.adapters.publisher``)
builds messages with these names; the kit (``stripe_actions.messages``) validates what it receives
with ``validate``.

The contract is JSON Schema 2020-12. fastjsonschema (what Powertools' validation utility uses)
implements drafts 4, 6 and 7, so the one 2020-12 form the contract uses, a tuple as
``prefixItems`` closed by ``items: false``, is given to it in its draft-7 spelling (``items`` as a
list, ``additionalItems: false``). ``tests/unit/test_actions_messages.py`` checks that this and
the reference 2020-12 validator (jsonschema) accept and refuse the same messages.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA_VERSION = "2"
"""Version of the message contract (attributes + body), sent as the ``schema_version`` attribute."""
SCHEMA_PATH = Path(__file__).resolve().parent / f"sns-message.v{SCHEMA_VERSION}.schema.json"

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
EXTENDED_PAYLOAD_SIZE = "ExtendedPayloadSize"
"""The pointer's class and reserved attribute, as the AWS extended client libraries (SNS and SQS,
Python, Java and JavaScript) write and read them: a consumer using one reads the full event."""
POSSIBLE_DUPLICATE = {"possible_duplicate": "true"}
"""The attribute of a message that an earlier, uncertain publish of the same event may have sent."""
RECONCILIATION = {"reconciliation": "true"}
"""The attribute of a message made from Stripe's notice of an event it never generated."""
PAYLOAD_STYLE_THIN = {"payload_style": "thin"}
"""The attribute of a message whose object was fetched for a thin notification."""
RECORD = "record"
"""The attribute carrying the event's object's record as this delivery wrote it (JSON), so that an
action can act on it without reading it (``contract.records.WRITE_MARKS``)."""
MAX_RECORD_BYTES = 4096
"""The largest ``record`` attribute the webhook sends; a larger record is left out (read instead)."""
MAX_MESSAGE_ATTRIBUTES = 10
"""The most attributes SNS delivers to an SQS subscription with raw delivery: a message with more
is discarded (Amazon SNS Developer Guide, "Amazon SNS message attributes")."""


MAX_BODY_BYTES = 10 * 1024 * 1024
"""The largest event body anything reads back (a stored body, an S3 payload): API Gateway's payload
limit, past anything the webhook admits (``Settings.max_body_bytes``)."""
METRICS_NAMESPACE = "StripeWebhooks"
"""The CloudWatch namespace both functions' metrics (and the stack's alarms) use."""


def matches(pattern: str, event_type: str) -> bool:
    """``pattern`` is the type itself, or a family (``charge.dispute.*``) the type belongs to: how
    the webhook routes a type to its handler and an action names the types it performs on."""
    return event_type.startswith(pattern[:-1]) if pattern.endswith(".*") else event_type == pattern


class ContractViolation(ValueError):
    """The message is not what the contract promises (a poison message)."""


def as_draft7(node: Any) -> Any:
    """The schema with 2020-12's ``prefixItems`` (and its closing ``items``) in draft-7 spelling."""
    if isinstance(node, list):
        return [as_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_draft7(value) for key, value in node.items() if key != "$schema"}
    if "prefixItems" in converted:
        converted["items"] = converted.pop("prefixItems")
        if node.get("items") is False:
            converted["additionalItems"] = False
    return converted


@functools.cache
def validator() -> Callable[[Any], Any]:
    import fastjsonschema

    schema = as_draft7(json.loads(SCHEMA_PATH.read_text()))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema)


def validate(message: dict[str, Any]) -> None:
    """Raise ``ContractViolation`` unless ``message`` (``attributes`` + ``body``) is valid."""
    import fastjsonschema

    try:
        validator()(message)
    except fastjsonschema.JsonSchemaException as error:
        raise ContractViolation(f"not a v{SCHEMA_VERSION} message: {error}") from None
