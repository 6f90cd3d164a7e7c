"""One track: the detections of one face or plate over time, and where it is in its life.

A track is born tentative from one detection and is confirmed by more, which earns it the
full reach before and after its detections; a tentative track is most often a false alarm.
It ends when it goes unseen for longer than the longest gap, or at a scene cut or the end of
the video; once the tracker has returned every frame it may still cover, it is deleted.
The track decides these itself, from what the tracker tells it (:meth:`Track.update`,
:meth:`Track.mark_missed`, :meth:`Track.end_if_lost`, :meth:`Track.end_by`,
:meth:`Track.mark_returned`).
"""

from __future__ import annotations

import bisect
from enum import Enum

import numpy as np

from anonymize.track.config import TrackerConfig
from anonymize.track.geometry import as_array, bound_size, fit_line, line_window, map_box, size
from anonymize.types import Detection, Label

__all__ = ["Track", "TrackState"]


class TrackState(Enum):
    """Where a track is in its life; an ended track keeps its evidence state until deleted."""

    TENTATIVE = "tentative"  # too little evidence yet: the short reach of a probable false alarm
    CONFIRMED = "confirmed"  # enough evidence: the full reach
    DELETED = "deleted"  # ended, and every frame it may cover has been returned


class Track:
    """Detections of one thing, kept in the shot's coordinates (they follow the camera).

    ``boxes`` are in the shot's coordinates, ``raw`` as found in frame pixels; ``frames``
    says where each was found. ``start`` is the first frame coverage may reach back to (the
    start of the shot); ``end``, once set, the last it may reach to.
    """

    def __init__(
        self,
        track_id: int,
        label: Label,
        start: int,
        config: TrackerConfig,
        frame_size: tuple[int, int] | None,
    ) -> None:
        self.id = track_id
        self.label = label
        self.start = start
        self.end: int | None = None
        self.state = TrackState.TENTATIVE
        self.frames: list[int] = []
        self.boxes: list[np.ndarray] = []
        self.raw: list[np.ndarray] = []
        self.scores: list[float] = []
        self.best_score = 0.0
        # Sizes of ``raw``, kept sorted: their median is asked for whenever the state is
        # worked out, and a track can last a whole file.
        self._raw_sizes: list[float] = []
        # The full detector's detections alone (frames, boxes as in ``boxes``), for shake.
        self._full_frames: list[int] = []
        self._full_boxes: list[np.ndarray] = []
        self._quick_hits = 0  # detections that came from a quick pass
        self._quick_looks = 0  # frames where only a quick pass looked for this track's label
        # Lines fitted through a window of detections, by (full detector's only, start, stop):
        # detections are only ever appended, so a window's line never changes, and every
        # carried frame of a track asks for one.
        self._lines: dict[tuple[bool, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._config = config
        self._frame_size = frame_size

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    @property
    def is_live(self) -> bool:
        """Whether detections may still continue this track."""
        return self.end is None

    @property
    def is_confirmed(self) -> bool:
        return self.state is TrackState.CONFIRMED

    @property
    def is_deleted(self) -> bool:
        return self.state is TrackState.DELETED

    def update(self, index: int, detection: Detection, camera: np.ndarray, quick: bool) -> None:
        """Record a detection in frame ``index``; ``camera`` maps the shot's coordinates to
        that frame's pixels, ``quick`` says it came from a quick pass."""
        raw = as_array(detection.box)
        self._quick_looks += quick
        self._quick_hits += quick
        self.frames.append(index)
        self.raw.append(raw)
        bisect.insort(self._raw_sizes, size(raw))
        self.boxes.append(map_box(raw, np.linalg.inv(camera)))
        if not quick:
            self._full_frames.append(index)
            self._full_boxes.append(self.boxes[-1])
        self.scores.append(float(detection.score))
        self.best_score = max(self.best_score, float(detection.score))
        self._weigh_evidence()

    def mark_missed(self, quick: bool) -> None:
        """Not found in this frame; ``quick`` says only a quick pass looked."""
        self._quick_looks += quick
        self._weigh_evidence()

    def is_lost(self, index: int) -> bool:
        """Whether, by frame ``index``, the track has gone unseen for longer than a gap."""
        return index - self.last - 1 > self._config.max_gap

    def end_if_lost(self, index: int) -> None:
        """End the track if it is lost by frame ``index``; it still covers its tail."""
        if self.is_live and self.is_lost(index):
            self.end = self.last + self._config.extend_after

    def end_by(self, frame: int) -> None:
        """End the track (a scene cut, the end of the video): its tail stops at ``frame``."""
        if self.is_live:
            self.end = min(self.last + self._config.extend_after, frame)

    def mark_returned(self, through: int) -> None:
        """Frames up to ``through`` are returned: an ended track that covers none after is
        deleted."""
        if self.end is not None and self.end <= through:
            self.state = TrackState.DELETED

    def extrapolate(self, f: int) -> np.ndarray:
        """Constant-velocity position at ``f`` from the nearer end of the track, size bounded."""
        i = 0 if f < self.frames[0] else -1
        anchor_frame, anchor = self.frames[i], self.boxes[i]
        box = anchor + self._line(anchor_frame, full=False)[0] * (f - anchor_frame)
        return bound_size(box, anchor, self._config.max_extrapolated_scale)

    def motion(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Velocity and shake of each box side near frame ``f`` (see :func:`fit_line`).

        Shake is measured on the full detector's boxes alone once there are enough of them:
        quick and full passes draw a face's box differently, and each is steady on its own.
        """
        velocity, shake = self._line(f, full=False)
        if len(self._full_frames) >= self._config.full_shake_min:
            shake = self._line(f, full=True)[1]
        return velocity, shake

    def _line(self, near: int, full: bool) -> tuple[np.ndarray, np.ndarray]:
        """:func:`fit_line` through the ``fit_frames`` detections nearest frame ``near`` (the
        full detector's alone with ``full``)."""
        frames, boxes = (self._full_frames, self._full_boxes) if full else (self.frames, self.boxes)
        lo, hi = line_window(frames, near, self._config.fit_frames)
        key = (full, lo, hi)
        if key not in self._lines:
            self._lines[key] = fit_line(frames[lo:hi], boxes[lo:hi])
        return self._lines[key]

    def _weigh_evidence(self) -> None:
        """Confirmed or tentative, from the detections so far; worked out anew on every
        change, since a quick pass that first looks and misses can undo a confirmation."""
        if self.state is not TrackState.DELETED:
            confirmed = self._has_evidence()
            self.state = TrackState.CONFIRMED if confirmed else TrackState.TENTATIVE

    def _has_evidence(self) -> bool:
        """``confirm_hits`` detections, unless a quick pass that would see a thing this large
        looked for it and never found it, and the full detector was never sure of it."""
        c = self._config
        if len(self.frames) < c.confirm_hits:
            return False
        if self._quick_hits or not self._quick_looks or self._frame_size is None:
            return True
        if self.best_score >= c.sure_score:
            return True
        return _median(self._raw_sizes) < c.quick_min_size * max(self._frame_size)


def _median(values: list[float]) -> float:
    """The median of ``values``, which are sorted."""
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
