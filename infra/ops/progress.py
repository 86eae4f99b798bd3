"""Progress lines for long commands, where they keep their place, and the time arguments they take."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Self, TextIO

from infra.cli import Problem


class Progress:
    """A one-line progress display on a terminal, a line every ``every`` items otherwise."""

    def __init__(self, label: str, out: TextIO, every: int = 100, noun: str = "events") -> None:
        self.label, self.noun = label, noun
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
        print(
            f"{self.label}: {total:,} {self.noun}  {parts}  ({rate:,.0f}/s)",
            end=end,
            file=self.out,
            flush=True,
        )


class Resumable:
    """A long command's place (a dataclass), kept as JSON after every step so ``--resume``
    continues it: ``<directory>/<stack>.json``."""

    @classmethod
    def directory(cls) -> Path:
        raise NotImplementedError

    @classmethod
    def path(cls, stack: str) -> Path:
        return cls.directory() / f"{stack}.json"

    def save(self, stack: str) -> None:
        self.directory().mkdir(exist_ok=True)
        self.path(stack).write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, stack: str) -> Self:
        try:
            return cls(**json.loads(cls.path(stack).read_text()))
        except FileNotFoundError:
            raise Problem(f"nothing to resume: no {cls.path(stack)}") from None
        except (ValueError, TypeError):
            raise Problem(
                f"{cls.path(stack)} is not such a command's place: remove it and start again"
            ) from None


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
