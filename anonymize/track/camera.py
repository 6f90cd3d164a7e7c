"""Where the shot's coordinates lie in each frame, from the camera's motion between frames.

Tracks live in the coordinates of the first frame of their shot, so a pan or a shake moves
carried boxes with the picture and the margins only have to cover the subject's own motion,
and the camera's where it could only be roughly measured: the path keeps those errors, so a
box carried across a whip pan grows by what the estimates between it and its detection may
have missed. Separate estimates err separately, so their errors add in quadrature.
"""

from __future__ import annotations

from array import array

import numpy as np

__all__ = ["CameraPath"]


class CameraPath:
    """The 3x3 map from the shot's coordinates to each recent frame's pixels."""

    def __init__(self) -> None:
        self._by_frame: dict[int, np.ndarray] = {}
        self._last = np.eye(3)
        # The squared errors (px²) of the motions so far, summed, for each frame of the shot:
        # a track may reach back to its shot's start.
        self._variances = array("d")
        self._shot_start = 0

    def follow(
        self, index: int, motion: np.ndarray | None, new_shot: bool, error: float = 0.0
    ) -> None:
        """Add frame ``index``: ``motion`` is the 2x3 affine map from the previous frame's
        pixels to this one's (None: a still camera), ``error`` how far (px) it may be off; a
        new shot starts from the identity."""
        self._last = np.eye(3) if new_shot else self.ahead(motion)
        self._by_frame[index] = self._last
        if new_shot:
            self._variances, self._shot_start = array("d", [0.0]), index
        else:
            self._variances.append(self._variances[-1] + error * error)

    def apart(self, a: int, b: int) -> float:
        """How far (px) the maps of frames ``a`` and ``b`` of this shot may be off from each
        other: the errors of the motions between them, added in quadrature."""
        va, vb = self._variances[a - self._shot_start], self._variances[b - self._shot_start]
        return float(np.sqrt(abs(vb - va)))

    def ahead(self, motion: np.ndarray | None) -> np.ndarray:
        """The map for a frame after the last one followed, ``motion`` away from it."""
        if motion is None:
            return self._last
        return np.vstack([motion, [0.0, 0.0, 1.0]]) @ self._last

    def __getitem__(self, index: int) -> np.ndarray:
        return self._by_frame[index]

    def __contains__(self, index: int) -> bool:
        return index in self._by_frame

    def forget_before(self, index: int) -> None:
        """Drop the maps of frames before ``index``: nothing will ask for them again."""
        self._by_frame = {f: m for f, m in self._by_frame.items() if f >= index}
