"""When to run the full detectors, and where a new shot starts.

Kept here, apart from tracking, until they move to the module that runs the per-frame loop.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Keyframes", "is_scene_cut"]


class Keyframes:
    """Which frames of a video get the full detectors: every ``every``-th frame counted from
    the last keyframe, and the first frame of every shot (after a cut, everything is new)."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self._last: int | None = None

    def is_key(self, index: int, scene_cut: bool = False) -> bool:
        if scene_cut or self._last is None or index - self._last >= self.every:
            self._last = index
            return True
        return False


def is_scene_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """True when ``current`` starts a new shot.

    Two cheap signals must agree: the hue/saturation histogram changed (blind to motion) and
    a tiny grey thumbnail no longer correlates (blind to brightness changes). A false cut ends
    tracks early and costs gap filling, so a pan, a zoom or a flash alone must not count.
    """
    a, b = _thumb(previous), _thumb(current)
    hist_dist = cv2.compareHist(_hs_hist(a), _hs_hist(b), cv2.HISTCMP_BHATTACHARYYA)
    grey_a = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    grey_b = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64).ravel()
    if grey_a.std() < 1.0 or grey_b.std() < 1.0:  # a flat frame (fade to black): histogram only
        return hist_dist > _CUT_HIST
    return hist_dist > _CUT_HIST and float(np.corrcoef(grey_a, grey_b)[0, 1]) < _CUT_CORR


_CUT_HIST = 0.5  # Bhattacharyya distance of hue/saturation histograms
_CUT_CORR = 0.5  # correlation of 32x18 grey thumbnails


def _thumb(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)


def _hs_hist(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)
