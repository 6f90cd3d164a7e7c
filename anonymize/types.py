"""Values that travel between pipeline stages: boxes, detections, frames, regions.

Every stage speaks in these frozen dataclasses, so a detector, the tracker, the obscurer and
the regions file agree on one meaning of a box: pixel corners ``(x1, y1, x2, y2)`` in the
upright frame, ``x2``/``y2`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

__all__ = ["LABELS", "Box", "Candidate", "Detection", "Frame", "Label", "Region"]

# What a region covers, as the regions file and the report spell it: a ``face`` or a
# ``plate`` (found by a detector, or drawn by hand), an ``area`` drawn by hand (a caption, a
# badge: always a rectangle), or a whole ``frame`` covered because it could not be analysed.
Label = Literal["face", "plate", "area", "frame"]
LABELS: tuple[Label, ...] = get_args(Label)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the upright frame."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(x, y, x + w, y + h)

    def to_xywh(self) -> tuple[float, float, float, float]:
        return self.x1, self.y1, self.width, self.height

    def padded(self, fraction: float) -> Box:
        """Grow each side by ``fraction`` of the box's own size (recall before precision)."""
        dx, dy = self.width * fraction, self.height * fraction
        return Box(self.x1 - dx, self.y1 - dy, self.x2 + dx, self.y2 + dy)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def intersection(self, other: Box) -> float:
        w = min(self.x2, other.x2) - max(self.x1, other.x1)
        h = min(self.y2, other.y2) - max(self.y1, other.y1)
        return max(0.0, w) * max(0.0, h)

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, sx: float, sy: float | None = None) -> Box:
        sy = sx if sy is None else sy
        return Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)

    def as_list(self) -> list[float]:
        return [round(v, 1) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True)
class Detection:
    """One thing a detector found in one frame."""

    box: Box
    score: float
    label: Label  # "face" or "plate": what a detector finds
    source: str = ""  # detector name, for the report and for tuning


@dataclass(frozen=True)
class Candidate:
    """A find too faint to keep on its own: its ``score`` fell short of the ``needed`` one.
    Over a video's frames, candidates seen again at the same place add up (see
    :mod:`anonymize.evidence`)."""

    box: Box
    score: float
    needed: float
    label: Label = "face"


@dataclass(frozen=True)
class Region:
    """An area to obscure in one frame, as the regions file records it.

    ``detected`` is False where the tracker carried the box over a gap or extended the track
    before or after its detections; ``track`` is None for manual regions.
    """

    box: Box
    label: Label
    score: float = 1.0
    track: int | None = None
    detected: bool = True


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded, upright frame with its position in time.

    ``pts`` is the presentation timestamp in the stream's time base (None for photos); the
    writer reuses it so variable-frame-rate footage keeps its timing. ``duration`` (same
    units; None when the file does not say) is how long the frame shows: the last frame of
    an animation has no next timestamp to end it, so only this keeps its length. ``planes``
    is the decoded picture as it came (I420: Y, then U, then V, in one array) when the
    writer may encode the pixels obscuring leaves untouched straight from it.
    """

    index: int
    time: float
    image: np.ndarray  # H x W x 3, uint8, BGR
    pts: int | None = None
    duration: int | None = None
    planes: np.ndarray | None = None  # (H * 3 / 2) x W, uint8
