"""The one interface every detector implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from anonymize.types import Detection

__all__ = ["Detector"]


@runtime_checkable
class Detector(Protocol):
    """Finds things to obscure in one upright BGR frame.

    ``name`` identifies the model in reports; ``labels`` says what it can find. A detector
    raises on a frame it cannot analyse: the pipeline then fails closed.
    """

    name: str
    labels: tuple[str, ...]

    def detect(self, frame: np.ndarray) -> list[Detection]: ...
