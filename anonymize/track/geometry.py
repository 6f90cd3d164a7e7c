"""Boxes as arrays ``[x1, y1, x2, y2]``: the arithmetic the tracker does on many at a time.

Kept apart from :class:`anonymize.types.Box` because association and coverage work on stacks
of boxes with numpy, and on boxes in the shot's coordinates, which are no frame's pixels.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from anonymize.types import Box

__all__ = [
    "as_array",
    "bound_size",
    "centres",
    "fit_line",
    "line_window",
    "grow",
    "iou_matrix",
    "map_box",
    "size",
    "sizes",
    "zoom",
]


def as_array(box: Box) -> np.ndarray:
    return np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float64)


def sizes(boxes: np.ndarray) -> np.ndarray:
    """Each box's size as one length (the root of its area), so faces and plates of any
    shape compare on one scale."""
    return np.sqrt(
        np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    )


def size(box: np.ndarray) -> float:
    return float(sizes(box[None])[0])


def centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (rows) with every box of ``b``."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def line_window(frames: Sequence[int], near: int, fit: int) -> tuple[int, int]:
    """The slice (start, stop) of the ``fit`` entries of the sorted ``frames`` nearest
    frame ``near``: what :func:`fit_line` fits a line through."""
    i = bisect.bisect_left(frames, near)
    lo = max(0, min(i - fit // 2, len(frames) - fit))
    return lo, min(lo + fit, len(frames))


def fit_line(frames: Sequence[int], boxes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Velocity (pixels/frame) and jitter (RMS residual, pixels) of each box side, from a
    least-squares line through ``boxes`` found at ``frames``: a line through several frames
    shrugs off one jittery detection, and its residual says how far off a straight-line guess
    may be."""
    t = np.asarray(frames, dtype=np.float64)
    if len(t) < 2:
        return np.zeros(4), np.zeros(4)
    window = np.stack(boxes)
    tc = t - t.mean()
    centred = window - window.mean(axis=0)
    velocity = (tc @ centred) / (tc @ tc)
    residual = centred - np.outer(tc, velocity)
    return velocity, np.sqrt(np.mean(residual**2, axis=0))


def bound_size(box: np.ndarray, anchor: np.ndarray, limit: float) -> np.ndarray:
    """``box`` about its centre, its width and height kept between 1/``limit`` and ``limit``
    times the anchor's: a straight line through a few sizes would otherwise let an
    extrapolated box grow or vanish."""
    centre = (box[:2] + box[2:]) / 2
    extent = np.clip(
        box[2:] - box[:2], (anchor[2:] - anchor[:2]) / limit, (anchor[2:] - anchor[:2]) * limit
    )
    return np.concatenate([centre - extent / 2, centre + extent / 2])


def map_box(box: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``box`` through the similarity ``m`` (3x3): its centre moves, its size scales.

    A camera's roll is small between nearby frames; turning the box's corners instead would
    only inflate it into the bounding box of a tilted square.
    """
    centre = m[:2, :2] @ ((box[:2] + box[2:]) / 2) + m[:2, 2]
    half = (box[2:] - box[:2]) / 2 * zoom(m)
    return np.concatenate([centre - half, centre + half])


def zoom(m: np.ndarray) -> float:
    """How much ``m`` scales lengths."""
    return float(np.sqrt(abs(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])))


def grow(box: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """``box`` with each side moved outwards by the matching entry of ``sides``."""
    return box + np.array([-1.0, -1.0, 1.0, 1.0]) * sides
