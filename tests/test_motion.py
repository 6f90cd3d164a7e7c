"""Camera motion estimates on frames with a known motion: shift, zoom, a moving foreground, a
whip pan's smear."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymize.motion import IDENTITY, CameraMotion, Motion

_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces_wider_val"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    entry = json.loads((_PHOTOS / "gt.json").read_text())[0]
    image = cv2.imread(str(_PHOTOS / entry["image"]))
    assert image is not None
    return image


def _view(photo: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(photo, m, size, flags=cv2.INTER_AREA)


def _estimate(a: np.ndarray, b: np.ndarray) -> Motion:
    camera = CameraMotion()
    first = camera.update(a)
    assert np.array_equal(first.matrix, IDENTITY)  # nothing to compare the first frame with
    return camera.update(b)


def _motion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The map alone, for pictures the flow follows: it is then sure of it."""
    motion = _estimate(a, b)
    assert motion.error == 0.0
    return motion.matrix


@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)])
def test_known_shift_is_found_within_a_pixel(photo: np.ndarray, size: tuple[int, int]) -> None:
    s = size[0] / 640  # the 1080p view is the same window, larger: shift scales with it
    a = _view(photo, np.array([[s, 0, -100 * s], [0, s, -80 * s]]), size)
    b = _view(photo, np.array([[s, 0, (-100 + 7.3) * s], [0, s, (-80 - 3.6) * s]]), size)
    m = _motion(a, b)
    assert np.allclose(m[:, :2], np.eye(2), atol=0.01)
    assert np.abs(m[:, 2] - np.array([7.3, -3.6]) * s).max() < 1.0


def test_zoom_moves_points_where_the_zoom_puts_them(photo: np.ndarray) -> None:
    size = (640, 360)
    a = _view(photo, np.array([[1.0, 0, -100], [0, 1.0, -80]]), size)
    b = _view(photo, np.array([[1.06, 0, -100], [0, 1.06, -80]]), size)  # zoom about the photo
    m = _motion(a, b)
    points = np.array([[50.0, 40.0], [600.0, 300.0], [320.0, 180.0]])
    truth = (points + [100, 80]) * 1.06 - [100, 80]
    assert np.abs(points @ m[:, :2].T + m[:, 2] - truth).max() < 1.0


def test_a_moving_foreground_does_not_drag_the_estimate(photo: np.ndarray) -> None:
    size = (640, 360)
    a = _view(photo, np.array([[1.0, 0, -100], [0, 1.0, -80]]), size)
    b = a.copy()
    patch = cv2.resize(photo[:200, :200], (140, 140))
    a[100:240, 200:340] = patch  # a textured object crossing a still background
    b[100:240, 230:370] = patch
    assert np.abs(_motion(a, b) - IDENTITY).max() < 0.2


def test_flat_or_dark_frames_fall_back_to_no_motion() -> None:
    flat = np.full((360, 640, 3), 90, np.uint8)
    for b in (flat, np.zeros_like(flat)):
        motion = _estimate(flat, b)
        assert np.allclose(motion.matrix, IDENTITY, atol=1e-6) and motion.error < 1e-6


def _smeared(photo: np.ndarray, x: float, speed: float, size: tuple[int, int]) -> np.ndarray:
    """The view at ``x`` as a camera panning ``speed`` px a frame films it, its shutter open
    half the frame: the views along half that speed, centred on ``x``, averaged."""
    steps = np.linspace(x - speed / 4, x + speed / 4, 24)
    views = [_view(photo, np.array([[1.0, 0, -s], [0, 1.0, -80]]), size) for s in steps]
    return np.mean(views, axis=0).astype(np.uint8)


@pytest.mark.parametrize(("before", "shift"), [(0.0, 100.0), (60.0, 110.0), (40.0, 140.0)])
def test_a_whip_pan_the_flow_loses_is_followed_by_its_shift_with_an_error(
    photo: np.ndarray, before: float, shift: float
) -> None:
    size = (640, 360)
    a, b = _smeared(photo, 100, before, size), _smeared(photo, 100 + shift, shift, size)
    motion = _estimate(a, b)
    assert motion.error > 0  # the flow lost the smeared picture: only its shift was measured
    assert np.allclose(motion.matrix[:, :2], np.eye(2))
    moved = motion.matrix[:, 2]
    assert moved[0] < -0.7 * shift and abs(moved[1]) < 2  # most of the way, not "no motion"
    assert np.hypot(moved[0] + shift, moved[1]) <= motion.error  # the error covers the miss


def test_a_cut_to_an_unrelated_picture_is_not_a_motion(photo: np.ndarray) -> None:
    size = (640, 360)
    a = _view(photo, np.array([[1.0, 0, -100], [0, 1.0, -80]]), size)
    rng = np.random.default_rng(0)
    b = cv2.resize(rng.integers(0, 256, (36, 64, 3), dtype=np.uint8), size, cv2.INTER_NEAREST)
    assert np.array_equal(_motion(a, b), IDENTITY)
