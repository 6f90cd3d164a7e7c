"""Merging overlapping boxes from several detector passes into one box per object.

Faces and plates both run several passes (scales, views) whose boxes overlap on one object;
each object must cost the area of one box, never less than the surest pass saw.
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge_boxes"]


def merge_boxes(
    boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3, sources: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping boxes into one each: the score-weighted mean of the group, grown to
    the group's highest-scoring member (so the merged box never covers less than the best one).

    A group scores its best member's score; with ``sources`` (which pass each box came from),
    it scores ``1 - prod(1 - best score of each source)`` instead.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order].astype(np.float32), scores[order].astype(np.float32)
    if sources is not None:
        sources = sources[order]
    areas = _area(boxes)
    free = np.ones(len(boxes), dtype=bool)
    out_boxes, out_scores = [], []
    for i in range(len(boxes)):
        if not free[i]:
            continue
        inter = _area(
            np.concatenate(
                [np.maximum(boxes[i, :2], boxes[:, :2]), np.minimum(boxes[i, 2:], boxes[:, 2:])],
                axis=1,
            )
        )
        group = free & (inter / (areas[i] + areas - inter + 1e-9) >= iou)
        group[i] = True
        free &= ~group
        weights = scores[group][:, None]
        mean = (boxes[group] * weights).sum(axis=0) / weights.sum()
        best = boxes[i]
        out_boxes.append(
            np.concatenate([np.minimum(mean[:2], best[:2]), np.maximum(mean[2:], best[2:])])
        )
        if sources is None:
            out_scores.append(scores[i])
        else:
            per_source = [scores[group & (sources == k)].max() for k in np.unique(sources[group])]
            out_scores.append(1.0 - np.prod(1.0 - np.array(per_source, np.float32)))
    return np.array(out_boxes, dtype=np.float32).reshape(-1, 4), np.array(out_scores, np.float32)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
