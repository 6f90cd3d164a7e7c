"""Detectors see the picture as a player shows it, in square pixels.

HDV stores its 16:9 picture in 1440 x 1080 pixels a third wider than tall; widescreen PAL
DV stores it in 720 x 576. Faces in such footage are stored squeezed, and a face squeezed
across is one the detectors were not trained on: they score it faintly or not at all. So
footage whose pixels are not square is stretched to its shown shape before any detector
sees it (the narrower side enlarged, so no detail is lost), and what they find is mapped
back to the stored pixels that the tracker, the masks and the writer work in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import TypeVar

import cv2
import numpy as np

from anonymize.types import Box, Candidate, Detection

__all__ = ["SquarePixels"]

Found = TypeVar("Found", Detection, Candidate)


class SquarePixels:
    """The square-pixel view of frames of one ``frame_size`` (width, height) whose pixels a
    player shows ``pixel_aspect`` times wider than tall."""

    def __init__(self, pixel_aspect: Fraction, frame_size: tuple[int, int]) -> None:
        width, height = frame_size
        self.size = (
            round(width * max(pixel_aspect, 1)),
            round(height * max(1 / pixel_aspect, 1)),
        )
        self._fx, self._fy = self.size[0] / width, self.size[1] / height
        self.square = self.size == (width, height)

    def view(self, image: np.ndarray) -> np.ndarray:
        """``image`` as it is shown (the same array when its pixels are square)."""
        if self.square:
            return image
        return cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)

    def forth(self, box: Box) -> Box:
        """A box of the stored frame in the view's pixels."""
        fx, fy = self._fx, self._fy
        return Box(box.x1 * fx, box.y1 * fy, box.x2 * fx, box.y2 * fy)

    def back(self, found: Sequence[Found]) -> list[Found]:
        """What a detector found in the view, in the stored frame's pixels."""
        if self.square:
            return list(found)
        fx, fy = self._fx, self._fy
        return [
            replace(f, box=Box(f.box.x1 / fx, f.box.y1 / fy, f.box.x2 / fx, f.box.y2 / fy))
            for f in found
        ]
