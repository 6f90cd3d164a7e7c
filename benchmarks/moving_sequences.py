"""Leaked face-frames with and without tracking, on moving sequences made from annotated photos.

No public video set has face boxes on every frame, so we make one whose truth is exact: each
sequence is a 640x360 camera moving over one photo of ``faces_wider_val`` (pan, zoom, hand
shake, motion blur from the camera's own motion, and in half of them a pole-like bar sweeping
across that hides faces for a few frames). The true boxes are the photo's annotated boxes put
through the same transform. Sequences are played back to back as one stream, so the scene-cut
detector is exercised too (true cuts found and false cuts are reported).

``--hard`` films what real street and protest footage does to a detector, the three kinds of
shot taking turns (each over photos that suit it):

* **whip**: a handheld camera holding on one side of the photo, whipping to the other in 4-8
  frames (tens of pixels a frame at the fastest) and back, blurred by that motion as a camera
  with a half-frame shutter would blur it; photos with a face of 20-40 px at that scale;
* **zoom-out**: from a face of 34 px to 18 px or the widest view, so it and the faces around
  it shrink through 30 px to 20 px;
* **crowd**: a slow pan over a photo scaled so that at least 8 of its faces are 20-30 px,
  behind a crowd-control barrier (rails and posts) nearer the camera, which moves faster
  than the crowd and hides slices of the faces behind it.

Its cache key differs from the default mode's, so a cache file of one mode is never read by
the other (name them apart: ``--cache /tmp/msh0.json``).

Both variants start from the same detections:

* per-frame: the full detector's detections on every frame, padded like the pipeline pads
  them (``--padding``), no tracking;
* tracked: what the pipeline does with a video: the full detector on keyframes (every
  ``--keyframes`` frames, default the pipeline's, and at scene cuts), its quick pass between
  plus a close look where the tracker expects the faces the quick pass missed
  (``detect_near``; ``--no-near`` leaves it out), and the regions ``Tracker`` returns, padded
  the same way. The tracker gets the camera motion ``CameraMotion`` measures on the
  generated frames, as in the pipeline, never the known one.

A face is **visible** in a frame when at least half of its box is inside the frame and not
behind the bar or barrier. A visible face **leaks** when less than ``--cover`` of its visible
pixels are inside the union of padded regions. Leaks are counted per thousand visible
face-frames, by face height (20-30 px on its own row: the faces the hard mode is about), and
also over "trackable" faces (those the detector covers in at least one frame of their
sequence), the ones tracking can help, and "mostly detected" faces (covered in at least half
of their visible frames: the face that flashes into view where the detector misses it). Each
row also gives the tracked leaks of faces **never found** (that the per-frame detector covers
in no frame of their sequence, so no tracker can cover them), per thousand face-frames of the
row and as a share of its tracked leaks; the rest are the tracker's to win. The hard mode adds
a row of faces 20 px+ for each kind of shot. **Over-redaction** is the area the regions
cover away from every face (outside each face or ignore box grown by 25% of its size, as
``anonymize.eval`` counts it), summed over all frames; the ratio tracked / per-frame is
reported.

    nice python benchmarks/moving_sequences.py ../shared/data/faces_wider_val \
        --seed 0 --cache /tmp/ms0.json

``--seeds 0,1,2,3`` reports each seed and then all of them pooled (leaks and face-frames
summed over the seeds, not rates averaged); the cache file then names ``{seed}``:

    nice python benchmarks/moving_sequences.py --seeds 0,1,2,3 --cache '/tmp/ms{seed}.json'
    nice python benchmarks/moving_sequences.py --hard --seeds 0,1,2,3 --cache '/tmp/msh{seed}.json'

With ``--cache`` the detections are kept, so another tracker setting costs seconds, e.g.
``... --cache /tmp/ms_seed0.json --set drift_growth=0.01`` (the speed shown is then not real).

``--strips DIR`` instead runs the detector and tracker on real clips and saves every third
frame as the tool would publish it (blurred), outlines drawn (green: detected, red: carried or
extended, with the track id), to look for flicker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import PIL.Image

from anonymize.analysis import Analysis, is_scene_cut
from anonymize.config import Settings
from anonymize.detect.faces import FaceDetector
from anonymize.obscure import obscure
from anonymize.track import TrackerConfig
from anonymize.types import Box, Candidate, Detection, Frame, Region

SIZE = (640, 360)
BUCKETS = (
    ("<10", 0, 10),
    ("10-20", 10, 20),
    ("20-30", 20, 30),
    ("30+", 30, 10**9),
    ("20+", 20, 10**9),
)
AWAY_MARGIN = 0.25
# The shutter is open for this share of a frame (a "180 degree" shutter, the usual setting of
# video cameras), so the motion blur is half the picture's shift from the last frame.
SHUTTER = 0.5
# The hard mode's three kinds of shot, in the order the shots take turns.
KINDS = ("whip", "zoom-out", "crowd")
# What the hard mode films (see load_shots): a whip pan's scale over the smallest the photo
# allows, its frames holding still and its frames whipping (fewest, most + 1);
WHIP_ZOOM = (1.3, 1.6)
WHIP_HOLD = (4, 9)
WHIP_FRAMES = (4, 9)
# a zoom-out's face, px tall at its start and at its end (or the widest view);
ZOOM_FACE = (34.0, 18.0)
# how many times a photo may be enlarged (more would film detail the photo does not have);
MAX_UPSCALE = 2.0
# the px a crowd's median face is scaled to, and the faces of 20-30 px a crowd photo needs;
CROWD_FACE = 25.0
CROWD_MIN = 8
# the barrier's grey, and how much faster it moves than the crowd (it is nearer the camera).
BARRIER_COLOUR = (150, 150, 155)
PARALLAX = 1.5

# A bar's x-range (the default mode's pole), a mask of hidden pixels (the hard mode's
# barrier), or nothing.
Occluder = tuple[int, int] | np.ndarray | None
# Per frame: the camera's scale and the photo point at the frame's centre.
CameraPath = list[tuple[float, float, float]]


@dataclass(frozen=True)
class Shot:
    """One generated sequence: frames with the true boxes (N x 4, x1 y1 x2 y2) in each."""

    name: str
    frames: list[np.ndarray]
    faces: list[np.ndarray]  # per frame, every annotated face, in frame pixels
    visible: list[np.ndarray]  # per frame, bool per face
    ignore: list[np.ndarray]
    occluder: list[Occluder]  # per frame
    kind: str = "moving"  # the default mode's shots; the hard mode's are one of KINDS


def load_detector() -> FaceDetector:
    """The project's face detector, with its full and its quick (between keyframes) passes."""
    return FaceDetector()


def make_shot(
    image: np.ndarray,
    boxes: np.ndarray,
    ignore: np.ndarray,
    name: str,
    rng: np.random.Generator,
    length: int,
    size: tuple[int, int] = SIZE,
) -> Shot:
    """A camera moving over ``image``: the window stays inside the photo (no invented pixels).

    ``size`` is the frame's (width, height); the rest of this module scores ``SIZE`` frames.
    """
    path, bars = _drift_path(image.shape, rng, length, size)
    return _render(image, boxes, ignore, name, path, bars, size)


def _drift_path(
    shape: tuple[int, ...], rng: np.random.Generator, length: int, size: tuple[int, int]
) -> tuple[CameraPath, list[Occluder]]:
    """The default mode's camera: a slow pan and zoom with hand shake, bouncing off the
    photo's edges, and in half the shots a pole sweeping across."""
    h, w = shape[:2]
    ow, oh = size
    s_min = max(ow / w, oh / h) * 1.02
    s0, s1 = rng.uniform(s_min, s_min * 1.5, size=2)
    speed = rng.uniform(0, 10)  # output pixels per frame
    angle = rng.uniform(0, 2 * np.pi)
    shake = rng.uniform(0, 8)
    bar = rng.random() < 0.5
    bar_width, bar_speed = int(ow * 0.12), rng.uniform(20, 40)
    cx, cy = w / 2 + rng.uniform(-0.2, 0.2) * w, h / 2 + rng.uniform(-0.2, 0.2) * h
    path, bars = [], []
    for t in range(length):
        s = s0 + (s1 - s0) * t / max(length - 1, 1)
        cx += speed * np.cos(angle) / s
        cy += speed * np.sin(angle) / s
        half_w, half_h = ow / 2 / s, oh / 2 / s
        # Bounce off the photo's edges so the window stays inside it.
        if not half_w <= cx <= w - half_w:
            angle = np.pi - angle
        if not half_h <= cy <= h - half_h:
            angle = -angle
        cx, cy = np.clip(cx, half_w, w - half_w), np.clip(cy, half_h, h - half_h)
        jx, jy = rng.normal(0, shake, size=2) / s
        px = np.clip(cx + jx, half_w, w - half_w)
        py = np.clip(cy + jy, half_h, h - half_h)
        path.append((s, px, py))
        occ = None
        if bar:
            x = int(-bar_width + bar_speed * t) % (ow + 3 * bar_width) - bar_width
            occ = (max(x, 0), min(x + bar_width, ow))
            if occ[1] <= occ[0]:
                occ = None
        bars.append(occ)
    return path, bars


def _render(
    image: np.ndarray,
    boxes: np.ndarray,
    ignore: np.ndarray,
    name: str,
    path: CameraPath,
    occluders: list[Occluder],
    size: tuple[int, int],
    kind: str = "moving",
) -> Shot:
    """Film ``image`` along ``path``: each frame blurred by the camera's own motion over the
    open shutter, then the occluder (in front of the scene, so never blurred) drawn on it."""
    ow, oh = size
    frames, faces, visible, ignores = [], [], [], []
    prev: np.ndarray | None = None
    for (s, px, py), occ in zip(path, occluders, strict=True):
        m = np.array([[s, 0, ow / 2 - s * px], [0, s, oh / 2 - s * py]])
        frame = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_AREA)
        here = np.array([px, py])
        if prev is not None:
            frame = _motion_blur(frame, (prev - here) * s * SHUTTER)
        prev = here
        if isinstance(occ, np.ndarray):
            frame[occ] = BARRIER_COLOUR
        elif occ is not None:
            frame[:, occ[0] : occ[1]] = (60, 60, 70)
        f_boxes = _transform(boxes, m)
        frames.append(frame)
        faces.append(f_boxes)
        visible.append(_visible(f_boxes, occ, size))
        ignores.append(_transform(ignore, m))
    return Shot(name, frames, faces, visible, ignores, list(occluders), kind)


def _motion_blur(frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
    length = int(round(float(np.hypot(*shift))))
    if length < 2:
        return frame
    kernel = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    d = shift / np.hypot(*shift)
    p0 = np.round(length - d * length / 2).astype(int)
    p1 = np.round(length + d * length / 2).astype(int)
    cv2.line(kernel, tuple(map(int, p0)), tuple(map(int, p1)), 1.0, 1)
    return cv2.filter2D(frame, -1, kernel / kernel.sum())


def _transform(boxes: np.ndarray, m: np.ndarray) -> np.ndarray:
    if len(boxes) == 0:
        return np.zeros((0, 4))
    s, tx, ty = m[0, 0], m[0, 2], m[1, 2]
    return boxes * s + np.array([tx, ty, tx, ty])


def _visible(boxes: np.ndarray, occ: Occluder, size: tuple[int, int] = SIZE) -> np.ndarray:
    """At least half of each box inside the frame and not behind the occluder."""
    ow, oh = size
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = np.clip(boxes, 0, [ow, oh, ow, oh])
    in_w = np.maximum(inside[:, 2] - inside[:, 0], 0)
    in_h = np.maximum(inside[:, 3] - inside[:, 1], 0)
    if isinstance(occ, np.ndarray):
        return in_w * in_h - _hidden_pixels(inside, occ) >= 0.5 * np.maximum(area, 1e-9)
    hidden = 0.0
    if occ is not None:
        hidden = np.maximum(np.minimum(inside[:, 2], occ[1]) - np.maximum(inside[:, 0], occ[0]), 0)
    return (in_w - hidden) * in_h >= 0.5 * np.maximum(area, 1e-9)


def _hidden_pixels(boxes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` inside each box (boxes already inside the frame)."""
    out = np.zeros(len(boxes))
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        out[k] = mask[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))].sum()
    return out


def _mask(regions: Sequence[Box], padding: float) -> np.ndarray:
    ow, oh = SIZE
    mask = np.zeros((oh, ow), bool)
    for box in regions:
        b = box.padded(padding).clipped(ow, oh)
        mask[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))] = True
    return mask


def _covered(mask: np.ndarray, boxes: np.ndarray, occ: Occluder) -> np.ndarray:
    """Share of each box's visible pixels inside ``mask``."""
    ow, oh = SIZE
    seen = np.ones_like(mask)
    if isinstance(occ, np.ndarray):
        seen = ~occ
    elif occ is not None:
        seen[:, occ[0] : occ[1]] = False
    out = np.zeros(len(boxes))
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        xa, ya = int(np.clip(np.floor(x1), 0, ow)), int(np.clip(np.floor(y1), 0, oh))
        xb, yb = int(np.clip(np.ceil(x2), 0, ow)), int(np.clip(np.ceil(y2), 0, oh))
        v = seen[ya:yb, xa:xb]
        out[k] = (mask[ya:yb, xa:xb] & v).sum() / max(v.sum(), 1)
    return out


def _away(shot: Shot, t: int) -> np.ndarray:
    ow, oh = SIZE
    near = np.zeros((oh, ow), bool)
    for x1, y1, x2, y2 in np.concatenate([shot.faces[t], shot.ignore[t]]):
        dx, dy = (x2 - x1) * AWAY_MARGIN, (y2 - y1) * AWAY_MARGIN
        xa, ya = int(np.clip(x1 - dx, 0, ow)), int(np.clip(y1 - dy, 0, oh))
        xb, yb = int(np.clip(np.ceil(x2 + dx), 0, ow)), int(np.clip(np.ceil(y2 + dy), 0, oh))
        near[ya:yb, xa:xb] = True
    return ~near


def load_shots(
    folder: Path,
    count: int,
    length: int,
    seed: int,
    size: tuple[int, int] = SIZE,
    hard: bool = False,
) -> Iterator[Shot]:
    """``count`` shots over photos of ``folder``, drawn by ``seed``: the default mode's drifting
    camera, or with ``hard`` the hard mode's kinds (``KINDS``) in turn (at ``SIZE``)."""
    if hard:
        yield from _hard_shots(folder, count, length, seed)
        return
    entries = json.loads((folder / "gt.json").read_text())
    rng = np.random.default_rng(seed)
    # Photos with at least one face that stays 20 px+ at the reduced size: the sizes that matter.
    usable = [e for e in entries if any(b[3] * 0.62 >= 20 for b in e["boxes"])]
    for k in rng.choice(len(usable), size=min(count, len(usable)), replace=False):
        entry = usable[int(k)]
        image, boxes, ignore = _photo(folder, entry)
        yield make_shot(image, boxes, ignore, entry["image"], rng, length, size)


def _photo(folder: Path, entry: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A photo with its face and ignore boxes as N x 4 arrays of x1 y1 x2 y2."""
    image = cv2.imread(str(folder / entry["image"]))
    boxes = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in entry["boxes"]], float)
    ignore = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in entry["ignore"]], float)
    return image, boxes.reshape(-1, 4), ignore.reshape(-1, 4)


def _hard_shots(folder: Path, count: int, length: int, seed: int) -> Iterator[Shot]:
    """The hard mode's shots: whip pans, zoom-outs and crowds behind a barrier, in turn, each
    kind over photos that suit it (faces that reach 20-30 px at the scales it films)."""
    entries = json.loads((folder / "gt.json").read_text())
    rng = np.random.default_rng(seed)
    kinds = [KINDS[k % len(KINDS)] for k in range(count)]
    chosen: dict[str, list[dict]] = {}
    for kind in KINDS:
        pool = [e for e in entries if _suits(kind, _shape(folder, e), e)]
        picks = rng.choice(len(pool), size=min(kinds.count(kind), len(pool)), replace=False)
        chosen[kind] = [pool[int(k)] for k in picks]
    for kind in kinds:
        if not chosen[kind]:
            continue
        entry = chosen[kind].pop(0)
        image, boxes, ignore = _photo(folder, entry)
        occluders: list[Occluder] = [None] * length
        if kind == "whip":
            path = _whip_path(image.shape, rng, length)
        elif kind == "zoom-out":
            path = _zoom_path(image.shape, boxes, rng, length)
        else:
            path, occluders = _crowd_path(image.shape, boxes, rng, length)
        yield _render(image, boxes, ignore, f"{kind} {entry['image']}", path, occluders, SIZE, kind)


def _shape(folder: Path, entry: dict) -> tuple[int, int]:
    """A photo's (height, width), from its header only."""
    with PIL.Image.open(folder / entry["image"]) as image:
        return image.height, image.width


def _s_min(shape: tuple[int, ...]) -> float:
    """The smallest scale at which a frame stays inside the photo (no invented pixels)."""
    return max(SIZE[0] / shape[1], SIZE[1] / shape[0]) * 1.02


def _suits(kind: str, shape: tuple[int, int], entry: dict) -> bool:
    """Whether a photo has the faces a kind of shot is about: 20-40 px in a whip pan, a face
    to zoom out from, a crowd of ``CROWD_MIN`` faces of 20-30 px."""
    heights = np.array([b[3] for b in entry["boxes"]], float)
    if kind == "whip":
        near = heights * _s_min(shape) * WHIP_ZOOM[0]
        return bool(((near >= 20) & (near < 40)).any())
    if kind == "zoom-out":
        return _zoom_face(shape, heights) is not None
    return _crowd_faces(shape, heights)[1].sum() >= CROWD_MIN


def _whip_path(shape: tuple[int, ...], rng: np.random.Generator, length: int) -> CameraPath:
    """A handheld camera holding on one side of the photo, whipping to the other in a few
    frames (tens of pixels a frame at its fastest), holding, and whipping back."""
    s = _s_min(shape) * rng.uniform(*WHIP_ZOOM)
    lo, hi = _centre_range(shape, s)
    reach = hi - lo
    a = np.array([lo[0] + rng.uniform(0, 0.15) * reach[0], rng.uniform(lo[1], hi[1])])
    b = np.array([hi[0] - rng.uniform(0, 0.15) * reach[0], rng.uniform(lo[1], hi[1])])
    if rng.random() < 0.5:
        a, b = b, a
    centres: list[np.ndarray] = []
    while len(centres) < length:
        centres += [a] * int(rng.integers(*WHIP_HOLD))
        frames = int(rng.integers(*WHIP_FRAMES))
        for k in range(1, frames + 1):
            u = k / frames
            centres.append(a + (b - a) * u * u * (3 - 2 * u))  # eased: slow, fast, slow
        a, b = b, a
    return _handheld([(s, c) for c in centres[:length]], shape, rng, rng.uniform(0, 6))


def _zoom_path(
    shape: tuple[int, ...], boxes: np.ndarray, rng: np.random.Generator, length: int
) -> CameraPath:
    """A zoom-out from a face of ``ZOOM_FACE[0]`` px to ``ZOOM_FACE[1]`` px or the widest view
    the photo allows, at a steady rate after a short hold, the camera aimed near the face."""
    face = _zoom_face(shape, boxes[:, 3] - boxes[:, 1])
    x1, y1, x2, y2 = boxes[face]
    s0 = ZOOM_FACE[0] / (y2 - y1)
    s1 = max(_s_min(shape), ZOOM_FACE[1] / (y2 - y1))
    aim = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    aim += rng.uniform(-0.3, 0.3, size=2) * np.array(SIZE) / 2 / s0
    hold = int(rng.integers(2, 6))
    scales = [s0] * hold + list(np.geomspace(s0, s1, length - hold))
    return _handheld([(s, aim) for s in scales[:length]], shape, rng, rng.uniform(0, 4))


def _zoom_face(shape: tuple[int, ...], heights: np.ndarray) -> int | None:
    """The largest face a zoom-out can take from ``ZOOM_FACE[0]`` px to 20 px or less without
    enlarging the photo over ``MAX_UPSCALE`` times; None if the photo has none."""
    end = heights * _s_min(shape)
    fits = (end <= ZOOM_FACE[1] + 1) & (ZOOM_FACE[0] / np.maximum(heights, 1e-9) <= MAX_UPSCALE)
    return int(np.flatnonzero(fits)[np.argmax(heights[fits])]) if fits.any() else None


def _crowd_path(
    shape: tuple[int, ...], boxes: np.ndarray, rng: np.random.Generator, length: int
) -> tuple[CameraPath, list[Occluder]]:
    """A slow handheld pan over a crowd scaled so its faces are mostly 20-30 px, seen through
    a barrier nearer the camera (so it moves faster than the crowd as the camera moves)."""
    s, crowd = _crowd_faces(shape, boxes[:, 3] - boxes[:, 1])
    centres = (boxes[crowd, :2] + boxes[crowd, 2:]) / 2
    start = np.median(centres, axis=0)
    speed, angle = rng.uniform(0, 4), rng.uniform(0, 2 * np.pi)
    step = speed * np.array([np.cos(angle), np.sin(angle)]) / s
    path = _handheld([(s, start + t * step) for t in range(length)], shape, rng, rng.uniform(0, 4))
    face_height = float(np.median(boxes[crowd, 3] - boxes[crowd, 1])) * s
    top = SIZE[1] / 2 + (start[1] - path[0][2]) * s + rng.uniform(-0.3, 0.5) * face_height
    barrier = _Barrier(
        top=top,
        spacing=rng.uniform(14, 22),
        post=int(rng.integers(3, 6)),
        rail=int(rng.integers(5, 9)),
        phase=rng.uniform(0, 22),
    )
    return path, [barrier.mask(p, path[0]) for p in path]


def _crowd_faces(shape: tuple[int, ...], heights: np.ndarray) -> tuple[float, np.ndarray]:
    """The scale that brings the photo's median face to ``CROWD_FACE`` px (within what the
    photo allows), and which faces are then 20-30 px."""
    if len(heights) == 0:
        return 1.0, np.zeros(0, bool)
    s = float(np.clip(CROWD_FACE / np.median(heights), _s_min(shape), MAX_UPSCALE))
    return s, (heights * s >= 20) & (heights * s < 30)


@dataclass(frozen=True)
class _Barrier:
    """A crowd-control barrier across the lower frame: a top rail, a lower one and upright
    posts, standing ``PARALLAX`` times nearer the camera than the crowd behind it."""

    top: float  # frame y of the top rail in the first frame
    spacing: float  # px between posts
    post: int  # px wide
    rail: int  # px tall
    phase: float  # px: where the first post stands

    def mask(
        self, here: tuple[float, float, float], first: tuple[float, float, float]
    ) -> np.ndarray:
        """Pixels hidden in a frame filmed at ``here``, the first frame at ``first``."""
        s, px, py = here
        dx = -PARALLAX * (px - first[1]) * s
        dy = -PARALLAX * (py - first[2]) * s
        ow, oh = SIZE
        mask = np.zeros((oh, ow), bool)
        top = int(round(self.top + dy))
        lower = top + int(2.5 * self.spacing)
        for y in (top, lower):
            mask[max(y, 0) : max(y + self.rail, 0)] = True
        posts = (np.arange(ow) - self.phase - dx) % self.spacing < self.post
        mask[max(top, 0) :, posts] = True
        return mask


def _handheld(
    aims: list[tuple[float, np.ndarray]],
    shape: tuple[int, ...],
    rng: np.random.Generator,
    shake: float,
) -> CameraPath:
    """A path through ``aims`` (scale, photo point) with hand shake of ``shake`` frame pixels,
    kept inside the photo."""
    path = []
    for s, aim in aims:
        lo, hi = _centre_range(shape, s)
        point = np.clip(aim + rng.normal(0, shake, size=2) / s, lo, hi)
        path.append((float(s), float(point[0]), float(point[1])))
    return path


def _centre_range(shape: tuple[int, ...], s: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo points a frame at scale ``s`` can centre on and stay inside the photo."""
    h, w = shape[:2]
    half = np.array(SIZE) / 2 / s
    return half, np.maximum(np.array([w, h]) - half, half)


class _Row(NamedTuple):
    """One visible face in one frame, as one variant covered it."""

    variant: str  # "per_frame" or "tracked"
    shot: str
    face: int  # index of the face in its shot
    height: float
    covered: bool
    kind: str  # the shot's kind


def evaluate(
    shots: list[Shot],
    detect: Callable[[np.ndarray], list[Detection]],
    config: TrackerConfig,
    padding: float,
    cover: float,
    quick: Callable[[np.ndarray], list[Detection]],
    keyframes: int = 1,
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None = None,
    faint: Callable[[np.ndarray], list[Candidate]] | None = None,
) -> dict:
    stream = [(s, t) for s in shots for t in range(len(s.frames))]
    detections, quick_detections, faint_candidates, cut_flags = [], [], [], []
    start = time.perf_counter()
    for i, (shot, t) in enumerate(stream):
        detections.append(detect(shot.frames[t]))
        quick_detections.append(quick(shot.frames[t]))
        faint_candidates.append(faint(shot.frames[t]) if faint else [])
        prev = stream[i - 1] if i else None
        cut_flags.append(prev is not None and is_scene_cut(prev[0].frames[prev[1]], shot.frames[t]))
    detect_seconds = time.perf_counter() - start
    true_cuts = {i for i, (_, t) in enumerate(stream) if t == 0 and i > 0}
    found = {i for i, c in enumerate(cut_flags) if c}

    start = time.perf_counter()
    analysis, tracked = track_stream(
        [shot.frames[t] for shot, t in stream],
        detections,
        quick_detections,
        near,
        config,
        keyframes,
        SIZE,
        faint_candidates,
    )
    track_seconds = time.perf_counter() - start

    masks = {
        "per_frame": [[d.box for d in found_here] for found_here in detections],
        "tracked": [[r.box for r in tracked[i]] for i in range(len(stream))],
    }
    rows, away = _score(stream, masks, padding, cover)
    kinds = sorted({shot.kind for shot in shots} - {"moving"}, key=KINDS.index)
    variants = {name: _variant_report(rows, name, kinds) for name in masks}
    variants["tracked"]["never_found_faces"] = _never_found_faces(rows)
    for name in variants:
        variants[name]["away_pixels"] = away[name]
    return {
        "shots": len(shots),
        "frames": len(stream),
        "tracker": analysis.tracker.config.__dict__,
        "keyframes": keyframes,
        "lag": analysis.tracker.lag,
        "cuts": {
            "true": len(true_cuts),
            "found": len(found & true_cuts),
            "false": len(found - true_cuts),
        },
        "detect_s_per_frame": round(detect_seconds / len(stream), 3),
        "track_ms_per_frame": round(1000 * track_seconds / len(stream), 3),
        "kinds": kinds,
        "variants": variants,
        "over_redaction_ratio": round(away["tracked"] / max(away["per_frame"], 1), 3),
        "pulses": _pulses(tracked),
        "over_redaction_share": {
            name: round(px / (len(stream) * SIZE[0] * SIZE[1]), 4) for name, px in away.items()
        },
    }


def _score(
    stream: list[tuple[Shot, int]],
    boxes: dict[str, list[list[Box]]],
    padding: float,
    cover: float,
) -> tuple[list[_Row], dict[str, int]]:
    """Each variant's coverage of every visible face in every frame, and the pixels it
    covered away from the faces (summed over frames)."""
    rows = []
    away = dict.fromkeys(boxes, 0)
    for i, (shot, t) in enumerate(stream):
        vis = shot.visible[t]
        heights = shot.faces[t][:, 3] - shot.faces[t][:, 1]
        far = _away(shot, t)
        for name, per_frame in boxes.items():
            mask = _mask(per_frame[i], padding)
            share = _covered(mask, shot.faces[t][vis], shot.occluder[t])
            for k, h, c in zip(np.flatnonzero(vis), heights[vis], share, strict=True):
                rows.append(_Row(name, shot.name, int(k), float(h), bool(c >= cover), shot.kind))
            away[name] += int((mask & far).sum())
    return rows, away


def _variant_report(rows: list[_Row], variant: str, kinds: list[str]) -> dict:
    """Leaks of one variant by face height, over the faces the per-frame detector finds in
    some frame of their shot ("trackable") or in most ("mostly detected"), and by kind of shot;
    each row also counts the leaks of faces it never finds ("never found"), which no tracker
    can cover."""
    hits: dict[tuple[str, int], list[bool]] = {}
    for r in rows:
        if r.variant == "per_frame":
            hits.setdefault((r.shot, r.face), []).append(r.covered)
    seen = {key for key, oks in hits.items() if any(oks)}
    mostly = {key for key, oks in hits.items() if np.mean(oks) >= 0.5}
    mine = [r for r in rows if r.variant == variant]
    report = {}
    for bucket, lo, hi in BUCKETS:
        report[bucket] = _leak_stats([r for r in mine if lo <= r.height < hi], seen)
    report["all"] = _leak_stats(mine, seen)
    report["trackable"] = _leak_stats([r for r in mine if (r.shot, r.face) in seen], seen)
    report["trackable 20+"] = _leak_stats(
        [r for r in mine if (r.shot, r.face) in seen and r.height >= 20], seen
    )
    report["mostly detected"] = _leak_stats([r for r in mine if (r.shot, r.face) in mostly], seen)
    for kind in kinds:
        report[f"{kind} 20+"] = _leak_stats(
            [r for r in mine if r.kind == kind and r.height >= 20], seen
        )
    return report


def _never_found_faces(rows: list[_Row]) -> list[dict]:
    """The faces 20 px+ the per-frame detector finds in no frame of their shot, each with
    the frames it is left readable in with tracking and its median height, most frames
    first: so the few faces behind the rate can be looked at (``_photo`` names the photo)."""
    seen = {(r.shot, r.face) for r in rows if r.variant == "per_frame" and r.covered}
    leaked: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r.variant == "tracked" and r.height >= 20 and not r.covered:
            if (r.shot, r.face) not in seen:
                leaked.setdefault((r.shot, r.face), []).append(r.height)
    faces = [
        {"shot": shot, "face": face, "frames": len(h), "height": round(float(np.median(h)))}
        for (shot, face), h in leaked.items()
    ]
    return sorted(faces, key=lambda f: -f["frames"])


def _leak_stats(rows: list[_Row], seen: set[tuple[str, int]]) -> dict:
    n = len(rows)
    leaks = sum(1 for r in rows if not r.covered)
    never = sum(1 for r in rows if not r.covered and (r.shot, r.face) not in seen)
    return {"face_frames": n, "leaks": leaks, "never_found": never, **_rates(n, leaks, never)}


def _rates(face_frames: int, leaks: int, never: int) -> dict:
    def per_1000(count: int) -> float | None:
        return round(1000 * count / face_frames, 1) if face_frames else None

    return {"per_1000": per_1000(leaks), "never_found_per_1000": per_1000(never)}


# The rows of the report, in order; each kind of the hard mode's shots adds a row of its own.
REPORT_ROWS = (
    "<10",
    "10-20",
    "20-30",
    "30+",
    "20+",
    "all",
    "trackable",
    "trackable 20+",
    "mostly detected",
)


def format_report(result: dict) -> str:
    """The leak table (per 1000 visible face-frames, without and with tracking, and the
    tracked leaks of faces the detector never finds in their shot), then over-redaction and
    flicker."""
    pf, tr = result["variants"]["per_frame"], result["variants"]["tracked"]
    lines = [
        f"{result['shots']} shots, {result['frames']} frames; scene cuts: {result['cuts']}; "
        f"detector {result['detect_s_per_frame']} s/frame, "
        "analysis loop (tracking, motion, schedule, close looks) "
        f"{result['track_ms_per_frame']} ms/frame",
        f"{'faces':<16}{'face-frames':>12}{'per-frame leaks/1000':>22}"
        f"{'tracked leaks/1000':>20}{'fewer':>8}{'of which never found':>24}",
    ]
    for key in REPORT_ROWS + tuple(f"{kind} 20+" for kind in result.get("kinds", [])):
        a, b = pf[key], tr[key]
        ratio = f"{a['leaks'] / b['leaks']:.1f}x" if b["leaks"] else ("inf" if a["leaks"] else "-")
        never = (
            f"{b['never_found_per_1000']} ({100 * b['never_found'] / b['leaks']:.0f}%)"
            if b["leaks"]
            else "-"
        )
        lines.append(
            f"{key:<16}{a['face_frames']:>12}{a['per_1000']!s:>22}{b['per_1000']!s:>20}"
            f"{ratio:>8}{never:>24}"
        )
    share = result["over_redaction_share"]
    lines.append(
        f"over-redaction tracked / per-frame: {result['over_redaction_ratio']} "
        f"({100 * share['tracked']:.2f}% vs {100 * share['per_frame']:.2f}% of frame area)"
    )
    never = tr.get("never_found_faces", [])
    if never:
        most = ", ".join(
            f"{Path(f['shot']).name} #{f['face']} ({f['frames']} frames, {f['height']} px)"
            for f in never[:4]
        )
        lines.append(
            f"faces 20 px+ never found, left readable: {len(never)} faces, "
            f"{sum(f['frames'] for f in never)} face-frames; most: {most}"
        )
    pulses = result["pulses"]
    lines.append(
        f"mask area changing over 1.2x from one frame to the next: "
        f"{pulses['jumps']} of {pulses['pairs']} frame pairs, "
        f"{pulses['of_which_detected_carried']} of them at a detected/carried swap, "
        f"{pulses['flickers']} undone within two frames (flicker)"
    )
    return "\n".join(lines)


def pool(results: Sequence[dict]) -> dict:
    """Several seeds' results as one: leaks, face-frames, pixels away from faces, cuts and
    mask jumps summed (so every rate is over all face-frames of all seeds), times averaged
    over frames."""
    frames = sum(r["frames"] for r in results)
    pooled = {
        **results[0],
        "seeds": len(results),
        "shots": sum(r["shots"] for r in results),
        "frames": frames,
        "cuts": _sum_dicts([r["cuts"] for r in results]),
        "pulses": _sum_dicts([r["pulses"] for r in results]),
        "detect_s_per_frame": round(
            sum(r["detect_s_per_frame"] * r["frames"] for r in results) / frames, 3
        ),
        "track_ms_per_frame": round(
            sum(r["track_ms_per_frame"] * r["frames"] for r in results) / frames, 3
        ),
        "variants": {},
    }
    away = {}
    for name in results[0]["variants"]:
        report = {}
        for key, first in results[0]["variants"][name].items():
            if isinstance(first, dict):
                summed = _sum_dicts([r["variants"][name][key] for r in results], first.keys())
                counts = summed["face_frames"], summed["leaks"], summed["never_found"]
                report[key] = {**summed, **_rates(*counts)}
        away[name] = sum(r["variants"][name]["away_pixels"] for r in results)
        report["away_pixels"] = away[name]
        if "never_found_faces" in results[0]["variants"][name]:
            faces = [f for r in results for f in r["variants"][name]["never_found_faces"]]
            report["never_found_faces"] = sorted(faces, key=lambda f: -f["frames"])
        pooled["variants"][name] = report
    pooled["over_redaction_ratio"] = round(away["tracked"] / max(away["per_frame"], 1), 3)
    pooled["over_redaction_share"] = {
        name: round(px / (frames * SIZE[0] * SIZE[1]), 4) for name, px in away.items()
    }
    return pooled


def _sum_dicts(dicts: Sequence[dict], keys: Iterable[str] | None = None) -> dict:
    """The counts of ``dicts`` summed key by key (rates, which do not add, are left out)."""
    keys = dicts[0].keys() if keys is None else keys
    return {k: sum(d[k] for d in dicts) for k in keys if "per_1000" not in k}


def save_strips(
    paths: Sequence[Path],
    out: Path,
    detect_faint: Callable[[np.ndarray], tuple[list[Detection], list[Candidate]]],
    config: TrackerConfig,
    padding: float,
    quick: Callable[[np.ndarray], list[Detection]],
    keyframes: int,
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None = None,
    step: int = 3,
    per_row: int = 6,
) -> list[tuple[Path, dict]]:
    """Every ``step``-th frame of each clip, regions drawn, tiled into one image per clip.

    Also returns, per clip, counts of carried regions and the masked area with tracking over
    the masked area of per-frame detections (padded boxes, summed over frames).
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        h, w = frames[0].shape[:2]
        found, faint = zip(*(detect_faint(frame) for frame in frames), strict=True)
        found = list(found)
        cuts = sum(is_scene_cut(a, b) for a, b in zip(frames, frames[1:], strict=False))
        _, regions = track_stream(
            frames, found, [quick(f) for f in frames], near, config, keyframes, (w, h), list(faint)
        )
        area = [
            sum(_area([d.box for d in found[i]], padding, w, h) for i in range(len(frames))),
            sum(_area([r.box for r in regions[i]], padding, w, h) for i in range(len(frames))),
        ]
        stats = {
            "frames": len(frames),
            "scene_cuts": cuts,
            "detections": sum(map(len, found)),
            "carried": sum(not r.detected for rs in regions.values() for r in rs),
            "tracks": len({r.track for rs in regions.values() for r in rs}),
            "area_ratio": round(area[1] / max(area[0], 1), 3),
            "pulses": _pulses(regions),
        }
        tiles = []
        scale = 480 / w
        for i in range(0, len(frames), step):
            padded = [replace(r, box=r.box.padded(padding).clipped(w, h)) for r in regions[i]]
            shown = obscure(frames[i], padded, Settings(padding=padding))
            tile = cv2.resize(shown, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for r in padded:
                b = r.box.scaled(scale)
                colour = (0, 220, 0) if r.detected else (0, 0, 255)
                cv2.rectangle(tile, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 1)
                cv2.putText(
                    tile,
                    str(r.track),
                    (int(b.x1), int(b.y1) - 2),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.35,
                    colour,
                    1,
                )
            cv2.putText(tile, str(i), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
            tiles.append(tile)
        while len(tiles) % per_row:
            tiles.append(np.zeros_like(tiles[0]))
        grid = np.vstack([np.hstack(tiles[k : k + per_row]) for k in range(0, len(tiles), per_row)])
        target = out / f"{path.stem}_strip.png"
        cv2.imwrite(str(target), grid)
        written.append((target, stats))
    return written


class _Replayed:
    """The face detector as the analysis loop meets it here: full and quick passes answered
    from detections made once per frame (so another tracker setting, ``--set``, reuses them);
    the analysis loop decides which it asks for, frame by frame, as it does on a video."""

    name = "faces"
    labels = ("face",)

    def __init__(
        self,
        full: list[list[Detection]],
        quick: list[list[Detection]],
        faint: list[list[Candidate]],
    ) -> None:
        self.full, self.quick, self.faint = full, quick, faint
        self.index = 0  # the frame the loop is analysing

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.full[self.index]

    def detect_faint(self, frame: np.ndarray) -> tuple[list[Detection], list[Candidate]]:
        return self.full[self.index], self.faint[self.index]

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        return self.quick[self.index]


class _ReplayedNear(_Replayed):
    """With the close look, run live: where it looks depends on the tracker."""

    def __init__(
        self, full, quick, faint, near: Callable[[np.ndarray, list[Box]], list[Detection]]
    ):
        super().__init__(full, quick, faint)
        self.detect_near = near


def track_stream(
    frames: Sequence[np.ndarray],
    full: list[list[Detection]],
    quick: list[list[Detection]],
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None,
    config: TrackerConfig,
    keyframes: int,
    size: tuple[int, int],
    faint: list[list[Candidate]] | None = None,
) -> tuple[Analysis, dict[int, list[Region]]]:
    """Run the pipeline's analysis loop over ``frames`` with these detections (and the faint
    candidates of each frame's full pass); return the loop (its tracker's settings and lag)
    and the regions of every frame, before padding."""
    faint = faint if faint is not None else [[] for _ in frames]
    detector = (
        _Replayed(full, quick, faint) if near is None else _ReplayedNear(full, quick, faint, near)
    )
    analysis = Analysis([detector], size, every=keyframes, tracker=config, video=True)

    def stream() -> Iterator[Frame]:
        for i, image in enumerate(frames):
            detector.index = i
            yield Frame(index=i, time=i / 25, image=image)

    return analysis, {frame.index: regions for frame, regions in analysis.run(stream())}


def _pulses(regions: dict[int, list[Region]], jump: float = 1.2) -> dict:
    """How often a track's mask jumps in size from one frame to the next: pairs of
    consecutive frames whose box areas differ by more than ``jump`` times, out of all such
    pairs, and how many of those jumps are a switch between a detected and a carried box.
    ``flickers`` counts the jumps a viewer sees as pulsing: those undone by a jump the other
    way within the next two frames (a mask that grows as a face nears the camera, or once
    when the face is found again, only steps)."""
    boxes: dict[int, dict[int, Region]] = {}
    for i, rs in regions.items():
        for r in rs:
            boxes.setdefault(r.track, {})[i] = r
    pairs = jumps = switches = flickers = 0
    for by_frame in boxes.values():
        signs: dict[int, int] = {}
        for i, r in by_frame.items():
            nxt = by_frame.get(i + 1)
            if nxt is None:
                continue
            pairs += 1
            a, b = r.box.area, nxt.box.area
            if max(a, b) > jump * max(min(a, b), 1e-9):
                jumps += 1
                switches += r.detected != nxt.detected
                signs[i] = 1 if b > a else -1
        flickers += sum(any(signs.get(i + k) == -sign for k in (1, 2)) for i, sign in signs.items())
    return {
        "pairs": pairs,
        "jumps": jumps,
        "of_which_detected_carried": switches,
        "flickers": flickers,
    }


def _area(boxes: Sequence[Box], padding: float, width: int, height: int) -> int:
    """Pixels inside the union of the padded boxes, on a quarter-size grid."""
    mask = np.zeros((height // 4 + 1, width // 4 + 1), bool)
    for box in boxes:
        b = box.padded(padding).clipped(width, height).scaled(0.25)
        mask[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))] = True
    return int(mask.sum())


class _DetectionCache:
    """Detections of one set of sequences, saved as JSON, so that trying another tracker
    setting (``--set``) does not rerun the detector. Frames are answered in stream order."""

    def __init__(self, detect: Callable[[np.ndarray], list[Detection]], path: Path, key: dict):
        self.detect, self.path, self.key = detect, path, key
        saved = json.loads(path.read_text()) if path.exists() else None
        if saved is not None and saved["key"] != key:
            raise SystemExit(f"{path} holds detections of other sequences: {saved['key']}")
        self.saved = iter(saved["frames"]) if saved else None
        self.frames: list[list] = []

    def __call__(self, frame: np.ndarray) -> list:
        if self.saved is not None:
            return [self._decode(row) for row in next(self.saved)]
        found = self.detect(frame)
        self.frames.append([self._encode(item) for item in found])
        return found

    def save(self) -> None:
        if self.saved is None:
            self.path.write_text(json.dumps({"key": self.key, "frames": self.frames}))

    @staticmethod
    def _encode(d: Detection) -> list:
        return [d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, d.label, d.source]

    @staticmethod
    def _decode(row: list) -> Detection:
        return Detection(Box(*row[:4]), row[4], row[5], row[6])


class _CandidateCache(_DetectionCache):
    """The faint candidates of each frame's full pass, kept the same way."""

    @staticmethod
    def _encode(c: Candidate) -> list:
        return [c.box.x1, c.box.y1, c.box.x2, c.box.y2, c.score, c.needed, c.label]

    @staticmethod
    def _decode(row: list) -> Candidate:
        return Candidate(Box(*row[:4]), row[4], row[5], row[6])


class _FullPass:
    """The detector's full pass on each frame, run once for both what it keeps and its faint
    candidates (they are cached apart, so the caches of earlier runs stay valid)."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector
        self._last: tuple[np.ndarray, tuple[list[Detection], list[Candidate]]] | None = None

    def _run(self, frame: np.ndarray) -> tuple[list[Detection], list[Candidate]]:
        if self._last is None or self._last[0] is not frame:
            self._last = (frame, self.detector.detect_faint(frame))
        return self._last[1]

    def kept(self, frame: np.ndarray) -> list[Detection]:
        return self._run(frame)[0]

    def faint(self, frame: np.ndarray) -> list[Candidate]:
        return self._run(frame)[1]


def _config(overrides: Sequence[str]) -> TrackerConfig:
    defaults = TrackerConfig()
    changes = {}
    for item in overrides:
        name, _, value = item.partition("=")
        if not hasattr(defaults, name):
            raise SystemExit(f"TrackerConfig has no field {name!r}")
        changes[name] = type(getattr(defaults, name))(value)
    return replace(defaults, **changes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", type=Path, nargs="?", default=Path("../shared/data/faces_wider_val")
    )
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds",
        help="comma-separated seeds, each reported, then pooled (leaks and face-frames summed); "
        "--cache then takes {seed}, e.g. /tmp/ms{seed}.json",
    )
    parser.add_argument(
        "--hard",
        action="store_true",
        help="whip pans, zoom-outs through 30 to 20 px and crowds behind a barrier",
    )
    parser.add_argument("--padding", type=float, default=0.2)
    parser.add_argument("--cover", type=float, default=0.9)
    parser.add_argument("--json", type=Path, help="also write the full result here")
    parser.add_argument(
        "--cache", type=Path, help="keep detections here and reuse them (speed is then not real)"
    )
    parser.add_argument(
        "--keyframes",
        type=int,
        default=Settings.keyframes,
        help="full detector every N frames, quick pass between, as the pipeline runs video",
    )
    parser.add_argument(
        "--no-near",
        action="store_true",
        help="between keyframes, do not look again closely where tracked faces are expected",
    )
    parser.add_argument("--strips", type=Path, help="save strips of real clips here instead")
    parser.add_argument(
        "--clips",
        type=Path,
        nargs="*",
        default=[
            Path("../shared/data/videos/street_walking_1080p.mp4"),
            Path("../shared/data/videos/head_pose_two_people.gif"),
        ],
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a TrackerConfig field, e.g. --set drift_growth=0.01",
    )
    args = parser.parse_args(argv)
    detector = load_detector()
    full = _FullPass(detector)
    detect, quick, faint = full.kept, detector.detect_quick, full.faint
    config = _config(args.set)
    near = None if args.no_near else detector.detect_near
    if args.strips:
        for path, stats in save_strips(
            args.clips,
            args.strips,
            detector.detect_faint,
            config,
            args.padding,
            quick,
            args.keyframes,
            near,
        ):
            print(path, stats)
        return 0
    seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed]
    if args.cache and len(seeds) > 1 and "{seed}" not in str(args.cache):
        parser.error("with several --seeds, name the cache with {seed} in it")
    results = []
    for seed in seeds:
        result = run_seed(args, seed, detect, quick, near, config, faint)
        if len(seeds) > 1:
            print(f"seed {seed}:")
        print(format_report(result))
        results.append(result)
    if len(seeds) > 1:
        results.append(pool(results))
        print(f"pooled over seeds {', '.join(map(str, seeds))}:")
        print(format_report(results[-1]))
    if args.json:
        args.json.write_text(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 0


def run_seed(
    args: argparse.Namespace,
    seed: int,
    detect: Callable[[np.ndarray], list[Detection]],
    quick: Callable[[np.ndarray], list[Detection]],
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None,
    config: TrackerConfig,
    faint: Callable[[np.ndarray], list[Candidate]],
) -> dict:
    """One seed's shots, with its detections taken from (or kept in) its cache file. The hard
    mode's cache key differs from the default mode's, so neither reads the other's file."""
    shots = list(load_shots(args.folder, args.shots, args.length, seed, hard=args.hard))
    caches = []
    if args.cache:
        key = {"shots": args.shots, "length": args.length, "seed": seed}
        if args.hard:
            key["mode"] = "hard"
        path = Path(str(args.cache).replace("{seed}", str(seed)))
        detect = _DetectionCache(detect, path, key)
        quick = _DetectionCache(quick, path.with_suffix(".quick.json"), key)
        faint = _CandidateCache(faint, path.with_suffix(".faint.json"), key)
        caches = [detect, quick, faint]
    result = evaluate(
        shots, detect, config, args.padding, args.cover, quick, args.keyframes, near, faint
    )
    for cache in caches:
        cache.save()
    return result


if __name__ == "__main__":
    sys.exit(main())
