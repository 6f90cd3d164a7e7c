"""The per-frame loop of a video (or a photo): frames in, frames with their regions out.

Read top to bottom, for each frame: is it a scene cut? is it a keyframe? how did the camera
move? run the full detectors (keyframes) or the quick passes plus a close look where the
tracker expects what the quick pass missed (between them); feed the tracker; hand on every
frame the tracker has made final. A frame waits only until it is final (the tracker's lag),
so memory stays flat however long the file is.

``api`` (writing and detecting), the review page and the benchmarks all run this one loop.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial

import cv2
import numpy as np

from anonymize.background import together
from anonymize.detect.base import (
    Detector,
    FaintDetector,
    NearDetector,
    QuickDetector,
    SizedDetector,
)
from anonymize.detect.shown import Shown
from anonymize.errors import UserError
from anonymize.evidence import Evidence
from anonymize.motion import CameraMotion
from anonymize.obscure import whole_frame
from anonymize.track import Tracker, TrackerConfig
from anonymize.types import Detection, Frame, Label, Region

__all__ = ["KEY_CHANGE", "Analysis", "AnalysisError", "Schedule", "StageTimes", "is_scene_cut"]


class AnalysisError(UserError):
    """A file could not be analysed or rendered safely; the message names the cause."""


@dataclass
class StageTimes:
    """CPU seconds spent in each stage, summed over the threads that ran it.

    By default each thread's own CPU clock, so a stage is charged what it cost even while
    other stages run beside it; work a library hands to its own worker threads (OpenVINO,
    x264) is then missed. A run that takes one stage at a time can use the process's clock
    (``time.process_time``), which sees those threads too.
    """

    clock: Callable[[], float] = time.thread_time
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            spent = self.clock() - start
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
_SMALL_WIDTH = 320  # pixels of the copy that scene cuts, camera motion and the schedule see
_THUMB_WIDTH = 96  # pixels of the grey thumbnail the schedule compares
_CHANGED_LEVELS = 20  # a thumbnail pixel this much brighter or darker has changed
# What makes a scene busy (see Schedule; figures in docs/tuning.md): the camera moved the
# picture by this share of its width since the last keyframe, or this share of the picture
# changed (or came into view) ...
KEY_MOTION = 0.005
KEY_CHANGE = 0.1
# ... and this much new picture calls for a keyframe at once (a whip pan).
KEY_NEW = 0.3
BUSY_EVERY = 2  # keyframe interval while the scene is busy


class Schedule:
    """Which frames get the full detectors.

    The first frame of every shot (after a cut everything is new). While the scene is still,
    every ``every`` frames: the tracker and the quick passes hold what is there. While it is
    busy (the camera moves, or the picture has changed since the last keyframe, seen through
    the camera's motion since then: people moved or turned, new ground came into view),
    every ``BUSY_EVERY`` frames; and on the very next frame when much of the picture is new.
    """

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self._last: int | None = None
        self._key_thumb: np.ndarray | None = None
        self._since_key = np.eye(3)  # the camera's motion from the last keyframe to now

    def is_key(
        self, index: int, image: np.ndarray, motion: np.ndarray, scene_cut: bool = False
    ) -> bool:
        """Whether frame ``index`` (seen as ``image``, any size) is a keyframe; ``motion`` is
        the camera's 2x3 map from the previous frame to this one, in ``image``'s pixels."""
        self._since_key = np.vstack([motion, [0.0, 0.0, 1.0]]) @ self._since_key
        key = scene_cut or self._last is None or index - self._last >= self.every
        if not key and self.every > 1:
            changed = self._changed(image)
            busy = self._moved(image.shape) > KEY_MOTION or changed > KEY_CHANGE
            key = changed > KEY_NEW or (busy and index - self._last >= BUSY_EVERY)
        if key:
            self._last, self._key_thumb, self._since_key = index, _thumb(image), np.eye(3)
        return key

    def _moved(self, shape: tuple[int, ...]) -> float:
        """How far the camera has moved the picture since the last keyframe: the largest
        shift of a corner or the centre, as a share of the frame's width."""
        h, w = shape[:2]
        points = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1], [w / 2, h / 2, 1]]).T
        shift = (self._since_key @ points)[:2] - points[:2]
        return float(np.hypot(*shift).max() / w)

    def _changed(self, image: np.ndarray) -> float:
        now = _thumb(image)
        s = now.shape[1] / image.shape[1]
        scale = np.diag([s, s, 1.0])
        warp = (scale @ self._since_key @ np.linalg.inv(scale))[:2]
        # What the camera brought into view counts as changed: it was never looked at.
        then = cv2.warpAffine(
            self._key_thumb, warp, now.shape[::-1], borderMode=cv2.BORDER_CONSTANT, borderValue=-1e3
        )
        return float((np.abs(then - now) > _CHANGED_LEVELS).mean())


def _shrink(image: np.ndarray) -> tuple[np.ndarray, float]:
    """A copy at most ``_SMALL_WIDTH`` wide, and its scale."""
    scale = min(1.0, _SMALL_WIDTH / image.shape[1])
    if scale == 1.0:
        return image, scale
    size = (_SMALL_WIDTH, max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _scaled(motion: np.ndarray, scale: float) -> np.ndarray:
    """A 2x3 motion in the pixels of a copy ``scale`` times the frame's size."""
    return np.hstack([motion[:, :2], motion[:, 2:] * scale])


def _thumb(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    size = (_THUMB_WIDTH, max(1, round(image.shape[0] * _THUMB_WIDTH / image.shape[1])))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(small, (3, 3), 0)  # a pixel's worth of shake is not change


class Analysis:
    """Runs detectors and the tracker over the frames of one file.

    ``every`` is the longest keyframe interval (1 for a photo: the full detectors on its one
    frame; see :class:`Schedule`); ``video`` says the frames are a video's: many of one size
    follow, which detectors that can prepare for a size (``SizedDetector``) are told at the
    first, and keyframes weigh what earlier ones saw (``FaintDetector``); without it each
    frame is seen alone, as a photo is;
    ``obscure_failed`` covers a frame whole when a detector fails on it, where otherwise the
    failure ends the file. ``stages``, when given, collects the CPU time of each step.
    ``pixel_aspect`` and ``interlaced`` (from ``MediaInfo``): detectors see frames as a
    player shows them, fields blended and pixels square (:mod:`anonymize.detect.shown`).
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        frame_size: tuple[int, int],
        every: int = 1,
        obscure_failed: bool = False,
        stages: StageTimes | None = None,
        tracker: TrackerConfig | None = None,
        video: bool = False,
        pixel_aspect: Fraction = Fraction(1),
        interlaced: bool = False,
    ) -> None:
        self.detectors = list(detectors)
        self.shown = Shown(frame_size, pixel_aspect, interlaced)
        self.video = video
        self.frame_size = frame_size
        self.every = every
        self.obscure_failed = obscure_failed
        self.stages = stages or StageTimes()
        self.tracker = Tracker((tracker or TrackerConfig()).spanning(every), frame_size)
        self.evidence = Evidence()
        # Between keyframes these labels come from quick passes, which miss more.
        self._quick_labels: list[Label] = [
            label for d in self.detectors if isinstance(d, QuickDetector) for label in d.labels
        ]

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, list[Region]]]:
        """Every frame in order with the regions to cover in it (boxes as the tracker keeps
        them, before padding), once the tracker has made it final."""
        schedule, camera = Schedule(self.every), CameraMotion()
        measure = self.stages.measure
        waiting: dict[int, tuple[Frame, list[Region]]] = {}
        previous: np.ndarray | None = None
        for frame in frames:
            if self.video and frame.index == 0:
                self._expect_size()
            with measure("thumbnail"):  # one small copy serves the three cheap looks below
                small, scale = _shrink(frame.image)
            with measure("scene cuts"):
                cut = previous is not None and is_scene_cut(previous, small)
            with measure("camera motion"):
                motion = camera.update(small, scale)
            with measure("schedule"):
                full = schedule.is_key(frame.index, small, _scaled(motion.matrix, scale), cut)
            self.evidence.follow(motion.matrix, cut)
            with measure("as shown"):
                image = self.shown.view(frame.image)
            detections = self._detect(frame.index, image, full, motion.matrix, cut)
            own = []
            if detections is None:
                own, detections = [whole_frame(*self.frame_size)], []
            waiting[frame.index] = (frame, own)
            with measure("tracking"):
                final = self.tracker.update(
                    frame.index,
                    detections,
                    scene_cut=cut,
                    motion=motion.matrix,
                    motion_error=motion.error,
                    quick_labels=() if full else self._quick_labels,
                )
            for index, regions in final:
                done, own = waiting.pop(index)
                yield done, own + regions
            previous = small
        with measure("tracking"):
            final = self.tracker.finish()
        for index, regions in final:
            done, own = waiting.pop(index)
            yield done, own + regions

    def _expect_size(self) -> None:
        w, h = self.shown.size
        with self.stages.measure("preparing"):
            together(
                *(
                    partial(d.expect_size, w, h)
                    for d in self.detectors
                    if isinstance(d, SizedDetector)
                )
            )

    def _detect(
        self,
        index: int,
        image: np.ndarray,
        full: bool,
        motion: np.ndarray,
        cut: bool,
    ) -> list[Detection] | None:
        """Detections for frame ``index`` (seen as ``image``, its view as shown), in the
        stored frame's pixels, or None when the frame must be obscured whole.

        On a video's keyframes, what a detector found too faintly to keep (``FaintDetector``)
        is kept where earlier keyframes saw it too (:class:`~anonymize.evidence.Evidence`); a
        photo gets each detector's ``detect``, its look at a frame seen alone. Between
        keyframes, detectors with a quick pass run only that, and those that can look
        closely (``NearDetector``) also look where the tracker expects the tracks their quick
        pass did not find (given the camera's ``motion`` and whether this frame is a ``cut``).
        """
        measure, back = self.stages.measure, self.shown.back
        try:
            found = []
            for detector in self.detectors:
                if full and self.video and isinstance(detector, FaintDetector):
                    with measure(f"{detector.name}: full"):
                        kept, faint = detector.detect_faint(image)
                    found += back(kept) + self.evidence.add(index, back(faint))
                    continue
                if full or not isinstance(detector, QuickDetector):
                    with measure(f"{detector.name}: full"):
                        found += back(detector.detect(image))
                    continue
                with measure(f"{detector.name}: quick"):
                    seen = back(detector.detect_quick(image))
                if isinstance(detector, NearDetector):
                    expected = self.tracker.expected(motion, cut, seen)
                    near = [self.shown.forth(r.box) for r in expected if r.label in detector.labels]
                    if near:
                        with measure(f"{detector.name}: near"):
                            seen += back(detector.detect_near(image, near))
                found += seen
            return found
        except Exception as err:  # any detector failure: fail closed, never pass the frame
            if self.obscure_failed:
                return None
            raise AnalysisError(f"frame {index} could not be analysed: {err}") from err


def is_scene_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """True when ``current`` starts a new shot.

    Two cheap signals must agree: the hue/saturation histogram changed (blind to motion) and
    a tiny grey thumbnail no longer correlates (blind to brightness changes). A false cut ends
    tracks early and costs gap filling, so a pan, a zoom or a flash alone must not count.
    """
    a, b = _cut_thumb(previous), _cut_thumb(current)
    hist_dist = cv2.compareHist(_hs_hist(a), _hs_hist(b), cv2.HISTCMP_BHATTACHARYYA)
    grey_a = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    grey_b = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    if grey_a.std() < 1.0 or grey_b.std() < 1.0:  # a flat frame (fade to black): histogram only
        return hist_dist > _CUT_HIST
    return hist_dist > _CUT_HIST and float(np.corrcoef(grey_a, grey_b)[0, 1]) < _CUT_CORR


_CUT_HIST = 0.5  # Bhattacharyya distance of hue/saturation histograms
_CUT_CORR = 0.5  # correlation of 32x18 grey thumbnails


def _cut_thumb(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)


def _hs_hist(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)
