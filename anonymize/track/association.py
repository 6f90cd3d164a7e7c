"""Which detection continues which track: a cost for every pair, gates, one assignment.

:func:`match` is generic: it takes a cost callback and one gate, the cost a pair must stay
below to be matched, and solves the assignment (Hungarian, scipy). :func:`prediction_cost`
is the tracker's callback: overlap and centre distance against each track's
constant-velocity prediction, with the pairs its gates rule out priced at infinity.
Faces and plates in footage move smoothly enough that a Kalman filter buys nothing
measurable here, and a line fitted to a track's last few detections has no state to tune.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment

from anonymize.track.config import TrackerConfig
from anonymize.track.geometry import as_array, centres, iou_matrix, map_box, sizes
from anonymize.track.track import Track
from anonymize.types import Detection

__all__ = ["CostFn", "Matching", "match", "prediction_cost"]

T = TypeVar("T")
D = TypeVar("D")
CostFn = Callable[[Sequence[T], Sequence[D]], np.ndarray]

# What the solver is given for a pair that may not be matched: it wants finite costs, and
# this is far above any allowed pair's, so it only ever takes such a pair when nothing else
# is left, and that pair is then dropped.
_UNMATCHABLE = 1e6


@dataclass(frozen=True)
class Matching(Generic[T, D]):
    """Matched (track, detection) pairs, the tracks left unmatched and the detections no track
    takes, each in input order."""

    pairs: list[tuple[T, D]]
    unmatched_tracks: list[T]
    unmatched_detections: list[D]


def match(
    cost: CostFn, gate: float, tracks: Sequence[T], detections: Sequence[D]
) -> Matching[T, D]:
    """The assignment of ``detections`` to ``tracks`` of least total cost, where
    ``cost(tracks, detections)`` gives the cost of every pair (tracks as rows) and a pair
    costing ``gate`` or more is never matched."""
    if not tracks or not detections:
        return Matching([], list(tracks), list(detections))
    costs = cost(tracks, detections)
    allowed = costs < gate
    rows, cols = linear_sum_assignment(np.where(allowed, costs, _UNMATCHABLE))
    pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
    matched_rows, matched_cols = {r for r, _ in pairs}, {c for _, c in pairs}
    return Matching(
        [(tracks[r], detections[c]) for r, c in pairs],
        [t for r, t in enumerate(tracks) if r not in matched_rows],
        [d for c, d in enumerate(detections) if c not in matched_cols],
    )


def prediction_cost(
    config: TrackerConfig, index: int, camera: np.ndarray
) -> CostFn[Track, Detection]:
    """The cost of continuing each track with each detection of frame ``index``, whose
    camera map (shot's coordinates to the frame's pixels) is ``camera``."""
    to_shot = np.linalg.inv(camera)

    def cost(tracks: Sequence[Track], detections: Sequence[Detection]) -> np.ndarray:
        predicted = np.stack([t.extrapolate(index) for t in tracks])  # T x 4
        found = np.stack([map_box(as_array(d.box), to_shot) for d in detections])  # D x 4
        return _gated_cost(predicted, found, config)

    return cost


def _gated_cost(predicted: np.ndarray, found: np.ndarray, c: TrackerConfig) -> np.ndarray:
    """1 - IoU plus ``distance_weight`` per box size between centres; infinite where the
    pair neither overlaps nor lies near enough, or where the sizes differ too much."""
    iou = iou_matrix(predicted, found)
    p_size = sizes(predicted)[:, None]
    d_size = sizes(found)[None, :]
    dist = np.hypot(
        *(centres(predicted)[:, None, :] - centres(found)[None, :, :]).transpose(2, 0, 1)
    )
    dist /= np.maximum(np.maximum(p_size, d_size), 1e-6)
    ratio = np.maximum(p_size, d_size) / np.maximum(np.minimum(p_size, d_size), 1e-6)
    ok = ((iou >= c.iou_threshold) | (dist <= c.max_distance)) & (ratio <= c.max_scale_change)
    cost = (1.0 - iou) + c.distance_weight * dist
    return np.where(ok, cost, np.inf)
