"""Run the decoder and the encoder beside the detector, each in one thread, bounded; and
start-up work side by side.

Detection, decoding, obscuring and encoding all spend their time in native code that releases
the GIL (onnxruntime, FFmpeg, OpenCV), so plain threads let them overlap on a laptop's cores.
One worker each keeps the order of frames; bounded backlogs keep memory flat however long the
file is. An error in a worker surfaces in the caller at the frame where it happened.
"""

from __future__ import annotations

import ctypes
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Ordered", "prefetch", "together"]

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 4, name: str = "prefetch") -> Iterator[T]:
    """Yield ``items`` while a worker thread produces up to ``depth`` of them ahead (with
    ``depth`` 0, in the caller's thread, one at a time).

    Closing this generator (or an exception in the consumer) stops the worker and closes
    ``items``, so a reader stopped early frees its file.
    """
    if depth == 0:
        try:
            yield from items
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        return
    pool = ThreadPoolExecutor(1, thread_name_prefix=name)
    pending: deque[Future] = deque()

    def step() -> Any:
        return next(items, _END)

    try:
        pending.extend(pool.submit(step) for _ in range(max(1, depth)))
        while True:
            item = pending.popleft().result()
            if item is _END:
                return
            pending.append(pool.submit(step))
            yield item
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        close = getattr(items, "close", None)
        if close is not None:
            close()


class Ordered:
    """Calls run one after another in a worker thread, at most ``depth`` waiting (with
    ``depth`` 0, at once in the caller's thread).

    ``submit`` blocks while the backlog is full and raises the first error a call raised;
    ``drain`` waits for every call. Leaving the ``with`` block drains on success and drops
    what is still waiting on an error.
    """

    def __init__(self, depth: int = 4, name: str = "ordered") -> None:
        self._depth = max(1, depth)
        self._inline = depth == 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: deque[Future] = deque()

    def __enter__(self) -> Ordered:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:
                self.drain()
        finally:
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            self._pool.shutdown(wait=True)

    def submit(self, call: Callable[..., object], *args: object) -> None:
        if self._inline:
            call(*args)
            return
        self._pending.append(self._pool.submit(call, *args))
        while self._pending and (len(self._pending) > self._depth or self._pending[0].done()):
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()


def together(*calls: Callable[[], object]) -> None:
    """Run ``calls`` at once, each on a thread of its own, and return when all have; the
    first error any raised is raised here. For start-up work that waits in native code
    (compiling networks, building MediaPipe's graphs), which would otherwise run in turn."""
    if len(calls) < 2:
        for call in calls:
            call()
        return
    with ThreadPoolExecutor(len(calls), thread_name_prefix="prepare") as pool:
        futures = [pool.submit(call) for call in calls]
    _give_back_freed_memory()
    for future in futures:
        future.result()


def _give_back_freed_memory() -> None:
    """glibc gives each new thread a heap of its own and keeps what the thread freed mapped
    after it exits: compiling on threads left 60 MB in the process for the whole run
    (docs/tuning.md, Start-up). ``malloc_trim`` hands it back; elsewhere there is none."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
