"""MediaPipe BlazeFace (short and full range), as shipped in the ``mediapipe`` wheel.

BlazeFace looks at a fixed 128 px (short range) or 192 px (full range) picture of whatever it
is given, so on a large frame it only sees large faces; ``FaceDetector`` runs it on tiles too.
It is the model that holds on to profiles and tilted heads where CenterFace lets go.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

import cv2
import numpy as np

from anonymize.types import Box, Detection, Label

__all__ = ["BlazeFace"]

_MODELS = {"short": 0, "full": 1}
_SILENCE = threading.Lock()


class BlazeFace:
    """Faces from one BlazeFace model on a BGR image; the graph is built on first use."""

    labels: tuple[Label, ...] = ("face",)

    def __init__(self, model: str = "full", threshold: float = 0.5) -> None:
        if model not in _MODELS:
            raise ValueError(f"unknown BlazeFace model {model!r}; choose from {sorted(_MODELS)}")
        self.model = model
        self.threshold = threshold
        self.name = f"blazeface-{model}"
        self._solution = None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        boxes, scores = self.raw(frame)
        return [
            Detection(Box(*map(float, b)), float(s), "face", self.name)
            for b, s in zip(boxes, scores, strict=True)
        ]

    def raw(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2 in frame pixels) and scores."""
        h, w = frame.shape[:2]
        result = self._get_solution().process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        # The graph applies its threshold before merging, so merged scores can fall below it.
        found = [d for d in result.detections or [] if d.score[0] >= self.threshold]
        boxes = np.array(
            [
                (b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height)
                for b in (d.location_data.relative_bounding_box for d in found)
            ],
            dtype=np.float32,
        ).reshape(-1, 4)
        boxes *= np.array([w, h, w, h], dtype=np.float32)
        scores = np.array([d.score[0] for d in found], dtype=np.float32)
        return boxes, scores

    def prepare(self) -> None:
        """Build the graph now rather than on first use."""
        self._get_solution()

    def _get_solution(self):
        if self._solution is None:
            with _native_logs_silenced():
                from mediapipe.python.solutions import face_detection

                solution = face_detection.FaceDetection(
                    model_selection=_MODELS[self.model], min_detection_confidence=self.threshold
                )
                solution.process(np.zeros((8, 8, 3), np.uint8))  # TFLite logs on first use
            self._solution = solution
        return self._solution


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """Send the process's stderr to /dev/null while MediaPipe builds its graph: its C++ logs
    (TFLite delegate notes, absl warnings) would otherwise break the CLI's one-line output.
    Failures still surface as Python exceptions. One graph at a time: two threads swapping
    the descriptor at once would leave it pointing at /dev/null for good."""
    with _SILENCE:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
