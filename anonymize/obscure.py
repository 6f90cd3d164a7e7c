"""Make regions of a frame unreadable, irreversibly.

A blur or a mosaic can be undone when it keeps enough of the original's information: a light
Gaussian blur can be deconvolved, a mosaic of small blocks still carries a recognisable face.
So every mode here first reduces the region to a coarse grid of at most ``CELLS`` cells along
its longer side (fewer for tiny regions) and draws only from that grid. Whatever comes out
depends on a few dozen averages, not on the face's detail, and the cell size grows with the
region, so strength scales with size.

Face masks are ``rounded`` by default: a squircle (``|x|^3 + |y|^3 <= 1``) fills the corners of
the face's box that an ellipse leaves, so less padding covers the whole face and less of the
picture around it is changed (see docs/tuning.md, Masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from anonymize.config import Settings
from anonymize.types import Box, Label, Region

__all__ = ["CELLS", "obscure", "pixel_bounds", "whole_frame"]

CELLS = 6  # cells along the longer side of a region: a padded face keeps ~4 across itself
_MIN_CELL_PX = 4  # a tiny region still loses everything finer than this
_CANVAS_PX_PER_CELL = 4  # resolution the blur is drawn at before it is stretched to the region
_SOLID_BGR = (40, 40, 40)
_BOX_LABELS: frozenset[Label] = frozenset({"plate", "area", "frame"})  # rectangles: never rounded
_EXPONENTS = {"ellipse": 2.0, "rounded": 3.0}  # superellipse exponent of each mask shape
_CACHED_MASKS = 512  # masks kept for reuse, each at most _CACHED_MASK_PX pixels (bytes):
_CACHED_MASK_PX = 160 * 160  # 13 MB at most; a mask this size takes ~0.03 ms to make again


def obscure(image: np.ndarray, regions: Sequence[Region], settings: Settings) -> np.ndarray:
    """Return a copy of ``image`` with every region obscured (the input array is untouched)."""
    if not regions:
        return image
    out = image.copy()
    height, width = image.shape[:2]
    for region in regions:
        x1, y1, x2, y2 = pixel_bounds(region.box, width, height)
        if x2 <= x1 or y2 <= y1:
            continue
        roi = out[y1:y2, x1:x2]
        mode = settings.plate_mode if region.label == "plate" else settings.mode
        covered = _coarse(roi, mode)
        if settings.shape in _EXPONENTS and region.label not in _BOX_LABELS:
            cv2.copyTo(covered, _mask(y2 - y1, x2 - x1, _EXPONENTS[settings.shape]), roi)
        else:
            roi[:] = covered
    return out


def whole_frame(width: int, height: int) -> Region:
    """The region that covers a frame the detectors could not analyse (fail closed)."""
    return Region(Box(0, 0, width, height), label="frame", score=1.0, detected=False)


def pixel_bounds(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The pixels (x1, y1, x2, y2, ends excluded) :func:`obscure` may change for ``box``: the
    writer re-encodes exactly these from the obscured picture."""
    # Round outwards: a fractional edge must never leave a sliver of the face uncovered.
    x1 = max(0, int(np.floor(box.x1)))
    y1 = max(0, int(np.floor(box.y1)))
    x2 = min(width, int(np.ceil(box.x2)))
    y2 = min(height, int(np.ceil(box.y2)))
    return x1, y1, x2, y2


def _grid_size(h: int, w: int) -> tuple[int, int]:
    cell = max(max(h, w) / CELLS, _MIN_CELL_PX)
    return max(1, round(w / cell)), max(1, round(h / cell))


def _coarse(roi: np.ndarray, mode: str) -> np.ndarray:
    h, w = roi.shape[:2]
    if mode == "solid":
        return np.full_like(roi, _SOLID_BGR)
    gw, gh = _grid_size(h, w)
    grid = cv2.resize(roi, (gw, gh), interpolation=cv2.INTER_AREA)
    if mode == "mosaic":
        return cv2.resize(grid, (w, h), interpolation=cv2.INTER_NEAREST)
    # The grid holds all that is left, so the blur can be drawn on a small canvas of a few
    # pixels a cell and stretched smoothly: the same picture, at a fraction of the cost of a
    # wide Gaussian on a large region.
    scale = min(1.0, _CANVAS_PX_PER_CELL * gw / w, _CANVAS_PX_PER_CELL * gh / h)
    cw, ch = max(1, round(w * scale)), max(1, round(h * scale))
    smooth = cv2.resize(grid, (cw, ch), interpolation=cv2.INTER_LINEAR)
    sigma = max(h, w) / CELLS / 2 * scale
    blurred = cv2.GaussianBlur(smooth, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    if (cw, ch) == (w, h):
        return blurred
    return cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)


def _mask(h: int, w: int, exponent: float) -> np.ndarray:
    """The superellipse inscribed in an h x w box (1 inside, 0 outside, one byte a pixel).

    Small masks recur from frame to frame (a face keeps its size) and are kept; large ones
    are made again each time, so the kept masks never hold more than 13 MB however
    many face sizes a long clip shows (unbounded by size, they once held 200 MB: see
    docs/tuning.md, Masks)."""
    if h * w <= _CACHED_MASK_PX:
        return _cached_mask(h, w, exponent)
    return _superellipse_mask(h, w, exponent)


def _superellipse_mask(h: int, w: int, exponent: float) -> np.ndarray:
    yy, xx = np.ogrid[:h, :w]
    ny = np.abs((yy + 0.5 - h / 2) / (h / 2))
    nx = np.abs((xx + 0.5 - w / 2) / (w / 2))
    return (nx**exponent + ny**exponent <= 1.0).astype(np.uint8)


@lru_cache(maxsize=_CACHED_MASKS)
def _cached_mask(h: int, w: int, exponent: float) -> np.ndarray:
    mask = _superellipse_mask(h, w, exponent)
    mask.flags.writeable = False  # shared by every region of this size
    return mask
