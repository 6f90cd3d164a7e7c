"""What area each track covers in each frame.

- where it was detected, the detection, no smaller than its neighbours' median size (a
  detected box is never shrunk: size smoothing only ever adds area);
- in gaps of up to ``max_gap`` frames, a box interpolated between the detections either
  side (the tracker looks ahead, so it knows both ends);
- ``extend_before`` frames before its first detection and ``extend_after`` after its last,
  a box extrapolated from its motion (a tentative track reaches only ``tentative_extend``);
- carried boxes (gaps, extensions) grow by the track's recent motion, its shake, their
  distance from a real detection, and what the camera's motion since that detection may have
  missed (a whip pan measured only roughly);
- then steadied: each region as large as its track's largest within ``steady`` frames either
  side, and lifted out of dips of up to ``bridge`` frames between larger ones, so a mask
  does not pulse or flicker.

Nothing reaches back before the start of a track's shot. Boxes leave here in frame pixels,
clipped to the frame.
"""

from __future__ import annotations

import bisect

import numpy as np

from anonymize.track.camera import CameraPath
from anonymize.track.config import TrackerConfig
from anonymize.track.geometry import grow, map_box, size, zoom
from anonymize.track.track import Track
from anonymize.types import Box, Region

__all__ = ["Coverage"]


class Coverage:
    """Works out tracks' regions frame by frame, each track's unsteadied region once."""

    def __init__(
        self, config: TrackerConfig, frame_size: tuple[int, int] | None, camera: CameraPath
    ) -> None:
        self.config = config
        self.frame_size = frame_size
        self._camera = camera
        # Each track's region before steadying, by (track id, frame), within reach of the
        # frames being returned: each frame is asked for by all its neighbours.
        self._unsteadied: dict[tuple[int, int], Region | None] = {}

    @property
    def reach(self) -> int:
        """How many frames either side a region's size looks at."""
        return max(self.config.steady, self.config.bridge + 1)

    def frame(self, f: int, tracks: list[Track]) -> list[Region]:
        """The regions of frame ``f``, which no later detection can change any more."""
        regions = []
        for track in tracks:
            # Worked out anew: a later detection may have confirmed the track since.
            region = self._unsteadied[(track.id, f)] = self._region(track, f)
            if region is not None:
                regions.append(self._steadied(track, f, region))
        return regions

    def ahead(self, track: Track, index: int, camera: np.ndarray) -> Region | None:
        """Where ``track`` should be in frame ``index`` (camera map ``camera``), no margins."""
        return self.region(track, map_box(track.extrapolate(index), camera), track.best_score)

    def forget_before(self, f: int) -> None:
        """Drop what was worked out for frames before ``f``."""
        self._unsteadied = {key: r for key, r in self._unsteadied.items() if key[1] >= f}

    def region(
        self, track: Track, box: np.ndarray, score: float, detected: bool = False
    ) -> Region | None:
        """``box`` (frame pixels) as the track's region, clipped; None if nothing is left."""
        b = Box(*map(float, box))
        if self.frame_size is not None:
            b = b.clipped(*self.frame_size)
            if b.area <= 0:
                return None
        return Region(box=b, label=track.label, score=score, track=track.id, detected=detected)

    def _unsteadied_region(self, track: Track, f: int) -> Region | None:
        """The track's region at frame ``f`` before steadying: as returned, for a frame
        already returned; worked out once, for one still to come."""
        key = (track.id, f)
        if key not in self._unsteadied:
            self._unsteadied[key] = self._region(track, f) if f in self._camera else None
        return self._unsteadied[key]

    def _region(self, track: Track, f: int) -> Region | None:
        if not self._reaches(track, f):
            return None
        camera = self._camera[f]
        i = bisect.bisect_left(track.frames, f)
        if i < len(track.frames) and track.frames[i] == f:
            box = _detected_box(track, i, camera, self.config.smoothing)
            return self.region(track, box, track.scores[i], True)
        carried = self._carried_box(track, f, i)
        if carried is None:
            return None
        return self.region(track, map_box(carried, camera), track.best_score)

    def _reaches(self, track: Track, f: int) -> bool:
        """Whether frame ``f`` is within the track's extension either side, as far as its
        state earns it and its shot and end allow."""
        c = self.config
        before, after = c.extend_before, c.extend_after
        if not track.is_confirmed:
            # A short reach keeps a lone hit covered without smearing each false alarm over
            # a dozen frames.
            before, after = min(before, c.tentative_extend), min(after, c.tentative_extend)
        last = track.last
        tail_end = last + after if track.end is None else min(track.end, last + after)
        return max(track.first - before, track.start) <= f <= max(last, tail_end)

    def _carried_box(self, track: Track, f: int, i: int) -> np.ndarray | None:
        """The predicted box (shot's coordinates) of a frame ``f`` the track was not detected
        in, ``i`` its place among the track's frames; None in a tentative track's gap far
        from its hits."""
        c = self.config
        first, last = track.first, track.last
        if f < first or f > last:
            box = track.extrapolate(f)
            distance = first - f if f < first else f - last
            camera_error = self._camera.apart(f, first if f < first else last)
        else:
            a, b = track.frames[i - 1], track.frames[i]
            t = (f - a) / (b - a)
            box = (1 - t) * track.boxes[i - 1] + t * track.boxes[i]
            distance = min(f - a, b - f)
            if not track.is_confirmed and distance > c.tentative_extend:
                return None
            camera_error = min(self._camera.apart(f, a), self._camera.apart(f, b))
        velocity, shake = track.motion(f)
        box = grow(box, np.abs(velocity) * c.motion_margin + shake * c.jitter_margin)
        drift = min(c.drift_growth * distance, c.max_drift) * size(box)
        # The camera's error is in frame pixels; the box is in the shot's coordinates.
        return grow(box, np.full(4, drift + camera_error / zoom(self._camera[f])))

    def _steadied(self, track: Track, f: int, region: Region) -> Region:
        """``region`` grown, about its centre, to the largest width and height the track's
        mask has within ``steady`` frames either side, and lifted out of any dip of up to
        ``bridge`` frames between larger masks (final frames, given the lag)."""
        reach = self.reach
        sizes = np.zeros((2 * reach + 1, 2))  # width and height, frames f - reach .. f + reach
        for k in range(f - reach, f + reach + 1):
            near = self._unsteadied_region(track, k)
            if near is not None:
                sizes[k - f + reach] = near.box.width, near.box.height
        w, h = _steady_size(sizes, self.config.steady, self.config.bridge)
        if w == region.box.width and h == region.box.height:
            return region
        cx, cy = (region.box.x1 + region.box.x2) / 2, (region.box.y1 + region.box.y2) / 2
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        return self.region(track, box, region.score, region.detected) or region


def _steady_size(sizes: np.ndarray, steady: int, bridge: int) -> np.ndarray:
    """The width and height of the middle one of ``sizes`` (frames either side of it, 0 where
    the track covers nothing): the largest within ``steady`` frames, and no less than the
    closing of a dip of up to ``bridge`` frames."""
    reach = len(sizes) // 2
    largest = sizes[reach - steady : reach + steady + 1].max(axis=0)
    if bridge:
        # A closing: the least, over the windows of bridge + 2 frames that hold this one,
        # of each window's largest. Each such window reaches past a dip that short.
        span = bridge + 2
        peaks = [sizes[j : j + span].max(axis=0) for j in range(reach - span + 1, reach + 1)]
        largest = np.maximum(largest, np.min(peaks, axis=0))
    return largest


def _detected_box(track: Track, i: int, camera: np.ndarray, smoothing: int) -> np.ndarray:
    """The track's ``i``-th detection as found, no smaller than the median size of its
    neighbours within ``smoothing`` frames.

    Only the size is smoothed: averaging positions of a shaky track would shift the box
    off the face and, with the union that keeps the detection covered, just grow it.
    Sizes are compared in the shot's coordinates, so a zoom is not mistaken for noise.
    """
    f = track.frames[i]
    lo = bisect.bisect_left(track.frames, f - smoothing)
    hi = bisect.bisect_right(track.frames, f + smoothing)
    boxes = np.stack(track.boxes[lo:hi])
    median = np.median(boxes[:, 2:] - boxes[:, :2], axis=0) * zoom(camera)
    raw = track.raw[i]
    extent = np.maximum(raw[2:] - raw[:2], median)
    centre = (raw[:2] + raw[2:]) / 2
    return np.concatenate(
        [np.minimum(raw[:2], centre - extent / 2), np.maximum(raw[2:], centre + extent / 2)]
    )
