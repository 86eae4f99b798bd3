"""Progress lines for long commands, and the time arguments they take."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter
from typing import TextIO


class Progress:
    """A one-line progress display on a terminal, a line every ``every`` items otherwise."""

    def __init__(self, label: str, out: TextIO, every: int = 100) -> None:
        self.label = label
        self.out = out
        self.counts: Counter[str] = Counter()
        self.every = every
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._tty = out.isatty()

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1
        total = sum(self.counts.values())
        now = time.monotonic()
        if (self._tty and now - self._last_draw > 0.2) or (not self._tty and total % self.every == 0):
            self._draw(end="\r" if self._tty else "\n")
            self._last_draw = now

    def done(self) -> None:
        self._draw(end="\n")

    def _draw(self, end: str) -> None:
        total = sum(self.counts.values())
        rate = total / max(time.monotonic() - self.started, 1e-6)
        parts = "  ".join(f"{name} {count:,}" for name, count in sorted(self.counts.items()))
        print(f"{self.label}: {total:,} events  {parts}  ({rate:,.0f}/s)", end=end, file=self.out, flush=True)


def parse_time(value: str) -> int:
    """``2026-11-01``, ``2026-11-01T12:00:00Z``, a unix time, or ``48h``/``7d`` ago."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    if value[-1:] in ("h", "d") and value[:-1].isdigit():
        return int(time.time()) - int(value[:-1]) * (3600 if value[-1] == "h" else 86_400)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date, a time, a unix time or e.g. 48h / 7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def day(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
