"""Every number the tracker is tuned by, in one place, with what each one does.

The measurements behind the defaults are in ``docs/tuning.md`` (section "Tracker"), each with
the command that produced it and when; they are kept out of the code because each tuning run
changes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["TrackerConfig"]


@dataclass(frozen=True)
class TrackerConfig:
    """How detections are linked into tracks and how far coverage reaches beyond them.

    The defaults lean to covering too much. Motion, shake and drift are measured in the
    shot's coordinates: given the camera's motion, they are the subject's own and the
    detector's noise, not the camera's, so the margins can be smaller than a tracker blind to
    the camera would need.
    """

    # Frames covered before a track's first detection and after its last, at positions
    # extrapolated from its motion.
    extend_before: int = 5
    extend_after: int = 8
    # A track unseen for more frames than this is over; shorter gaps are bridged.
    max_gap: int = 12
    # A detection may continue a track only if it overlaps the track's prediction by this
    # IoU or has its centre within ``max_distance`` box sizes of the prediction's, ...
    iou_threshold: float = 0.1
    max_distance: float = 1.5
    # ... and only if their sizes differ by at most this ratio.
    max_scale_change: float = 2.0
    # Predicted boxes (gaps, extensions) grow on each side by ``motion_margin`` frames of
    # that side's recent motion, by ``jitter_margin`` times the track's shake (RMS distance
    # of its detections from a straight-line motion), and by ``drift_growth`` of the box's
    # size per frame away from the nearest detection, up to ``max_drift``: the further a
    # prediction goes, the less certain it is.
    motion_margin: float = 1.0
    jitter_margin: float = 1.5
    drift_growth: float = 0.04
    max_drift: float = 0.3
    # Half-width in frames of the window whose median size a detected box is never smaller
    # than (only sizes are smoothed, never positions).
    smoothing: int = 2
    # Each region is as large as its track's largest within ``steady`` frames either side,
    # so a mask does not pulse where detected and larger carried boxes alternate, ...
    steady: int = 1
    # ... and is lifted out of a dip of up to ``bridge`` frames between larger ones, where
    # the detector draws a face smaller for a few frames.
    bridge: int = 3
    # Detections a track's velocity is fitted to (a straight line through them).
    fit_frames: int = 5
    # Detections before a track is confirmed and gets the full extension; until then it is
    # tentative, most often a false alarm, and reaches ``tentative_extend`` frames each way.
    confirm_hits: int = 2
    tentative_extend: int = 2
    # A track at least this large (share of the frame's larger side) that a quick pass looked
    # for and never found, with no full detection scoring ``sure_score`` or more, stays
    # tentative: the quick pass sees faces that large, so its silence says false alarm.
    quick_min_size: float = 0.047
    sure_score: float = 0.9
    # A pair costs 1 - IoU plus this much per box size between the centres: overlap
    # dominates; distance breaks ties and rescues fast or tiny boxes that do not overlap.
    distance_weight: float = 0.5
    # Pairs costing this much or more are never matched; by default every pair the gates
    # let through may be.
    max_cost: float = math.inf
    # An extrapolated box stays within this factor of its nearest detection's width and
    # height: a line through a few noisy sizes must not make a box balloon or vanish.
    max_extrapolated_scale: float = 1.5
    # Full detections a track needs before its shake is measured on them alone: a quick pass
    # draws a face's box differently, and mixed, that difference would pass for shake.
    full_shake_min: int = 3
    # A detection overlapping an expected box (``Tracker.expected``) this much has found its
    # track, which then need not be looked for closely.
    seen_iou: float = 0.3

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
        if self.max_extrapolated_scale < 1:
            raise ValueError("max_extrapolated_scale must be >= 1")
