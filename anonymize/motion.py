"""Camera motion between consecutive frames, so carried boxes can move with the camera.

A box the tracker carries through frames where the detector missed is predicted from the
face's past detections. When the camera pans or shakes, every face moves with it, and without
knowing that motion the tracker can only guess wide. A similarity transform (shift, rotation,
uniform scale) fitted to sparse optical flow on a small grey copy of the frame costs a few
milliseconds and explains most of that motion; the tracker then only has to allow for the
face's own.

RANSAC keeps the background's consensus, so a person walking across the frame does not drag
the estimate along, as long as the background is most of what is textured. In a whip pan the
picture moves tens of pixels a frame and smears, and the flow loses its points; the whole
picture's shift (phase correlation) still holds there, to within a fraction of that shift,
and says so: a shift-only estimate comes with the error the tracker must allow for where it
carries boxes through it. When nothing can be trusted (a flat or dark frame, an unrelated
picture, an implausible jump) the answer is the identity: no motion, which is what the
tracker assumed before it knew any.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["IDENTITY", "CameraMotion", "Motion"]

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

_WIDTH = 320  # pixels of the grey copy the flow is measured on
_CORNERS = 200
_MIN_POINTS = 12  # fewer followed points than this: no estimate
_MIN_INLIERS = 0.5  # share of followed points that must agree with the estimate
_MAX_SCALE_STEP = 1.25  # zoom between two frames beyond this (or its inverse) is not believed
# Where the flow fails, the whole picture's shift is believed if the two pictures, laid over
# each other at that shift, correlate this well where they overlap (whip pans 0.63+, unrelated
# pictures 0.23 at most), and it may be off by this share of the shift: a smear moves the
# picture's centre of weight with the camera's speed (docs/tuning.md, Camera motion).
_MIN_AGREEMENT = 0.5
_SHIFT_ERROR = 0.3
_MIN_SIDE = 16  # a picture smaller than this (px) has no shift worth measuring


@dataclass(frozen=True)
class Motion:
    """The camera's 2x3 affine map from the previous frame's pixels to this one's, and how
    far (px) a point it maps may be from where the picture put it: 0 where the flow followed
    the picture, more where only its shift could be measured."""

    matrix: np.ndarray
    error: float = 0.0


class CameraMotion:
    """Feed frames in order; each call returns the motion from the previous frame to this one
    (the identity for the first). Keeps only the previous frame's small grey copy."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._scale = 1.0
        self._window: np.ndarray | None = None

    def update(self, image: np.ndarray, scale: float = 1.0) -> Motion:
        """The motion from the previous frame to ``image``, in the pixels of frames ``1 /
        scale`` times its size (a caller that already holds a small copy passes that)."""
        if self._previous is None:
            self._scale = min(1.0, _WIDTH / image.shape[1])
        grey = _small_grey(image, self._scale)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return Motion(IDENTITY.copy())
        small, error = _flow(previous, grey), 0.0
        if small is None:
            small, error = self._shift(previous, grey)
        if small is None:
            return Motion(IDENTITY.copy())
        # The linear part does not depend on the resolution; the shift scales with it.
        to_frame = 1 / (self._scale * scale)
        return Motion(np.hstack([small[:, :2], small[:, 2:] * to_frame]), error * to_frame)

    def _shift(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The whole picture's shift from ``a`` to ``b`` and how far off it may be, or None
        when the pictures do not agree at that shift (nothing in common, flat) or the jump
        is implausible."""
        if min(a.shape) < _MIN_SIDE:
            return None, 0.0
        if self._window is None or self._window.shape != a.shape:
            self._window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
        (dx, dy), _ = cv2.phaseCorrelate(np.float32(a), np.float32(b), self._window)
        if max(abs(dx), abs(dy)) > a.shape[1] / 2 or not _agreement(a, b, dx, dy) >= _MIN_AGREEMENT:
            return None, 0.0
        return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]), _SHIFT_ERROR * float(np.hypot(dx, dy))


def _small_grey(image: np.ndarray, scale: float) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return grey


def _agreement(a: np.ndarray, b: np.ndarray, dx: float, dy: float) -> float:
    """The correlation of ``a`` and ``b`` where they overlap once ``b`` is moved back by
    (``dx``, ``dy``); NaN where either is flat there."""
    h, w = a.shape
    x, y = round(dx), round(dy)
    overlap_a = a[max(0, -y) : min(h, h - y), max(0, -x) : min(w, w - x)]
    overlap_b = b[max(0, y) : min(h, h + y), max(0, x) : min(w, w + x)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.corrcoef(overlap_a.ravel(), overlap_b.ravel())[0, 1])


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
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
