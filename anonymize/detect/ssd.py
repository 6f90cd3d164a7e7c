"""BlazeFace's raw outputs turned into boxes, the way MediaPipe's face detection graph does it.

MediaPipe's graph (``mediapipe/modules/face_detection/face_detection.pbtxt``) letterboxes the
picture into a square, runs the network, places each of its outputs relative to a fixed SSD
anchor, keeps those scoring the threshold, and merges overlapping boxes by a score-weighted
average ("weighted" non-maximum suppression). Running the network ourselves (on
:mod:`anonymize.runtime`) needs the same steps outside MediaPipe; the options are the
graph's, for the two models the wheel ships (:data:`SHORT`, :data:`FULL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from anonymize.track.geometry import iou_matrix

__all__ = ["FULL", "SHORT", "Layout", "letterboxed", "weighted_nms"]

_NMS_IOU = 0.3  # the graph's min_suppression_threshold


@dataclass(frozen=True)
class Layout:
    """One model's input size, anchor grid and score threshold (the graph's
    ``FaceDetectionOptions``; the threshold is applied before boxes merge, so a caller's own
    threshold, applied after, changes nothing else: MediaPipe's Python solution works so too).

    Anchors sit at the centre of every cell of each layer's grid, one per layer and one more
    where ``interpolated`` (layers of the same stride share a grid); their size is fixed, so
    an output's box is its own offsets divided by ``size``, around the anchor's centre.
    """

    size: int
    strides: tuple[int, ...]
    interpolated: bool
    min_score: float

    @cached_property
    def anchors(self) -> np.ndarray:
        """The anchors' centres (N x 2, x y, as shares of the input), in the network's order."""
        centres = []
        i = 0
        while i < len(self.strides):
            stride, per_cell = self.strides[i], 0
            while i < len(self.strides) and self.strides[i] == stride:
                per_cell += 2 if self.interpolated else 1
                i += 1
            cells = -(-self.size // stride)
            ys, xs = np.mgrid[:cells, :cells]
            grid = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) / cells
            centres.append(np.repeat(grid, per_cell, axis=0))
        return np.concatenate(centres).astype(np.float32)

    def decode(self, regressors: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (x1 y1 x2 y2, as shares of the square input) and scores of the outputs
        scoring ``min_score``, merged."""
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
        keep = np.flatnonzero(scores >= self.min_score)
        raw = regressors.reshape(-1, regressors.shape[-1])[keep, :4] / self.size
        centre = raw[:, :2] + self.anchors[keep]
        half = raw[:, 2:] / 2
        boxes = np.hstack([centre - half, centre + half])
        return weighted_nms(boxes, scores[keep].astype(np.float32))


SHORT = Layout(size=128, strides=(8, 16, 16, 16), interpolated=True, min_score=0.5)
FULL = Layout(size=192, strides=(4,), interpolated=False, min_score=0.6)


def letterboxed(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """``image`` (RGB) centred in a black square and resized to ``size``, as the graph's
    ImageToTensor does it (the square's corners onto the tensor's, bilinear, values -1 to 1),
    with the square's side and where its top left corner lies in ``image``: a box as shares
    of the square maps back by ``* side + corner``."""
    h, w = image.shape[:2]
    side = float(max(h, w))
    x0, y0 = (w - side) / 2, (h - side) / 2
    s = size / side
    warp = np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])
    small = cv2.warpAffine(image, warp, (size, size), flags=cv2.INTER_LINEAR)
    tensor = small.astype(np.float32) * (2.0 / 255.0) - 1.0
    return tensor[None], side, x0, y0


def weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best box first; every box overlapping it by more than ``_NMS_IOU`` (itself included)
    is merged into their score-weighted average, which keeps the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    merged, merged_scores = [], []
    left = np.arange(len(scores))
    while len(left):
        first = boxes[left[0]]
        near = iou_matrix(first[None], boxes[left])[0] > _NMS_IOU
        near[0] = True
        group = left[near]
        weights = scores[group]
        merged.append((boxes[group] * weights[:, None]).sum(axis=0) / weights.sum())
        merged_scores.append(scores[left[0]])
        left = left[~near]
    return (
        np.array(merged, np.float32).reshape(-1, 4),
        np.array(merged_scores, np.float32),
    )
