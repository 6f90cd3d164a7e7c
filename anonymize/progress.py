"""Progress on stderr: a live bar in a terminal, plain lines anywhere else.

A bar redraws itself with escape codes, which a log file or a CI transcript keeps as noise
(and nested bars garble each other there). When stderr is not a terminal, progress is a
line now and then and one when the item is done, each readable on its own.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

from tqdm import tqdm

__all__ = ["Bar", "bar"]

_LINE_EVERY = 10.0  # seconds between plain progress lines


class Bar(Protocol):
    """What the commands use of a progress display."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


def bar(
    total: int | None,
    desc: str,
    unit: str,
    quiet: bool = False,
    nested: bool = False,
    delay: float = 0.0,
) -> Bar:
    """A progress display of ``total`` ``unit``s (None: not known) named ``desc``.

    ``nested`` marks a per-file display under a run's display of files: in a terminal it
    takes the second line and disappears when done. ``delay`` hides a display that finishes
    within that many seconds.
    """
    if quiet:
        return tqdm(disable=True)
    if not sys.stderr.isatty():
        return _Lines(total, desc, unit, delay)
    return tqdm(
        total=total, desc=desc, unit=unit, leave=not nested, position=int(nested), delay=delay
    )


class _Lines:
    """Progress as plain lines: ``desc: done/total unit`` every few seconds and at the end."""

    def __init__(self, total: int | None, desc: str, unit: str, delay: float) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self._last = time.monotonic()
        self._shown_from = self._last + delay
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now >= self._shown_from and now - self._last >= _LINE_EVERY:
            self._last = now
            self._say()

    def close(self) -> None:
        if not self._closed and self.done and time.monotonic() >= self._shown_from:
            self._say()
        self._closed = True

    def _say(self) -> None:
        of = f"/{self.total}" if self.total else ""
        print(f"{self.desc}: {self.done}{of} {self.unit}s", file=sys.stderr, flush=True)

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
