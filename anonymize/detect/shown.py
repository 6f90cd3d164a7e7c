"""Detectors see the picture as a player shows it: whole frames, in square pixels.

Interlaced footage (DV, HDV 1080i, broadcast recordings) stores each frame as two fields
filmed a fiftieth of a second apart, which a player shows one after the other. Seen as one
picture, anything that moved between them is combed into alternate lines, and a combed
small face is one the detectors were not trained on: on a moving-camera test clip made
interlaced they found 53% of faces of 20-50 px, and 90% with the fields blended.
So an interlaced frame reaches them with each line blended with its neighbours.

HDV stores its 16:9 picture in 1440 x 1080 pixels a third wider than tall; widescreen PAL
DV stores it in 720 x 576. Faces in such footage are stored squeezed, and they score
faintly or not at all. So footage whose pixels are not square is stretched to its shown
shape (the narrower side enlarged, so no detail is lost), and what the detectors find is
mapped back to the stored pixels that the tracker, the masks and the writer work in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import TypeVar

import cv2
import numpy as np

from anonymize.types import Box, Candidate, Detection

__all__ = ["Shown"]

Found = TypeVar("Found", Detection, Candidate)

# Each line a quarter of the line above, half itself, a quarter of the line below: the two
# fields of a line pair mixed evenly, so nothing that moved between them is combed.
_BLEND_FIELDS = np.array([[0.25], [0.5], [0.25]], np.float32)


class Shown:
    """The picture detectors see of frames of one ``frame_size`` (width, height): fields
    blended when ``interlaced``, stretched when a player shows pixels ``pixel_aspect``
    times wider than tall."""

    def __init__(
        self,
        frame_size: tuple[int, int],
        pixel_aspect: Fraction = Fraction(1),
        interlaced: bool = False,
    ) -> None:
        width, height = frame_size
        self.size = (
            round(width * max(pixel_aspect, 1)),
            round(height * max(1 / pixel_aspect, 1)),
        )
        self._fx, self._fy = self.size[0] / width, self.size[1] / height
        self.square = self.size == (width, height)
        self.interlaced = interlaced

    def view(self, image: np.ndarray) -> np.ndarray:
        """``image`` as it is shown (the same array for progressive square-pixel footage)."""
        if self.interlaced:
            image = cv2.filter2D(image, -1, _BLEND_FIELDS)
        if self.square:
            return image
        return cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)

    def forth(self, box: Box) -> Box:
        """A box of the stored frame in the view's pixels."""
        return box.scaled(self._fx, self._fy)

    def back(self, found: Sequence[Found]) -> list[Found]:
        """What a detector found in the view, in the stored frame's pixels."""
        if self.square:
            return list(found)
        return [replace(f, box=f.box.scaled(1 / self._fx, 1 / self._fy)) for f in found]
