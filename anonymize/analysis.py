"""The per-frame loop of a video (or a photo): frames in, frames with their regions out.

Read top to bottom, for each frame: is it a scene cut? is it a keyframe? how did the camera
move? run the full detectors (keyframes) or the quick passes plus a close look where the
tracker expects what the quick pass missed (between them); feed the tracker; hand on every
frame the tracker has settled. A frame waits only until the tracker settles it (its lag), so
memory stays flat however long the file is.

``api`` (writing and detecting), the review page and the benchmarks all run this one loop.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from anonymize.detect.base import Detector, NearDetector, QuickDetector
from anonymize.motion import CameraMotion
from anonymize.obscure import whole_frame
from anonymize.track import Keyframes, Tracker, TrackerConfig, is_scene_cut
from anonymize.types import Detection, Frame, Region

__all__ = ["Analysis", "AnalysisError", "StageTimes"]


class AnalysisError(Exception):
    """A file could not be analysed or rendered safely; the message names the cause."""


@dataclass
class StageTimes:
    """CPU seconds spent in each stage, summed over the threads that ran it.

    Measured with each thread's own CPU clock, so a stage is charged what it cost even while
    other stages run beside it on the other cores.
    """

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - start
            with self._lock:
                self.seconds[stage] += spent

    def timed(self, stage: str, items: Iterable) -> Iterator:
        """``items`` with the time spent producing each one charged to ``stage``."""
        iterator = iter(items)
        while True:
            with self.measure(stage):
                item = next(iterator, _END)
            if item is _END:
                return
            yield item


_END = object()


class Analysis:
    """Runs detectors and the tracker over the frames of one file.

    ``every`` is the keyframe interval (1 for a photo: the full detectors on its one frame);
    ``obscure_failed`` covers a frame whole when a detector fails on it, where otherwise the
    failure ends the file. ``stages``, when given, collects the CPU time of each step.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        frame_size: tuple[int, int],
        every: int = 1,
        obscure_failed: bool = False,
        stages: StageTimes | None = None,
        tracker: TrackerConfig | None = None,
    ) -> None:
        self.detectors = list(detectors)
        self.frame_size = frame_size
        self.every = every
        self.obscure_failed = obscure_failed
        self.stages = stages or StageTimes()
        self.tracker = Tracker((tracker or TrackerConfig()).spanning(every), frame_size)
        # Between keyframes these labels come from quick passes, which miss more.
        self._quick_labels = [
            label for d in self.detectors if isinstance(d, QuickDetector) for label in d.labels
        ]

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, list[Region]]]:
        """Every frame in order with the regions to cover in it (boxes as the tracker keeps
        them, before padding), once the tracker has settled it."""
        keyframes, camera = Keyframes(self.every), CameraMotion()
        measure = self.stages.measure
        waiting: dict[int, tuple[Frame, list[Region]]] = {}
        previous: np.ndarray | None = None
        for frame in frames:
            with measure("scene cuts"):
                cut = previous is not None and is_scene_cut(previous, frame.image)
            with measure("camera motion"):
                motion = camera.update(frame.image)
            full = keyframes.is_key(frame.index, cut)
            detections = self._detect(frame, full, motion, cut)
            own = []
            if detections is None:
                own, detections = [whole_frame(*self.frame_size)], []
            waiting[frame.index] = (frame, own)
            with measure("tracking"):
                settled = self.tracker.update(
                    frame.index,
                    detections,
                    scene_cut=cut,
                    motion=motion,
                    quick=() if full else self._quick_labels,
                )
            for index, regions in settled:
                done, own = waiting.pop(index)
                yield done, own + regions
            previous = frame.image
        with measure("tracking"):
            settled = self.tracker.finish()
        for index, regions in settled:
            done, own = waiting.pop(index)
            yield done, own + regions

    def _detect(
        self,
        frame: Frame,
        full: bool,
        motion: np.ndarray,
        cut: bool,
    ) -> list[Detection] | None:
        """Detections for one frame, or None when the frame must be obscured whole.

        Between keyframes, detectors with a quick pass run only that, and those that can look
        closely (``NearDetector``) also look where the tracker expects the tracks their quick
        pass did not find (given the camera's ``motion`` and whether this frame is a ``cut``).
        """
        measure = self.stages.measure
        try:
            found = []
            for detector in self.detectors:
                if full or not isinstance(detector, QuickDetector):
                    with measure(f"{detector.name}: full"):
                        found += detector.detect(frame.image)
                    continue
                with measure(f"{detector.name}: quick"):
                    quick = detector.detect_quick(frame.image)
                if isinstance(detector, NearDetector):
                    expected = self.tracker.expected(motion, cut, quick)
                    near = [r.box for r in expected if r.label in detector.labels]
                    if near:
                        with measure(f"{detector.name}: near"):
                            quick += detector.detect_near(frame.image, near)
                found += quick
            return found
        except Exception as err:  # any detector failure: fail closed, never pass the frame
            if self.obscure_failed:
                return None
            raise AnalysisError(f"frame {frame.index} could not be analysed: {err}") from err
