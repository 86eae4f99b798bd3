"""What a handler asks to be written: one ``Record`` per Stripe object it keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One item of state derived from an event.

    ``watermark`` orders writes to the same item: the store only overwrites an
    item whose stored watermark is lower (ties broken by event id), so an older
    event arriving late never replaces newer state.
    """

    pk: str
    sk: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    watermark: int = 0


def expandable_id(value: object) -> str | None:
    """Stripe fields such as ``customer`` are an id, an expanded object, or null."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        inner = value.get("id")
        return inner if isinstance(inner, str) and inner else None
    return None


def pick(source: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """Copy the named scalar fields that are present and not null."""
    return {
        name: source[name]
        for name in names
        if source.get(name) is not None and isinstance(source[name], str | int | bool)
    }
