"""Detections -> tracks over time, so coverage does not flicker off where a detector misses.

A face detected in most frames but missed in one is a leak in that one frame. The tracker links
detections of the same thing across frames and decides, per frame, which regions to obscure:

- gaps of up to ``max_gap`` undetected frames are filled by interpolating between the
  detections on either side (the tracker looks ahead, so it knows both ends);
- a track is covered ``extend_before`` frames before its first detection and ``extend_after``
  frames after its last one, at positions extrapolated from its motion (a track with a single
  detection, most often a false alarm, reaches only ``tentative_extend`` frames);
- so does a track the quick pass between keyframes could have seen (``quick_min_size``) but
  never did, which the full detector was never sure of (``sure_score``): on the moving
  sequences such tracks are false alarms on textures, and their gaps are not bridged either;
- predicted boxes grow by the track's recent motion, its shake and their distance from a real
  detection; a detected box is never shrunk (size smoothing only ever adds area), and each
  region is as large as its track's largest a frame either side, so a mask does not pulse
  where detected and carried boxes alternate;
- scene cuts end every track, and nothing is carried or extended across a cut;
- given the camera's motion between frames (:mod:`anonymize.motion`), tracks live in
  coordinates that follow the camera from the start of the shot, so a pan or a shake moves
  carried boxes with the picture and the margins only have to cover the subject's own motion;
- before a frame is fed, :meth:`Tracker.expected` says where the tracks no quick detection
  found should be, so a detector can look there closely (``NearDetector``): what it finds is
  covered as detected, where it is, instead of carried with margins.

Association is a Hungarian assignment (scipy) on IoU and centre distance against a
constant-velocity prediction fitted to a track's last few detections: faces and plates in
footage move smoothly enough that a Kalman filter buys nothing measurable here, and the fit
has no state to tune.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from anonymize.types import Box, Detection, Region

__all__ = ["Keyframes", "Tracker", "TrackerConfig", "is_scene_cut"]


@dataclass(frozen=True)
class TrackerConfig:
    """How far coverage reaches beyond detections; defaults lean to covering too much.

    Boxes where the track was not detected (gaps, extensions) are predicted, so they grow:
    ``motion_margin`` grows each side by that many frames of the side's recent motion;
    ``drift_growth`` grows each side by that fraction of the box size per frame of
    distance from the nearest detection (a prediction is less certain the further it goes),
    up to ``max_drift``; ``jitter_margin`` grows them by that many times the track's recent
    shake (RMS distance of its detections from a straight-line motion). ``smoothing`` is the
    half-width in frames of the window whose median size a detected box is never smaller than.
    ``steady`` makes each region as large as the track's largest within that many frames
    either side: between keyframes a mask swaps between a detected box and a larger carried
    one, and swapping every other frame it pulses visibly (street_walking_1080p: 903 of 1915
    frame pairs changed area by over 1.2x, 793 of them at such a swap; 151 with ``steady=1``).
    ``bridge`` lifts a region out of a dip of up to that many frames between larger ones: the
    detector now and then draws a face smaller for a few frames, and a window of ``steady``
    cannot reach across, so the mask shrank for a frame and grew back (street_walking_1080p,
    ``benchmarks/moving_sequences.py --strips``: 15 such flickers with ``bridge=0``, none
    with 3).

    Motion, shake and drift are measured in the shot's coordinates: with the camera's motion
    given, they are the subject's own and the detector's noise, not the camera's, so the
    margins are smaller than a tracker blind to the camera needs (benchmarks/moving_sequences:
    jitter 2 -> 1.5, drift 0.05 -> 0.02 a frame cost at most one leaked face-frame in 1,600 on
    two seeds and cut over-redaction by a fifth).
    """

    extend_before: int = 5
    extend_after: int = 8
    max_gap: int = 12
    iou_threshold: float = 0.1
    max_distance: float = 1.5  # centre distance, in box sizes, still accepted as the same track
    max_scale_change: float = 2.0  # larger size ratios between frames are not one track
    motion_margin: float = 1.0
    jitter_margin: float = 1.5
    drift_growth: float = 0.02
    max_drift: float = 0.3
    smoothing: int = 2
    steady: int = 1
    bridge: int = 3
    fit_frames: int = 5  # detections used to estimate a track's velocity
    confirm_hits: int = 2  # detections before a track gets the full extension
    tentative_extend: int = 2  # extension, each way, of a track with fewer hits
    # A track at least this large (share of the frame's larger side) that a quick pass looked
    # for and never found, with no full detection this sure, keeps the tentative reach:
    # BlazeFace confirms faces from about 30 px in 640 (2 of 40 real tracks of 25-30 px, 23
    # of 56 of 30-40 px on the moving sequences' two seeds); false alarms that size scored
    # 0.9 at most, most real faces it missed 0.98 or more.
    quick_min_size: float = 0.047
    sure_score: float = 0.9

    def spanning(self, interval: int) -> TrackerConfig:
        """This config for detections that come only every ``interval`` frames (keyframes):
        a detection reaches the keyframes on either side, where the full detector last looked
        and will look next, and a track missed on one keyframe is still bridged."""
        return replace(
            self,
            extend_before=max(self.extend_before, interval),
            extend_after=max(self.extend_after, interval),
            max_gap=max(self.max_gap, 2 * interval),
            tentative_extend=max(self.tentative_extend, interval),
        )

    def __post_init__(self) -> None:
        for name in ("extend_before", "extend_after", "max_gap", "smoothing", "tentative_extend"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.fit_frames < 2:
            raise ValueError("fit_frames must be >= 2")


@dataclass
class _Track:
    id: int
    label: str
    start: int  # first frame coverage may reach back to (after the last cut)
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # in the shot's coordinates
    raw: list[np.ndarray] = field(default_factory=list)  # detections as found, frame pixels
    scores: list[float] = field(default_factory=list)
    best_score: float = 0.0
    # Sizes of ``raw``, kept sorted: their median is asked for on every frame a track
    # covers, and a track can last a whole file.
    raw_sizes: list[float] = field(default_factory=list)
    # The full detector's detections alone (frames, boxes as in ``boxes``): a quick pass
    # draws a face's box differently, so shake is measured on these.
    full_frames: list[int] = field(default_factory=list)
    full_boxes: list[np.ndarray] = field(default_factory=list)
    quick_hits: int = 0  # detections that came from a quick pass
    quick_looks: int = 0  # frames where only a quick pass looked for this track's label
    end: int | None = None  # last frame coverage may reach to, once the track is over

    def add(self, index: int, detection: Detection, camera: np.ndarray, quick: bool) -> None:
        """Record a detection; ``camera`` maps the shot's coordinates to this frame's."""
        raw = _array(detection.box)
        self.quick_hits += quick
        self.frames.append(index)
        self.raw.append(raw)
        bisect.insort(self.raw_sizes, _size(raw))
        self.boxes.append(_map_box(raw, np.linalg.inv(camera)))
        if not quick:
            self.full_frames.append(index)
            self.full_boxes.append(self.boxes[-1])
        self.scores.append(float(detection.score))
        self.best_score = max(self.best_score, float(detection.score))

    def median_raw_size(self) -> float:
        n, sizes = len(self.raw_sizes), self.raw_sizes
        return sizes[n // 2] if n % 2 else (sizes[n // 2 - 1] + sizes[n // 2]) / 2

    @property
    def last(self) -> int:
        return self.frames[-1]


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
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._next_emit = 0  # first frame not yet returned
        self._current = -1  # last frame fed
        self._segment_start = 0
        # Per frame not yet returned: the 3x3 map from the shot's coordinates to the frame's.
        self._camera: dict[int, np.ndarray] = {}
        self._last_camera = np.eye(3)
        # Each track's region before steadying, by (track id, frame), within reach of the
        # frames being returned: each frame is asked for by all its neighbours.
        self._settled: dict[tuple[int, int], Region | None] = {}

    @property
    def lag(self) -> int:
        c = self.config
        # A frame is final once no later detection can change it: a new track's look-back
        # (extend_before), the far end of a gap (max_gap) and the smoothing window; then the
        # frames after it whose size it may take (steady, bridge).
        return max(c.extend_before, c.max_gap, c.smoothing) + self._reach

    @property
    def _reach(self) -> int:
        """How many frames either side a region's size looks at."""
        return max(self.config.steady, self.config.bridge + 1)

    def update(
        self,
        index: int,
        detections: Sequence[Detection],
        scene_cut: bool = False,
        motion: np.ndarray | None = None,
        quick: Collection[str] = (),
    ) -> list[tuple[int, list[Region]]]:
        """Feed frame ``index``; return the frames that are now final with their regions.

        ``motion`` is the camera's 2x3 affine map from the previous frame's pixels to this
        one's (:class:`anonymize.motion.CameraMotion`); None means a still camera. ``quick``
        names the labels whose detections here come from a quick pass (between keyframes):
        what a quick pass misses says less than what the full detector misses.
        """
        if index != self._current + 1:
            raise ValueError(f"expected frame {self._current + 1}, got {index}")
        self._current = index
        out: list[tuple[int, list[Region]]] = []
        if scene_cut and index > 0:
            for track in self._tracks:
                if track.end is None:
                    track.end = min(track.last + self.config.extend_after, index - 1)
            self._segment_start = index
            out += self._emit_through(index - 1)
        if index == self._segment_start:
            self._last_camera = np.eye(3)
        elif motion is not None:
            self._last_camera = np.vstack([motion, [0.0, 0.0, 1.0]]) @ self._last_camera
        self._camera[index] = self._last_camera
        self._retire(index)
        self._associate(index, detections, frozenset(quick))
        out += self._emit_through(index - self.lag)
        return out

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
        camera = self._last_camera
        if motion is not None:
            camera = np.vstack([motion, [0.0, 0.0, 1.0]]) @ camera
        out = []
        for track in self._tracks:
            if track.end is None and index - track.last - 1 <= self.config.max_gap:
                box = _map_box(_extrapolate(track, index, self.config.fit_frames), camera)
                region = self._make(track, box, track.best_score, False)
                if region is not None and not any(
                    d.label == track.label and d.box.iou(region.box) >= _SEEN_IOU for d in found
                ):
                    out.append(region)
        return out

    def finish(self) -> list[tuple[int, list[Region]]]:
        """Return every frame not yet returned; the tracker is then empty."""
        for track in self._tracks:
            if track.end is None:
                track.end = min(track.last + self.config.extend_after, self._current)
        out = self._emit_through(self._current)
        self._tracks.clear()
        return out

    # -- association -------------------------------------------------------------------

    def _retire(self, index: int) -> None:
        """End tracks unseen for longer than ``max_gap``; they only cover their tail now."""
        for track in self._tracks:
            if track.end is None and index - track.last - 1 > self.config.max_gap:
                track.end = track.last + self.config.extend_after

    def _associate(
        self, index: int, detections: Sequence[Detection], quick: frozenset[str]
    ) -> None:
        live = [t for t in self._tracks if t.end is None]
        for track in live:
            track.quick_looks += track.label in quick
        for label in sorted({d.label for d in detections}):
            dets = [d for d in detections if d.label == label]
            tracks = [t for t in live if t.label == label]
            matched: set[int] = set()
            if tracks:
                cost = self._cost(index, tracks, dets)
                rows, cols = linear_sum_assignment(cost)
                for r, c in zip(rows, cols, strict=True):
                    if cost[r, c] < _NO_MATCH:
                        tracks[r].add(index, dets[c], self._camera[index], label in quick)
                        matched.add(c)
            for c, det in enumerate(dets):
                if c not in matched:
                    track = _Track(self._next_id, label, self._segment_start)
                    track.add(index, det, self._camera[index], label in quick)
                    self._tracks.append(track)
                    self._next_id += 1

    def _cost(self, index: int, tracks: list[_Track], dets: list[Detection]) -> np.ndarray:
        """Cost of continuing each track with each detection; ``_NO_MATCH`` where gated out."""
        c = self.config
        pred = np.stack([_extrapolate(t, index, c.fit_frames) for t in tracks])  # T x 4
        to_shot = np.linalg.inv(self._camera[index])
        det = np.stack([_map_box(_array(d.box), to_shot) for d in dets])  # D x 4
        iou = _iou_matrix(pred, det)
        p_size = _sizes(pred)[:, None]
        d_size = _sizes(det)[None, :]
        dist = np.hypot(
            *(_centres(pred)[:, None, :] - _centres(det)[None, :, :]).transpose(2, 0, 1)
        )
        dist /= np.maximum(np.maximum(p_size, d_size), 1e-6)
        ratio = np.maximum(p_size, d_size) / np.maximum(np.minimum(p_size, d_size), 1e-6)
        ok = ((iou >= c.iou_threshold) | (dist <= c.max_distance)) & (ratio <= c.max_scale_change)
        # Overlap dominates; distance breaks ties and rescues fast or tiny boxes with no overlap.
        cost = (1.0 - iou) + 0.5 * dist
        return np.where(ok, cost, _NO_MATCH)

    # -- output ------------------------------------------------------------------------

    def _emit_through(self, last: int) -> list[tuple[int, list[Region]]]:
        out = []
        for f in range(self._next_emit, last + 1):
            regions = []
            for track in self._tracks:
                # Worked out anew: a later detection may have confirmed the track since.
                region = self._settled[(track.id, f)] = self._region(track, f)
                if region is not None:
                    regions.append(self._steadied(track, f, region))
            out.append((f, regions))
        self._next_emit = max(self._next_emit, last + 1)
        # A frame stays known while a frame still to be returned may take its size.
        keep = self._next_emit - self._reach
        self._camera = {f: m for f, m in self._camera.items() if f >= keep}
        self._settled = {key: r for key, r in self._settled.items() if key[1] >= keep}
        self._tracks = [t for t in self._tracks if t.end is None or t.end >= self._next_emit]
        return out

    def _settled_region(self, track: _Track, f: int) -> Region | None:
        """The track's region at frame ``f`` before steadying: as returned, for a frame
        already returned; worked out once, for one still to come."""
        key = (track.id, f)
        if key not in self._settled:
            self._settled[key] = self._region(track, f) if f in self._camera else None
        return self._settled[key]

    def _region(self, track: _Track, f: int) -> Region | None:
        c = self.config
        first, last = track.frames[0], track.last
        before, after = c.extend_before, c.extend_after
        confirmed = self._confirmed(track)
        if not confirmed:
            # Mostly false alarms (measured: 3 in 4 one-hit tracks); a short reach keeps a
            # lone hit covered without smearing each false alarm over a dozen frames.
            before, after = min(before, c.tentative_extend), min(after, c.tentative_extend)
        tail_end = last + after if track.end is None else min(track.end, last + after)
        if not max(first - before, track.start) <= f <= max(last, tail_end):
            return None
        camera = self._camera[f]
        i = bisect.bisect_left(track.frames, f)
        if i < len(track.frames) and track.frames[i] == f:
            box = self._detected_box(track, i, camera)
            return self._make(track, box, track.scores[i], True)
        if f < first or f > last:
            box = _extrapolate(track, f, c.fit_frames)
            distance = first - f if f < first else f - last
        else:
            a, b = track.frames[i - 1], track.frames[i]
            t = (f - a) / (b - a)
            box = (1 - t) * track.boxes[i - 1] + t * track.boxes[i]
            distance = min(f - a, b - f)
            if not confirmed and distance > c.tentative_extend:
                return None
        velocity, jitter = _motion(track.frames, track.boxes, f, c.fit_frames)
        if len(track.full_frames) >= _JITTER_FULL_MIN:
            # Quick and full passes draw a face's box differently; mixed, that difference
            # would pass for shake. Each pass is steady on its own.
            jitter = _motion(track.full_frames, track.full_boxes, f, c.fit_frames)[1]
        box = _grow(box, np.abs(velocity) * c.motion_margin + jitter * c.jitter_margin)
        box = _grow(box, np.full(4, min(c.drift_growth * distance, c.max_drift) * _size(box)))
        return self._make(track, _map_box(box, camera), track.best_score, False)

    def _steadied(self, track: _Track, f: int, region: Region) -> Region:
        """``region`` grown, about its centre, to the largest width and height the track's
        mask has within ``steady`` frames either side, and lifted out of any dip of up to
        ``bridge`` frames between larger masks (final frames, given the lag)."""
        c, reach = self.config, self._reach
        sizes = np.zeros((2 * reach + 1, 2))  # width and height, frames f - reach .. f + reach
        for k in range(f - reach, f + reach + 1):
            near = self._settled_region(track, k)
            if near is not None:
                sizes[k - f + reach] = near.box.width, near.box.height
        size = sizes[reach - c.steady : reach + c.steady + 1].max(axis=0)
        if c.bridge:
            # A closing: the least, over the windows of bridge + 2 frames that hold this one,
            # of each window's largest. Each such window reaches past a dip that short.
            span = c.bridge + 2
            peaks = [sizes[j : j + span].max(axis=0) for j in range(reach - span + 1, reach + 1)]
            size = np.maximum(size, np.min(peaks, axis=0))
        if size[0] == region.box.width and size[1] == region.box.height:
            return region
        cx, cy = (region.box.x1 + region.box.x2) / 2, (region.box.y1 + region.box.y2) / 2
        box = np.array([cx - size[0] / 2, cy - size[1] / 2, cx + size[0] / 2, cy + size[1] / 2])
        return self._make(track, box, region.score, region.detected) or region

    def _confirmed(self, track: _Track) -> bool:
        """Whether the track has earned the full reach (else it is probably a false alarm)."""
        c = self.config
        if len(track.frames) < c.confirm_hits:
            return False
        if track.quick_hits or not track.quick_looks or self.frame_size is None:
            return True
        if track.best_score >= c.sure_score:
            return True
        return track.median_raw_size() < c.quick_min_size * max(self.frame_size)

    def _detected_box(self, track: _Track, i: int, camera: np.ndarray) -> np.ndarray:
        """The detection as found, no smaller than the median size of its neighbours.

        Only the size is smoothed: averaging positions of a shaky track would shift the box
        off the face and, with the union that keeps the detection covered, just grow it.
        Sizes are compared in the shot's coordinates, so a zoom is not mistaken for noise.
        """
        c = self.config
        f = track.frames[i]
        lo = bisect.bisect_left(track.frames, f - c.smoothing)
        hi = bisect.bisect_right(track.frames, f + c.smoothing)
        sizes = np.stack(track.boxes[lo:hi])
        median = np.median(sizes[:, 2:] - sizes[:, :2], axis=0) * _zoom(camera)
        raw = track.raw[i]
        size = np.maximum(raw[2:] - raw[:2], median)
        centre = (raw[:2] + raw[2:]) / 2
        return np.concatenate(
            [np.minimum(raw[:2], centre - size / 2), np.maximum(raw[2:], centre + size / 2)]
        )

    def _make(self, track: _Track, box: np.ndarray, score: float, detected: bool) -> Region | None:
        b = Box(*map(float, box))
        if self.frame_size is not None:
            b = b.clipped(*self.frame_size)
            if b.area <= 0:
                return None
        return Region(box=b, label=track.label, score=score, track=track.id, detected=detected)


class Keyframes:
    """Which frames of a video get the full detectors: every ``every``-th frame counted from
    the last keyframe, and the first frame of every shot (after a cut, everything is new)."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self._last: int | None = None

    def is_key(self, index: int, scene_cut: bool = False) -> bool:
        if scene_cut or self._last is None or index - self._last >= self.every:
            self._last = index
            return True
        return False


_NO_MATCH = 1e6
_JITTER_FULL_MIN = 3  # full detections a track needs before its shake is measured on them alone
_SEEN_IOU = 0.3  # a detection overlapping an expected box this much has found its track


def _sizes(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt(
        np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    )


def _size(box: np.ndarray) -> float:
    return float(_sizes(box[None])[0])


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def _motion(
    frames: Sequence[int], boxes: Sequence[np.ndarray], near: int, fit: int
) -> tuple[np.ndarray, np.ndarray]:
    """Velocity (pixels/frame) and jitter (RMS residual, pixels) of each box side, from a
    least-squares line through the ``fit`` detections nearest frame ``near``: a line through
    several frames shrugs off one jittery detection, and its residual says how far off a
    straight-line guess may be."""
    i = bisect.bisect_left(frames, near)
    lo = max(0, min(i - fit // 2, len(frames) - fit))
    t = np.asarray(frames[lo : lo + fit], dtype=np.float64)
    if len(t) < 2:
        return np.zeros(4), np.zeros(4)
    window = np.stack(boxes[lo : lo + fit])
    tc = t - t.mean()
    centred = window - window.mean(axis=0)
    velocity = (tc @ centred) / (tc @ tc)
    residual = centred - np.outer(tc, velocity)
    return velocity, np.sqrt(np.mean(residual**2, axis=0))


def _extrapolate(track: _Track, f: int, fit: int) -> np.ndarray:
    """Constant-velocity position at ``f`` from the nearer end of the track, size bounded."""
    i = 0 if f < track.frames[0] else -1
    anchor_frame, anchor = track.frames[i], track.boxes[i]
    box = anchor + _motion(track.frames, track.boxes, anchor_frame, fit)[0] * (f - anchor_frame)
    return _bound_size(box, anchor)


def _bound_size(box: np.ndarray, anchor: np.ndarray, limit: float = 1.5) -> np.ndarray:
    """Keep an extrapolated box between 1/limit and limit times the anchor's size."""
    centre = (box[:2] + box[2:]) / 2
    size = np.clip(
        box[2:] - box[:2], (anchor[2:] - anchor[:2]) / limit, (anchor[2:] - anchor[:2]) * limit
    )
    return np.concatenate([centre - size / 2, centre + size / 2])


def _array(box: Box) -> np.ndarray:
    return np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float64)


def _map_box(box: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``box`` through the similarity ``m`` (3x3): its centre moves, its size scales.

    A camera's roll is small between nearby frames; turning the box's corners instead would
    only inflate it into the bounding box of a tilted square.
    """
    centre = m[:2, :2] @ ((box[:2] + box[2:]) / 2) + m[:2, 2]
    half = (box[2:] - box[:2]) / 2 * _zoom(m)
    return np.concatenate([centre - half, centre + half])


def _zoom(m: np.ndarray) -> float:
    """How much ``m`` scales lengths."""
    return float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))


def _grow(box: np.ndarray, sides: np.ndarray) -> np.ndarray:
    return box + np.array([-1.0, -1.0, 1.0, 1.0]) * sides


def is_scene_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """True when ``current`` starts a new shot.

    Two cheap signals must agree: the hue/saturation histogram changed (blind to motion) and
    a tiny grey thumbnail no longer correlates (blind to brightness changes). A false cut ends
    tracks early and costs gap filling, so a pan, a zoom or a flash alone must not count.
    """
    a, b = _thumb(previous), _thumb(current)
    hist_dist = cv2.compareHist(_hs_hist(a), _hs_hist(b), cv2.HISTCMP_BHATTACHARYYA)
    grey_a = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    grey_b = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    if grey_a.std() < 1.0 or grey_b.std() < 1.0:  # a flat frame (fade to black): histogram only
        return hist_dist > _CUT_HIST
    return hist_dist > _CUT_HIST and float(np.corrcoef(grey_a, grey_b)[0, 1]) < _CUT_CORR


_CUT_HIST = 0.5  # Bhattacharyya distance of hue/saturation histograms
_CUT_CORR = 0.5  # correlation of 32x18 grey thumbnails


def _thumb(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)


def _hs_hist(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)
