"""The one interface every detector implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from anonymize.types import Detection

__all__ = ["Detector", "QuickDetector"]


@runtime_checkable
class Detector(Protocol):
    """Finds things to obscure in one upright BGR frame.

    ``name`` identifies the model in reports; ``labels`` says what it can find. A detector
    raises on a frame it cannot analyse: the pipeline then fails closed.
    """

    name: str
    labels: tuple[str, ...]

    def detect(self, frame: np.ndarray) -> list[Detection]: ...


@runtime_checkable
class QuickDetector(Detector, Protocol):
    """A detector with a cheap pass for the frames of a video between its keyframes.

    The pipeline runs ``detect`` on keyframes (every few frames and at every scene cut) and
    ``detect_quick`` in between; the tracker carries keyframe detections across the frames in
    between. A detector without ``detect_quick`` runs in full on every frame.
    """

    def detect_quick(self, frame: np.ndarray) -> list[Detection]: ...
