"""Obscuring changes every pixel it must, nothing else, and keeps no fine detail."""

import tracemalloc

import cv2
import numpy as np
import pytest

from anonymize.config import Settings
from anonymize.obscure import CELLS, obscure, whole_frame
from anonymize.types import Box, Region


def _textured(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _high_pass(img: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), 2)


@pytest.mark.parametrize("mode", ["blur", "mosaic", "solid"])
def test_only_the_region_changes_and_the_input_is_untouched(mode):
    image = _textured()
    before = image.copy()
    region = Region(Box(100, 50, 200, 170), "face")
    out = obscure(image, [region], Settings(mode=mode, shape="box"))
    assert np.array_equal(image, before)
    inside = np.zeros(image.shape[:2], bool)
    inside[50:170, 100:200] = True
    changed = np.any(out != image, axis=2)
    assert not changed[~inside].any()
    assert changed[inside].mean() > 0.95


@pytest.mark.parametrize("mode", ["blur", "mosaic"])
@pytest.mark.parametrize("size", [12, 40, 160])
def test_no_fine_detail_survives(mode, size):
    image = _textured(200, 200)
    region = Region(Box(20, 20, 20 + size, 20 + size), "face")
    out = obscure(image, [region], Settings(mode=mode, shape="box"))
    roi = (slice(20 + 2, 20 + size - 2),) * 2
    original = _high_pass(image)[roi].ravel()
    result = _high_pass(out)[roi].ravel()
    assert abs(np.corrcoef(original, result)[0, 1]) < 0.2
    assert result.std() < 0.5 * original.std()


def test_mosaic_keeps_only_a_coarse_grid():
    image = _textured(300, 300)
    out = obscure(
        image, [Region(Box(0, 0, 300, 300), "face")], Settings(mode="mosaic", shape="box")
    )
    colours = np.unique(out.reshape(-1, 3), axis=0)
    assert len(colours) <= CELLS * CELLS


def test_ellipse_leaves_corners_and_covers_centre():
    image = _textured()
    out = obscure(image, [Region(Box(100, 50, 200, 170), "face")], Settings(shape="ellipse"))
    assert np.array_equal(out[50, 100], image[50, 100])
    assert np.any(out[110:112, 148:152] != image[110:112, 148:152])


def test_plates_are_covered_as_boxes_even_with_ellipse_shape():
    image = _textured()
    out = obscure(
        image, [Region(Box(100, 50, 200, 90), "plate")], Settings(shape="ellipse", mode="solid")
    )
    assert np.all(out[50:90, 100:200] == out[50, 100])


def test_boxes_outside_the_frame_are_clipped_and_empty_ones_ignored():
    image = _textured()
    regions = [Region(Box(-50, -50, 30, 30), "face"), Region(Box(400, 400, 500, 500), "face")]
    out = obscure(image, regions, Settings(mode="solid", shape="box"))
    assert np.all(out[:30, :30] == out[0, 0])
    assert np.array_equal(out[30:], image[30:])


def test_fractional_boxes_round_outwards():
    image = _textured()
    out = obscure(
        image, [Region(Box(10.9, 10.9, 20.1, 20.1), "face")], Settings(mode="solid", shape="box")
    )
    assert np.all(out[10:21, 10:21] == out[15, 15])


def test_whole_frame_region_covers_everything():
    image = _textured()
    out = obscure(image, [whole_frame(320, 240)], Settings(mode="blur"))
    assert np.any(out != image, axis=2).mean() > 0.99


def test_rounded_mask_covers_corners_an_ellipse_leaves_but_not_the_box_corner():
    image = _textured()
    region = [Region(Box(100, 50, 200, 170), "face")]
    rounded = obscure(image, region, Settings(shape="rounded", mode="solid"))
    ellipse = obscure(image, region, Settings(shape="ellipse", mode="solid"))
    # 10% in from the box's corner along both axes: outside the ellipse, inside the squircle.
    y, x = 50 + 12, 100 + 10
    assert np.array_equal(ellipse[y, x], image[y, x])
    assert not np.array_equal(rounded[y, x], image[y, x])
    assert np.array_equal(rounded[50, 100], image[50, 100])
    assert (rounded != image).any(axis=2).sum() > (ellipse != image).any(axis=2).sum()


def test_masks_kept_for_reuse_stay_small_however_many_face_sizes_a_clip_shows():
    # A long clip shows faces of hundreds of sizes; keeping a mask for each once held 200 MB.
    image = np.zeros((1080, 1920, 3), np.uint8)
    tracemalloc.start()
    try:
        for k in range(300):
            obscure(image, [Region(Box(0, 0, 300 + k, 400 + k), "face")], Settings(mode="solid"))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 20e6


def test_plates_are_filled_by_default_while_faces_are_blurred():
    # A dark, low-contrast plate: a blur keeps its colour within a few levels, a fill does not.
    image = np.full((200, 300, 3), 55, np.uint8)
    image[80:120, 100:200] = 62
    image[90:110, 110:190:12] = 45  # faint characters
    plate = [Region(Box(100, 80, 200, 120), "plate")]
    filled = obscure(image, plate, Settings())
    blurred = obscure(image, plate, Settings(plate_mode="blur"))

    def changed(out: np.ndarray) -> float:
        moved = np.abs(out.astype(int) - image.astype(int))[80:120, 100:200].max(axis=2)
        return float((moved > 8).mean())

    assert changed(filled) > 0.5
    assert changed(blurred) < 0.5
    face = obscure(image, [Region(Box(100, 80, 200, 120), "face")], Settings(mode="blur"))
    assert len(np.unique(face[80:120, 100:200].reshape(-1, 3), axis=0)) > 1  # blurred, not filled
