"""Detectors: one module per model family behind the Detector interface (see base.py)."""

from __future__ import annotations

from anonymize.config import Settings
from anonymize.detect.base import Detector

__all__ = ["Detector", "build_detectors"]


def build_detectors(settings: Settings) -> list[Detector]:
    """The detectors a run needs for its targets; models load lazily on first use."""
    detectors: list[Detector] = []
    if "faces" in settings.targets:
        from anonymize.detect.faces import FaceDetector

        detectors.append(FaceDetector(settings.sensitivity, backend=settings.backend))
    if "plates" in settings.targets:
        from anonymize.detect.plates import PlateDetector

        detectors.append(PlateDetector(settings.sensitivity, backend=settings.backend))
    return detectors
