"""Close looks: CenterFace on small views around boxes where a face may be, in one batch.

Each box is seen with half its size of context on each side, in a view of ``VIEW`` pixels
where the face is about half the height (enlarged at most ``UPSCALE`` times): about as tall
as CenterFace is surest of. Between keyframes the face detector looks so where the tracker
expects a face; on keyframes it looks so, mirrored and as they are, at faint small
candidates. Larger views found no more faces and cost more (docs/tuning.md, Face detector).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from anonymize.detect.centerface import CenterFace
from anonymize.types import Box

__all__ = ["close_looks", "looked_again"]

CONTEXT = 0.5
VIEW = 64
UPSCALE = 4.0


def close_looks(
    centerface: CenterFace, frame: np.ndarray, where: Sequence[Box], mirrored: bool = False
) -> list[tuple[list[Box], np.ndarray]]:
    """CenterFace's boxes (frame pixels) and scores in a close view of each of ``where``;
    ``mirrored`` views are flipped left to right (a second look that is not the same look)."""
    if not where:
        return []
    h, w = frame.shape[:2]
    maps, views = [], []
    for box in where:
        side = max(box.width, box.height, 1.0) * (1 + 2 * CONTEXT)
        scale = min(VIEW / side, UPSCALE)
        cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
        m = np.array([[scale, 0, VIEW / 2 - scale * cx], [0, scale, VIEW / 2 - scale * cy]])
        if mirrored:
            m[0] = -m[0]
            m[0, 2] += VIEW
        maps.append(m)
        views.append(cv2.warpAffine(frame, m, (VIEW, VIEW)))
    looks = []
    for m, (boxes, scores) in zip(maps, centerface.raw_views(np.stack(views)), strict=True):
        back = cv2.invertAffineTransform(m)
        corners = np.stack([boxes[:, :2], boxes[:, 2:]], axis=1) @ back[:, :2].T + back[:, 2]
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        found = [Box(*map(float, (*a, *b))).clipped(w, h) for a, b in zip(lo, hi, strict=True)]
        looks.append((found, scores))
    return looks


def looked_again(
    centerface: CenterFace,
    frame: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    chosen: np.ndarray,
    iou: float,
) -> np.ndarray:
    """``scores`` with each ``chosen`` box (a mask) looked at again, closely, twice: mirrored
    and as it is. In each look the best score of a box overlapping it by ``iou`` adds up with
    its own, as another pass's evidence does (``1 - (1 - a)(1 - b)``): the two views differ
    enough that a faint face one of them misses the other often finds (docs/tuning.md, Face
    detector, ``look_again_px``)."""
    where = np.flatnonzero(chosen)
    if not len(where):
        return scores
    h, w = frame.shape[:2]
    candidates = [Box(*map(float, boxes[i])).clipped(w, h) for i in where]
    scores = scores.copy()
    for mirrored in (True, False):
        looks = close_looks(centerface, frame, candidates, mirrored=mirrored)
        for i, candidate, (found, found_scores) in zip(where, candidates, looks, strict=True):
            overlapping = [
                s for b, s in zip(found, found_scores, strict=True) if b.iou(candidate) >= iou
            ]
            scores[i] = 1 - (1 - scores[i]) * (1 - max(overlapping, default=0.0))
    return scores
