"""MediaPipe BlazeFace (short and full range), as shipped in the ``mediapipe`` wheel.

BlazeFace looks at a fixed 128 px (short range) or 192 px (full range) picture of whatever it
is given, so on a large frame it only sees large faces; ``FaceDetector`` runs it on tiles too.
It is the model that holds on to profiles and tilted heads where CenterFace lets go.

The wheel's TensorFlow Lite files run on OpenVINO (:mod:`anonymize.runtime`), decoded as
MediaPipe's graph decodes them (:mod:`anonymize.detect.ssd`): about half the CPU a call, and
no MediaPipe import and graph build (0.6 s of a thread's CPU before a video's first frame).
Where OpenVINO cannot run them (``onnxruntime`` forced, or OpenVINO missing), MediaPipe's own
graph does, as before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from anonymize import runtime
from anonymize.detect import ssd
from anonymize.types import Box, Detection, Label

__all__ = ["BlazeFace", "model_path"]

# By model: MediaPipe's model_selection, the wheel's file and its anchors and input size.
_MODELS = {
    "short": (0, "face_detection_short_range.tflite", ssd.SHORT),
    "full": (1, "face_detection_full_range_sparse.tflite", ssd.FULL),
}
_SILENCE = threading.Lock()
# An RGB picture in, boxes (N x 4, x1 y1 x2 y2 in its pixels) and scores out.
Runner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def model_path(model: str) -> Path:
    """Where the installed ``mediapipe`` wheel keeps a model's file (found without importing
    MediaPipe, which is slow to import and not needed to read the file)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'mediapipe' package (which ships BlazeFace) is not installed")
    folder = Path(list(spec.submodule_search_locations)[0], "modules", "face_detection")
    return folder / _MODELS[model][1]


class BlazeFace:
    """Faces from one BlazeFace model on a BGR image; the model loads on first use, on
    ``backend`` where it can (see the module's note)."""

    labels: tuple[Label, ...] = ("face",)

    def __init__(
        self, model: str = "full", threshold: float = 0.5, backend: runtime.Backend = "auto"
    ) -> None:
        if model not in _MODELS:
            raise ValueError(f"unknown BlazeFace model {model!r}; choose from {sorted(_MODELS)}")
        self.model = model
        self.threshold = threshold
        self.backend = backend
        self.name = f"blazeface-{model}"
        self.engine = ""  # where it runs, once loaded
        self._runner: Runner | None = None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        boxes, scores = self.raw(frame)
        return [
            Detection(Box(*map(float, b)), float(s), "face", self.name)
            for b, s in zip(boxes, scores, strict=True)
        ]

    def raw(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2 in frame pixels) and scores."""
        boxes, scores = self._get_runner()(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        keep = scores >= self.threshold
        return boxes[keep].reshape(-1, 4), scores[keep]

    def prepare(self) -> None:
        """Load the model now rather than on first use."""
        self._get_runner()

    def _get_runner(self) -> Runner:
        if self._runner is None:
            try:
                network = runtime.load_tflite(model_path(self.model), self.name, self.backend)
                runner = _network_runner(network, _MODELS[self.model][2])
                self.engine = str(network.engine)
            except runtime.RuntimeFailure:
                runner = _mediapipe_runner(self.model)
                self.engine = "mediapipe"
            self._runner = runner
        return self._runner


def _network_runner(network: runtime.Network, layout: ssd.Layout) -> Runner:
    def run(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tensor, side, x0, y0 = ssd.letterboxed(image, layout.size)
        regressors, logits = sorted(network.run(tensor), key=lambda out: -out.shape[-1])
        boxes, scores = layout.decode(regressors, logits)
        return boxes * side + np.array([x0, y0, x0, y0], np.float32), scores

    run(np.zeros((8, 8, 3), np.uint8))  # OpenVINO sets up its buffers on the first call
    return run


def _mediapipe_runner(model: str) -> Runner:
    with _native_logs_silenced():
        from mediapipe.python.solutions import face_detection

        # Its threshold is the graph's own (ssd.SHORT, ssd.FULL) whatever this says.
        solution = face_detection.FaceDetection(model_selection=_MODELS[model][0])
        solution.process(np.zeros((8, 8, 3), np.uint8))  # TFLite logs on first use

    def run(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        found = solution.process(image).detections or []
        boxes = np.array(
            [
                (b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height)
                for b in (d.location_data.relative_bounding_box for d in found)
            ],
            dtype=np.float32,
        ).reshape(-1, 4)
        scores = np.array([d.score[0] for d in found], dtype=np.float32)
        return boxes * np.array([w, h, w, h], np.float32), scores

    return run


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
