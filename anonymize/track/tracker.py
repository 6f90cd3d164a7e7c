"""The tracker: per-frame detections in, per-frame regions out, a fixed number of frames late.

Each frame it ends tracks at a scene cut and follows the camera, ends tracks lost for too
long, matches detections to the live tracks (:mod:`anonymize.track.association`), updates
the matched tracks, marks the others missed, starts tracks for the rest, and returns the
frames no later detection can change (:mod:`anonymize.track.coverage`), dropping the tracks
that cover nothing more.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from anonymize.track.association import Matching, match, prediction_cost
from anonymize.track.camera import CameraPath
from anonymize.track.config import TrackerConfig
from anonymize.track.coverage import Coverage
from anonymize.track.track import Track
from anonymize.types import Detection, Label, Region

__all__ = ["Tracker"]

Frames = list[tuple[int, list[Region]]]


class Tracker:
    """Turns per-frame detections into per-frame regions, lagging ``lag`` frames behind.

    Feed every frame in order with :meth:`update`; each call returns the frames that became
    final (ascending, each exactly once). Call :meth:`finish` after the last frame.
    """

    def __init__(
        self, config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = None
    ) -> None:
        self.config = config or TrackerConfig()
        self.frame_size = frame_size
        self._camera = CameraPath()
        self._coverage = Coverage(self.config, frame_size, self._camera)
        self._tracks: list[Track] = []
        self._next_id = 1
        self._next_emit = 0  # first frame not yet returned
        self._current = -1  # last frame fed
        self._shot_start = 0

    @property
    def lag(self) -> int:
        c = self.config
        # A frame is final once no later detection can change it: a new track's look-back
        # (extend_before), the far end of a gap (max_gap) and the smoothing window; then the
        # frames after it whose size it may take (steady, bridge).
        return max(c.extend_before, c.max_gap, c.smoothing) + self._coverage.reach

    def update(
        self,
        index: int,
        detections: Sequence[Detection],
        scene_cut: bool = False,
        motion: np.ndarray | None = None,
        quick_labels: Collection[Label] = (),
        motion_error: float = 0.0,
    ) -> Frames:
        """Feed frame ``index``; return the frames that are now final with their regions.

        ``motion`` is the camera's 2x3 affine map from the previous frame's pixels to this
        one's (:class:`anonymize.motion.CameraMotion`); None means a still camera;
        ``motion_error`` how far (px) a point it maps may be off, which boxes carried across
        this frame allow for.
        ``quick_labels`` names the labels whose detections here come from a quick pass
        (between keyframes): what a quick pass misses says less than what the full detector
        misses. (A track is told per detection, as ``quick``, whether it came from one.)
        """
        if index != self._current + 1:
            raise ValueError(f"expected frame {self._current + 1}, got {index}")
        self._current = index
        out = self._end_shot(index) if scene_cut and index > 0 else []
        self._camera.follow(index, motion, index == self._shot_start, motion_error)
        live = self._end_lost_tracks(index)
        found = self._match(index, live, detections)
        for track, detection in found.pairs:
            track.update(index, detection, self._camera[index], track.label in quick_labels)
        for track in found.unmatched_tracks:
            track.mark_missed(track.label in quick_labels)
        for detection in found.unmatched_detections:
            self._start_track(index, detection, detection.label in quick_labels)
        return out + self._emit_through(index - self.lag)

    def expected(
        self,
        motion: np.ndarray | None = None,
        scene_cut: bool = False,
        found: Sequence[Detection] = (),
    ) -> list[Region]:
        """Where the live tracks no detection in ``found`` overlaps should be in the next
        frame, before it is fed.

        ``motion`` and ``scene_cut`` are what :meth:`update` will get for that frame. A
        detector can look closely there (``NearDetector``): a small face the quick pass
        cannot see is then found, not carried with margins. Nothing is expected after a cut.
        """
        index = self._current + 1
        if scene_cut or index == 0:
            return []
        camera = self._camera.ahead(motion)
        out = []
        for track in self._tracks:
            if track.is_live and not track.is_lost(index):
                region = self._coverage.ahead(track, index, camera)
                if region is not None and not _found(region, found, self.config.seen_iou):
                    out.append(region)
        return out

    def finish(self) -> Frames:
        """Return every frame not yet returned; the tracker is then empty."""
        for track in self._tracks:
            track.end_by(self._current)
        out = self._emit_through(self._current)
        self._tracks.clear()
        return out

    def _end_shot(self, index: int) -> Frames:
        """A scene cut before frame ``index``: every track ends, and nothing reaches across."""
        for track in self._tracks:
            track.end_by(index - 1)
        self._shot_start = index
        return self._emit_through(index - 1)

    def _end_lost_tracks(self, index: int) -> list[Track]:
        """End the tracks unseen for longer than a gap; return those still live."""
        for track in self._tracks:
            track.end_if_lost(index)
        return [t for t in self._tracks if t.is_live]

    def _match(
        self, index: int, live: list[Track], detections: Sequence[Detection]
    ) -> Matching[Track, Detection]:
        """Which detection continues which live track; a track only ever takes detections
        of its own label."""
        cost = prediction_cost(self.config, index, self._camera[index])
        pairs: list[tuple[Track, Detection]] = []
        missed: list[Track] = []
        new: list[Detection] = []
        for label in sorted({d.label for d in detections} | {t.label for t in live}):
            tracks = [t for t in live if t.label == label]
            dets = [d for d in detections if d.label == label]
            result = match(cost, self.config.max_cost, tracks, dets)
            pairs += result.pairs
            missed += result.unmatched_tracks
            new += result.unmatched_detections
        return Matching(pairs, missed, new)

    def _start_track(self, index: int, detection: Detection, quick: bool) -> None:
        track = Track(
            self._next_id, detection.label, self._shot_start, self.config, self.frame_size
        )
        track.update(index, detection, self._camera[index], quick)
        self._tracks.append(track)
        self._next_id += 1

    def _emit_through(self, last: int) -> Frames:
        """Return frames up to ``last`` not yet returned, then drop what no frame still to
        be returned needs: tracks that cover nothing more, and what was kept for frames a
        frame to come may no longer take its size from."""
        out = [(f, self._coverage.frame(f, self._tracks)) for f in range(self._next_emit, last + 1)]
        self._next_emit = max(self._next_emit, last + 1)
        keep = self._next_emit - self._coverage.reach
        self._camera.forget_before(keep)
        self._coverage.forget_before(keep)
        for track in self._tracks:
            track.mark_returned(self._next_emit - 1)
        self._tracks = [t for t in self._tracks if not t.is_deleted]
        return out


def _found(region: Region, found: Sequence[Detection], seen_iou: float) -> bool:
    """Whether a detection in ``found`` has already found the track ``region`` expects."""
    return any(d.label == region.label and d.box.iou(region.box) >= seen_iou for d in found)
