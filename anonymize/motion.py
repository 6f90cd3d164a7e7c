"""Camera motion between consecutive frames, so carried boxes can move with the camera.

A box the tracker carries through frames where the detector missed is predicted from the
face's past detections. When the camera pans or shakes, every face moves with it, and without
knowing that motion the tracker can only guess wide. A similarity transform (shift, rotation,
uniform scale) fitted to sparse optical flow on a small grey copy of the frame costs a few
milliseconds and explains most of that motion; the tracker then only has to allow for the
face's own.

RANSAC keeps the background's consensus, so a person walking across the frame does not drag
the estimate along, as long as the background is most of what is textured. When the estimate
cannot be trusted (a flat or dark frame, too few points followed, an implausible jump) the
answer is the identity: no motion, which is what the tracker assumed before it knew any.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["CameraMotion", "IDENTITY"]

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

_WIDTH = 320  # pixels of the grey copy the flow is measured on
_CORNERS = 200
_MIN_POINTS = 12  # fewer followed points than this: no estimate
_MIN_INLIERS = 0.5  # share of followed points that must agree with the estimate
_MAX_SCALE_STEP = 1.25  # zoom between two frames beyond this (or its inverse) is not believed


class CameraMotion:
    """Feed frames in order; each call returns the motion from the previous frame to this one
    (the identity for the first). Keeps only the previous frame's small grey copy."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._scale = 1.0

    def update(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The motion from the previous frame to ``image``, in the pixels of frames ``1 /
        scale`` times its size (a caller that already holds a small copy passes that)."""
        if self._previous is None:
            self._scale = min(1.0, _WIDTH / image.shape[1])
        grey = _small_grey(image, self._scale)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return IDENTITY.copy()
        small = _estimate(previous, grey)
        if small is None:
            return IDENTITY.copy()
        # The linear part does not depend on the resolution; the shift scales with it.
        return np.hstack([small[:, :2], small[:, 2:] / (self._scale * scale)])


def _small_grey(image: np.ndarray, scale: float) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def _estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    points = cv2.goodFeaturesToTrack(a, _CORNERS, qualityLevel=0.01, minDistance=6)
    if points is None or len(points) < _MIN_POINTS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, points, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    if ok.sum() < _MIN_POINTS:
        return None
    src, dst = points[ok], moved[ok]
    m, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=500, confidence=0.99
    )
    if m is None or inliers is None or inliers.sum() < max(_MIN_POINTS, _MIN_INLIERS * ok.sum()):
        return None
    zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if not 1 / _MAX_SCALE_STEP <= zoom <= _MAX_SCALE_STEP or np.abs(m[:, 2]).max() > a.shape[1] / 2:
        return None
    return m
