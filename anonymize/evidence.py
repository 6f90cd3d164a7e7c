"""Faint face candidates that recur at the same place, across a video's full passes.

The face detector keeps a candidate when its passes together are sure enough of it (the fused
rule of :mod:`anonymize.detect.faces`): evidence from several scales adds up. A face too
small, blurred or turned to pass in any one frame often scores just short of that in frame
after frame, where a texture's false alarm flickers on and off. So across the full passes of
a shot, a faint candidate seen again where the camera's motion has carried an earlier one
adds up the same way, and is kept once the evidence of ``MIN_PASSES`` passes reaches what it
needed plus ``MARGIN``. The figures behind these values are in docs/tuning.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from anonymize.track.geometry import as_array, map_box
from anonymize.types import Box, Candidate, Detection

__all__ = ["MARGIN", "MIN_PASSES", "Evidence"]

WINDOW = 8  # frames a faint candidate is remembered for
MIN_PASSES = 2  # full passes (this one included) a place must be seen faintly in
MARGIN = 0.1  # over what a candidate needed on its own, the pooled evidence must reach
SAME_PLACE_IOU = 0.4  # a candidate this close to a carried one is seen again
SOURCE = "faces-over-time"  # Detection.source of what the evidence keeps


@dataclass
class _Seen:
    box: np.ndarray  # in the current frame's pixels, carried with the camera
    score: float
    frame: int


class Evidence:
    """Faint candidates of a shot's recent full passes, carried with the camera's motion."""

    def __init__(self) -> None:
        self._seen: list[_Seen] = []

    def follow(self, motion: np.ndarray, scene_cut: bool) -> None:
        """Carry what is remembered into the next frame (``motion``: the camera's 2x3 map
        from the previous frame); a cut starts afresh, since nothing carries across it."""
        if scene_cut:
            self._seen.clear()
        for seen in self._seen:
            seen.box = map_box(seen.box, motion)

    def add(self, index: int, candidates: Sequence[Candidate]) -> list[Detection]:
        """The faint ``candidates`` of full pass ``index`` that earlier passes back up enough
        to keep, as detections; every candidate is remembered for the passes to come."""
        self._seen = [s for s in self._seen if index - s.frame <= WINDOW]
        kept = []
        for candidate in candidates:
            box = as_array(candidate.box)
            best: dict[int, float] = {}  # the strongest earlier sighting, per pass
            for seen in self._seen:
                if seen.frame < index and _iou(seen.box, box) >= SAME_PLACE_IOU:
                    best[seen.frame] = max(best.get(seen.frame, 0.0), seen.score)
            pooled = 1 - (1 - candidate.score) * float(np.prod([1 - s for s in best.values()]))
            if len(best) + 1 >= MIN_PASSES and pooled >= candidate.needed + MARGIN:
                kept.append(Detection(candidate.box, pooled, candidate.label, SOURCE))
        self._seen += [_Seen(as_array(c.box), c.score, index) for c in candidates]
        return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return Box(*a).iou(Box(*b))
