"""The review page's render: one at a time, in a thread, its progress readable while it runs.

The page polls ``status``; closing the review stops a running render, and the writer's
atomic output leaves nothing behind.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.errors import FILE_FAILURES, internal, one_line
from anonymize.regions import RegionsFile

__all__ = ["BackgroundRender", "RenderStatus"]


@dataclass(frozen=True)
class RenderStatus:
    """Where the page's render is: ``done`` of ``total`` frames, and how it ended."""

    state: str  # "idle", "running", "done", "outdated" (edited since) or "failed"
    done: int = 0
    total: int = 0
    message: str = ""
    output: str = ""


class BackgroundRender:
    """Renders a snapshot of the regions file to ``output`` (its audit record to ``record``)
    in a thread of its own."""

    def __init__(self, src: Path, output: Path, record: Path, settings: Settings) -> None:
        self.src, self.output, self.record, self.settings = src, output, record, settings
        self._lock = threading.Lock()
        self._status = RenderStatus("idle")
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    @property
    def running(self) -> bool:
        return self.status().state == "running"

    def status(self) -> RenderStatus:
        with self._lock:
            return self._status

    def start(self, snapshot: RegionsFile) -> None:
        """Start rendering ``snapshot``; the caller checks that none is running."""
        with self._lock:
            self._status = RenderStatus(
                "running", total=snapshot.input.frame_count, output=self.output.name
            )
        self._thread = threading.Thread(
            target=self._run, args=(snapshot,), name="review-render", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> RenderStatus:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def stop(self) -> None:
        """Stop a running render (its partial output is removed) and wait for it."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, snapshot: RegionsFile) -> None:
        renderer = Anonymizer(self.settings, detectors=[])
        try:
            renderer.render(self.src, self.output, snapshot, self._progress, report=self.record)
        except _Cancelled:
            self._finish("failed", "the render was stopped; nothing was written")
        except FILE_FAILURES as err:
            self._finish("failed", one_line(err))
        except Exception as err:  # a bug ends as a failed render on the page, not a dead thread
            self._finish("failed", internal(err))
        else:
            self._finish("done", f"wrote {self.output.name}")

    def outdated(self) -> None:
        """The regions were edited after the last render: its output no longer shows them."""
        with self._lock:
            if self._status.state == "done":
                message = f"{self._status.message} before the latest edits: render again"
                self._status = replace(self._status, state="outdated", message=message)

    def _progress(self, frames: int) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        with self._lock:
            self._status = replace(self._status, done=self._status.done + frames)

    def _finish(self, state: str, message: str) -> None:
        with self._lock:
            self._status = replace(self._status, state=state, message=message)


class _Cancelled(Exception):
    """Raised inside a render to stop it; the writer and atomic output clean up."""
