"""Where the shot's coordinates lie in each frame, from the camera's motion between frames.

Tracks live in the coordinates of the first frame of their shot, so a pan or a shake moves
carried boxes with the picture and the margins only have to cover the subject's own motion.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CameraPath"]


class CameraPath:
    """The 3x3 map from the shot's coordinates to each recent frame's pixels."""

    def __init__(self) -> None:
        self._by_frame: dict[int, np.ndarray] = {}
        self._last = np.eye(3)

    def follow(self, index: int, motion: np.ndarray | None, new_shot: bool) -> None:
        """Add frame ``index``: ``motion`` is the 2x3 affine map from the previous frame's
        pixels to this one's (None: a still camera); a new shot starts from the identity."""
        self._last = np.eye(3) if new_shot else self.ahead(motion)
        self._by_frame[index] = self._last

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
