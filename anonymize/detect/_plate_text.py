"""Plate-shaped text lines from the PP-OCRv4 text detector, a second opinion for plates.

The plate YOLO misses plates among heavy lettering (vans with painted phone numbers, plates
behind fences); a text detector finds the characters there. Its probability map is
thresholded, each connected blob becomes a box grown as PaddleOCR's "unclip" grows it, and
only lines shaped like a plate's text are kept, grown again to the whole plate. Other text
of that shape is obscured too: on a van, a phone number identifies as well as a plate.

The model is ``ch_PP-OCRv4_det_infer.onnx`` from the ``rapidocr-onnxruntime`` 1.4.4 wheel
(Apache-2.0; model by PaddleOCR, Apache-2.0), installed without its dependencies: we only
read the file.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from anonymize import runtime

__all__ = ["find_text_plates", "text_model_path"]

TEXT_NETWORK = "pp-ocrv4-det"
_LONG_SIDE = 960
_PIXEL_THRESHOLD = 0.3  # PaddleOCR's defaults for this model
_BOX_THRESHOLD = 0.5
_UNCLIP_RATIO = 1.6
_MIN_AREA = 6  # blobs smaller than this (in map pixels) are noise
_ASPECT = (1.2, 6.0)  # width / height of a plate's line of characters
_LOCK = threading.Lock()


def text_model_path() -> Path:
    """Where the installed ``rapidocr-onnxruntime`` wheel keeps the text detector."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the text model is missing: reinstall anonymize, which depends on "
            "rapidocr-onnxruntime==1.4.4"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models"
    path = path / "ch_PP-OCRv4_det_infer.onnx"
    if not path.is_file():
        raise RuntimeError(f"the text model file {path} is missing; reinstall rapidocr-onnxruntime")
    return path


@cache
def text_network(backend: runtime.Backend) -> runtime.Network:
    """The text detector, loaded once per process and backend."""
    return runtime.load(text_model_path(), TEXT_NETWORK, backend)


def _probability_map(frame: np.ndarray, backend: runtime.Backend) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = _LONG_SIDE / max(h, w)
    nw, nh = (max(32, round(v * scale / 32) * 32) for v in (w, h))
    blob = cv2.dnn.blobFromImage(cv2.resize(frame, (nw, nh)), 2 / 255, mean=(127.5,) * 3)
    with _LOCK:
        network = text_network(backend)
    return network.run(blob)[0][0, 0]


def find_text_plates(
    frame: np.ndarray, backend: runtime.Backend = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Plate-sized boxes ``(n, 4)`` x1, y1, x2, y2 in frame pixels around plate-shaped text,
    and their mean text probability ``(n,)``."""
    prob = _probability_map(frame, backend)
    mask = cv2.dilate((prob > _PIXEL_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n)
    x, y, w, h, area = stats[1:].T.astype(np.float32)
    score = sums[1:] / np.maximum(area, 1)
    grow = area * _UNCLIP_RATIO / (2 * (w + h))
    x1, y1, x2, y2 = x - grow, y - grow, x + w + grow, y + h + grow
    aspect = (x2 - x1) / (y2 - y1)
    keep = (
        (area >= _MIN_AREA)
        & (score >= _BOX_THRESHOLD)
        & (aspect >= _ASPECT[0])
        & (aspect <= _ASPECT[1])
    )
    boxes = np.stack([x1, y1, x2, y2], axis=1)[keep]
    # Characters fill about the middle half of a plate's height and most of its width.
    lw, lh = (boxes[:, 2] - boxes[:, 0]), (boxes[:, 3] - boxes[:, 1])
    boxes += np.stack([-0.15 * lw, -0.5 * lh, 0.15 * lw, 0.5 * lh], axis=1)
    sy, sx = frame.shape[0] / prob.shape[0], frame.shape[1] / prob.shape[1]
    return boxes * np.array([sx, sy, sx, sy], np.float32), score[keep]
