"""The one interface every detector implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from anonymize.types import Box, Candidate, Detection, Label

__all__ = ["Detector", "FaintDetector", "NearDetector", "QuickDetector", "SizedDetector"]


@runtime_checkable
class Detector(Protocol):
    """Finds things to obscure in one upright BGR frame.

    ``name`` identifies the model in reports; ``labels`` says what it can find. A detector
    raises on a frame it cannot analyse: the pipeline then fails closed.
    """

    name: str
    labels: tuple[Label, ...]

    def detect(self, frame: np.ndarray) -> list[Detection]: ...


@runtime_checkable
class QuickDetector(Detector, Protocol):
    """A detector with a cheap pass for the frames of a video between its keyframes.

    The pipeline runs ``detect`` on keyframes (every few frames and at every scene cut) and
    ``detect_quick`` in between; the tracker carries keyframe detections across the frames in
    between. A detector without ``detect_quick`` runs in full on every frame.
    """

    def detect_quick(self, frame: np.ndarray) -> list[Detection]: ...


@runtime_checkable
class NearDetector(QuickDetector, Protocol):
    """A quick detector that can also look closely where the tracker expects something.

    Between keyframes the pipeline asks ``detect_near`` about the tracks the quick pass did
    not find, with the boxes where the tracker expects them: what it finds there is covered
    as detected, where it is, rather than carried with the margins a guess needs.
    """

    def detect_near(self, frame: np.ndarray, near: Sequence[Box]) -> list[Detection]: ...


@runtime_checkable
class FaintDetector(Detector, Protocol):
    """A detector that also says what it found too faintly to keep.

    On a video's keyframes the pipeline asks ``detect_faint`` instead of ``detect``: the
    faint candidates of successive keyframes that recur at the same place add up
    (:mod:`anonymize.evidence`), as a face too faint to pass in any one frame does. A photo
    gets ``detect``, which may look harder: nothing over time can add to one frame, and its
    cost is paid once.
    """

    def detect_faint(self, frame: np.ndarray) -> tuple[list[Detection], list[Candidate]]: ...


@runtime_checkable
class SizedDetector(Detector, Protocol):
    """A detector that can prepare for many frames of one size.

    Before a video's first frame the pipeline calls ``expect_size`` with the frames' width
    and height: the detector may compile its networks for exactly the inputs those frames
    will give (:meth:`anonymize.runtime.Network.fix`). A frame of another size must still
    be analysed, only not as fast.
    """

    def expect_size(self, width: int, height: int) -> None: ...
