"""Decoder and encoder threads: order kept, errors surfaced, sources closed, backlog bounded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from anonymize.background import Ordered, prefetch, together


def test_prefetch_yields_everything_in_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_prefetch_runs_ahead_but_only_depth_items():
    produced = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    items = prefetch(source(), depth=3)
    assert next(items) == 0
    time.sleep(0.1)
    assert 2 <= len(produced) <= 5  # a few ahead, never the whole source
    items.close()


def test_prefetch_raises_where_the_source_failed_and_closes_it():
    closed = threading.Event()

    def source():
        try:
            yield 1
            yield 2
            raise ValueError("frame 2 is damaged")
        finally:
            closed.set()

    got = []
    with pytest.raises(ValueError, match="frame 2 is damaged"):
        for item in prefetch(source(), depth=4):
            got.append(item)
    assert got == [1, 2]
    assert closed.is_set()


def test_prefetch_closed_early_closes_its_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    items = prefetch(source(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert closed.is_set()


def test_ordered_runs_calls_in_order_and_drains():
    seen = []
    with Ordered(depth=2) as worker:
        for i in range(20):
            worker.submit(seen.append, i)
    assert seen == list(range(20))


def test_ordered_blocks_when_the_backlog_is_full():
    release = threading.Event()
    worker = Ordered(depth=2)
    worker.submit(release.wait)
    worker.submit(lambda: None)
    blocked = threading.Thread(target=worker.submit, args=(lambda: None,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # a third call waits while two are outstanding
    release.set()
    blocked.join(5)
    assert not blocked.is_alive()
    worker.__exit__(None, None, None)


def test_ordered_surfaces_a_failed_call_and_drops_the_rest():
    ran = []

    def fail():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), Ordered(depth=8) as worker:
        worker.submit(fail)
        for i in range(5):
            time.sleep(0.01)
            worker.submit(ran.append, i)
        worker.drain()
    assert len(ran) < 5


def test_depth_zero_runs_everything_in_the_callers_thread_in_order() -> None:
    """The serial mode that measures each stage's CPU alone: no worker threads at all."""
    me = threading.get_ident()
    seen: list[tuple[str, bool]] = []

    def items():
        for i in range(3):
            seen.append(("made", threading.get_ident() == me))
            yield i

    assert list(prefetch(items(), depth=0)) == [0, 1, 2]
    done: list[tuple[int, bool]] = []
    with Ordered(0) as out:
        for i in range(3):
            out.submit(lambda k: done.append((k, threading.get_ident() == me)), i)
            assert done[-1] == (i, True)  # ran at once, before submit returned
    assert seen == [("made", True)] * 3


def test_together_runs_calls_at_once_and_raises_their_error():
    started = [threading.Event(), threading.Event()]

    def call(k: int) -> None:
        started[k].set()
        assert started[1 - k].wait(timeout=5)  # fails unless the other runs meanwhile

    together(lambda: call(0), lambda: call(1))

    def broken() -> None:
        raise ValueError("cannot compile")

    with pytest.raises(ValueError, match="cannot compile"):
        together(lambda: None, broken)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads Linux's /proc")
def test_memory_threads_freed_is_given_back_when_they_are_done():
    # Networks compiled on threads once left 60 MB mapped for the rest of a run.
    def rss_mb() -> float:
        return (
            int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 1e6
        )

    def churn() -> None:
        pieces = [bytearray(40_000) for _ in range(4000)]  # 160 MB, below the mmap threshold
        del pieces[1::2]  # freed in a pattern that leaves holes, then the rest
        del pieces

    before = rss_mb()
    together(churn, churn)
    assert rss_mb() - before < 20
