"""What an event as Stripe's Events API lists it must be before anything reads it, and why one is
not processed: malformed, of the other mode than the stack's, or rendered in an API version the
handlers do not read. The reconciler and ``ops backfill`` apply these rules to every listed event
(``Reconciler.refusal``), so one bad item is named and skipped, never stops the rest.
"""

from __future__ import annotations

import hashlib
from typing import Any

from stripe_webhook.core.events import API_VERSION as API_VERSION_PATTERN
from stripe_webhook.core.events import EVENT_ID, EVENT_TYPE, MAX_CREATED, is_id
from stripe_webhook.settings import OLDEST_READ


def unreadable_version(api_version: str | None, pinned: str) -> str | None:
    """Why an event rendered in ``api_version`` is not processed, or None. Stripe's Events API
    renders each event in the version it was created with, not the endpoint's. Versions order by
    their date (``2025-03-31.basil``); none (a thin event's) is read as it is."""
    if not api_version:
        return None
    if api_version[:10] < OLDEST_READ[:10]:
        return (
            f"rendered in API version {api_version}, older than the oldest the handlers read ({OLDEST_READ})"
        )
    if api_version[:10] > pinned[:10]:
        return f"rendered in API version {api_version}, newer than the stack's pinned {pinned}"
    return None


def listed_problem(listed: dict[str, Any], *, thin: bool = False) -> str | None:
    """Why an event as a list returned it cannot be processed (a sentence), or None: checked
    before anything reads it, so one malformed item is named and skipped, never stops a run."""
    if not is_id(EVENT_ID, listed.get("id")):
        return "its id is not a Stripe event id"
    if not is_id(EVENT_TYPE, listed.get("type")):
        return "its type is not a Stripe event type"
    if "livemode" in listed and not isinstance(listed["livemode"], bool):
        return "its livemode is not true or false"
    if thin:
        return None  # created is ISO 8601 and api_version absent: parse_thin_event checks them
    created = listed.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or not 0 < created <= MAX_CREATED:
        return "its created is not a time"
    version = listed.get("api_version")
    if version is not None and not is_id(API_VERSION_PATTERN, version):
        return "its api_version is not a Stripe API version"
    return None


def label(listed: Any) -> str:
    """What names a listed event in the state and the logs: its id, or for an id that is none
    (too long, not a string, no object at all), a short stable stand-in, so the overlap names it once."""
    value = listed.get("id") if isinstance(listed, dict) else listed
    if is_id(EVENT_ID, value):
        return str(value)
    digest = hashlib.sha256(repr(value)[:4096].encode("utf-8", "replace")).hexdigest()[:16]
    return f"unreadable-id-{digest}"


def other_mode(listed: dict[str, Any], livemode: bool | None) -> str | None:
    """Why an event of the other mode than the stack's is not processed, or None."""
    if livemode is None or listed.get("livemode", livemode) is livemode:
        return None
    theirs, ours = ("live", "test") if livemode is False else ("test", "live")
    return f"a {theirs}-mode event; this stack is {ours} mode (StripeMode)"
