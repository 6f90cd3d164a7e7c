"""Leaked face-frames with and without tracking, on moving sequences made from annotated photos.

No public video set has face boxes on every frame, so we make one whose truth is exact: each
sequence is a 640x360 camera moving over one photo of ``faces_wider_val`` (pan, zoom, hand
shake, motion blur from the camera's own motion, and in half of them a pole-like bar sweeping
across that hides faces for a few frames). The true boxes are the photo's annotated boxes put
through the same transform. Sequences are played back to back as one stream, so the scene-cut
detector is exercised too (true cuts found and false cuts are reported).

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
behind the bar. A visible face **leaks** when less than ``--cover`` of its visible pixels are
inside the union of padded regions. Leaks are counted per thousand visible face-frames, by
face height, and also over "trackable" faces (those the detector covers in at least one frame
of their sequence), the ones tracking can help, and "mostly detected" faces (covered in at
least half of their visible frames: the face that flashes into view where the detector misses
it). **Over-redaction** is the area the regions
cover away from every face (outside each face or ignore box grown by 25% of its size, as
``anonymize.eval`` counts it), summed over all frames; the ratio tracked / per-frame is
reported.

    nice /work/venv/bin/python benchmarks/moving_sequences.py ../shared/data/faces_wider_val \
        --seed 0 --cache /tmp/ms_seed0.json

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from anonymize.analysis import Analysis, is_scene_cut
from anonymize.config import Settings
from anonymize.detect.faces import FaceDetector
from anonymize.obscure import obscure
from anonymize.track import TrackerConfig
from anonymize.types import Box, Detection, Frame, Region

SIZE = (640, 360)
BUCKETS = (("<10", 0, 10), ("10-20", 10, 20), ("20+", 20, 10**9))
AWAY_MARGIN = 0.25


@dataclass(frozen=True)
class Shot:
    """One generated sequence: frames with the true boxes (N x 4, x1 y1 x2 y2) in each."""

    name: str
    frames: list[np.ndarray]
    faces: list[np.ndarray]  # per frame, every annotated face, in frame pixels
    visible: list[np.ndarray]  # per frame, bool per face
    ignore: list[np.ndarray]
    occluder: list[tuple[int, int] | None]  # per frame, x-range of the bar


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
    h, w = image.shape[:2]
    ow, oh = size
    s_min = max(ow / w, oh / h) * 1.02
    s0, s1 = rng.uniform(s_min, s_min * 1.5, size=2)
    speed = rng.uniform(0, 10)  # output pixels per frame
    angle = rng.uniform(0, 2 * np.pi)
    shake = rng.uniform(0, 8)
    bar = rng.random() < 0.5
    bar_width, bar_speed = int(ow * 0.12), rng.uniform(20, 40)
    cx, cy = w / 2 + rng.uniform(-0.2, 0.2) * w, h / 2 + rng.uniform(-0.2, 0.2) * h
    frames, faces, visible, ignores, bars = [], [], [], [], []
    prev: np.ndarray | None = None
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
        m = np.array([[s, 0, ow / 2 - s * px], [0, s, oh / 2 - s * py]])
        frame = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_AREA)
        here = np.array([px, py])
        if prev is not None:
            frame = _motion_blur(frame, (prev - here) * s * 0.5)  # shutter open half the frame
        prev = here
        f_boxes = _transform(boxes, m)
        occ = None
        if bar:
            x = int(-bar_width + bar_speed * t) % (ow + 3 * bar_width) - bar_width
            occ = (max(x, 0), min(x + bar_width, ow))
            if occ[1] > occ[0]:
                frame[:, occ[0] : occ[1]] = (60, 60, 70)
            else:
                occ = None
        frames.append(frame)
        faces.append(f_boxes)
        visible.append(_visible(f_boxes, occ, size))
        ignores.append(_transform(ignore, m))
        bars.append(occ)
    return Shot(name, frames, faces, visible, ignores, bars)


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


def _visible(
    boxes: np.ndarray, occ: tuple[int, int] | None, size: tuple[int, int] = SIZE
) -> np.ndarray:
    ow, oh = size
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = np.clip(boxes, 0, [ow, oh, ow, oh])
    in_w = np.maximum(inside[:, 2] - inside[:, 0], 0)
    in_h = np.maximum(inside[:, 3] - inside[:, 1], 0)
    hidden = 0.0
    if occ is not None:
        hidden = np.maximum(np.minimum(inside[:, 2], occ[1]) - np.maximum(inside[:, 0], occ[0]), 0)
    return (in_w - hidden) * in_h >= 0.5 * np.maximum(area, 1e-9)


def _mask(regions: Sequence[Box], padding: float) -> np.ndarray:
    ow, oh = SIZE
    mask = np.zeros((oh, ow), bool)
    for box in regions:
        b = box.padded(padding).clipped(ow, oh)
        mask[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))] = True
    return mask


def _covered(mask: np.ndarray, boxes: np.ndarray, occ: tuple[int, int] | None) -> np.ndarray:
    """Share of each box's visible pixels inside ``mask``."""
    ow, oh = SIZE
    seen = np.ones_like(mask)
    if occ is not None:
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
    folder: Path, count: int, length: int, seed: int, size: tuple[int, int] = SIZE
) -> Iterator[Shot]:
    entries = json.loads((folder / "gt.json").read_text())
    rng = np.random.default_rng(seed)
    # Photos with at least one face that stays 20 px+ at the reduced size: the sizes that matter.
    usable = [e for e in entries if any(b[3] * 0.62 >= 20 for b in e["boxes"])]
    for k in rng.choice(len(usable), size=min(count, len(usable)), replace=False):
        entry = usable[int(k)]
        image = cv2.imread(str(folder / entry["image"]))
        boxes = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in entry["boxes"]], float)
        ignore = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in entry["ignore"]], float)
        yield make_shot(
            image, boxes.reshape(-1, 4), ignore.reshape(-1, 4), entry["image"], rng, length, size
        )


def evaluate(
    shots: list[Shot],
    detect: Callable[[np.ndarray], list[Detection]],
    config: TrackerConfig,
    padding: float,
    cover: float,
    quick: Callable[[np.ndarray], list[Detection]],
    keyframes: int = 1,
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None = None,
) -> dict:
    stream = [(s, t) for s in shots for t in range(len(s.frames))]
    detections, quick_detections, cut_flags = [], [], []
    start = time.perf_counter()
    for i, (shot, t) in enumerate(stream):
        detections.append(detect(shot.frames[t]))
        quick_detections.append(quick(shot.frames[t]))
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
    )
    track_seconds = time.perf_counter() - start

    variants = {"per_frame": {}, "tracked": {}}
    rows = []  # (variant, shot, face index, height, covered)
    away = {"per_frame": 0, "tracked": 0}
    for i, (shot, t) in enumerate(stream):
        masks = {
            "per_frame": _mask([d.box for d in detections[i]], padding),
            "tracked": _mask([r.box for r in tracked[i]], padding),
        }
        vis = shot.visible[t]
        heights = shot.faces[t][:, 3] - shot.faces[t][:, 1]
        far = _away(shot, t)
        for name, mask in masks.items():
            share = _covered(mask, shot.faces[t][vis], shot.occluder[t])
            for k, h, c in zip(np.flatnonzero(vis), heights[vis], share, strict=True):
                rows.append((name, shot.name, int(k), float(h), c >= cover))
            away[name] += int((mask & far).sum())
    hits: dict[tuple[str, int], list[bool]] = {}
    for v, s, k, _, ok in rows:
        if v == "per_frame":
            hits.setdefault((s, k), []).append(ok)
    seen_by_detector = {key for key, oks in hits.items() if any(oks)}
    mostly = {key for key, oks in hits.items() if np.mean(oks) >= 0.5}
    for name in variants:
        mine = [r for r in rows if r[0] == name]
        report = {}
        for bucket, lo, hi in BUCKETS:
            sel = [r for r in mine if lo <= r[3] < hi]
            report[bucket] = _leak_stats(sel)
        report["all"] = _leak_stats(mine)
        report["trackable"] = _leak_stats([r for r in mine if (r[1], r[2]) in seen_by_detector])
        report["trackable 20+"] = _leak_stats(
            [r for r in mine if (r[1], r[2]) in seen_by_detector and r[3] >= 20]
        )
        report["mostly detected"] = _leak_stats([r for r in mine if (r[1], r[2]) in mostly])
        report["away_pixels"] = away[name]
        variants[name] = report
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
        "variants": variants,
        "over_redaction_ratio": round(away["tracked"] / max(away["per_frame"], 1), 3),
        "pulses": _pulses(tracked),
        "over_redaction_share": {
            name: round(px / (len(stream) * SIZE[0] * SIZE[1]), 4) for name, px in away.items()
        },
    }


def _leak_stats(rows: list) -> dict:
    n = len(rows)
    leaks = sum(1 for r in rows if not r[4])
    return {"face_frames": n, "leaks": leaks, "per_1000": round(1000 * leaks / n, 1) if n else None}


def format_report(result: dict) -> str:
    pf, tr = result["variants"]["per_frame"], result["variants"]["tracked"]
    lines = [
        f"{result['shots']} shots, {result['frames']} frames; scene cuts: {result['cuts']}; "
        f"detector {result['detect_s_per_frame']} s/frame, "
        "analysis loop (tracking, motion, schedule, close looks) "
        f"{result['track_ms_per_frame']} ms/frame",
        f"{'faces':<16}{'face-frames':>12}{'per-frame leaks/1000':>22}"
        f"{'tracked leaks/1000':>20}{'fewer':>8}",
    ]
    for key in ("<10", "10-20", "20+", "all", "trackable", "trackable 20+", "mostly detected"):
        a, b = pf[key], tr[key]
        ratio = f"{a['leaks'] / b['leaks']:.1f}x" if b["leaks"] else ("inf" if a["leaks"] else "-")
        lines.append(
            f"{key:<16}{a['face_frames']:>12}{a['per_1000']!s:>22}{b['per_1000']!s:>20}{ratio:>8}"
        )
    share = result["over_redaction_share"]
    lines.append(
        f"over-redaction tracked / per-frame: {result['over_redaction_ratio']} "
        f"({100 * share['tracked']:.2f}% vs {100 * share['per_frame']:.2f}% of frame area)"
    )
    pulses = result["pulses"]
    lines.append(
        f"mask area changing over 1.2x from one frame to the next: "
        f"{pulses['jumps']} of {pulses['pairs']} frame pairs, "
        f"{pulses['of_which_detected_carried']} of them at a detected/carried swap, "
        f"{pulses['flickers']} undone within two frames (flicker)"
    )
    return "\n".join(lines)


def save_strips(
    paths: Sequence[Path],
    out: Path,
    detect: Callable[[np.ndarray], list[Detection]],
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
        found = [detect(frame) for frame in frames]
        cuts = sum(is_scene_cut(a, b) for a, b in zip(frames, frames[1:], strict=False))
        _, regions = track_stream(
            frames, found, [quick(frame) for frame in frames], near, config, keyframes, (w, h)
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

    def __init__(self, full: list[list[Detection]], quick: list[list[Detection]]) -> None:
        self.full, self.quick = full, quick
        self.index = 0  # the frame the loop is analysing

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return self.full[self.index]

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        return self.quick[self.index]


class _ReplayedNear(_Replayed):
    """With the close look, run live: where it looks depends on the tracker."""

    def __init__(self, full, quick, near: Callable[[np.ndarray, list[Box]], list[Detection]]):
        super().__init__(full, quick)
        self.detect_near = near


def track_stream(
    frames: Sequence[np.ndarray],
    full: list[list[Detection]],
    quick: list[list[Detection]],
    near: Callable[[np.ndarray, list[Box]], list[Detection]] | None,
    config: TrackerConfig,
    keyframes: int,
    size: tuple[int, int],
) -> tuple[Analysis, dict[int, list[Region]]]:
    """Run the pipeline's analysis loop over ``frames`` with these detections; return the
    loop (its tracker's settings and lag) and the regions of every frame, before padding."""
    detector = _Replayed(full, quick) if near is None else _ReplayedNear(full, quick, near)
    analysis = Analysis([detector], size, every=keyframes, tracker=config)

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

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        if self.saved is not None:
            return [Detection(Box(*d[:4]), d[4], d[5], d[6]) for d in next(self.saved)]
        found = self.detect(frame)
        self.frames.append(
            [[d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, d.label, d.source] for d in found]
        )
        return found

    def save(self) -> None:
        if self.saved is None:
            self.path.write_text(json.dumps({"key": self.key, "frames": self.frames}))


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
    detect, quick = detector.detect, detector.detect_quick
    config = _config(args.set)
    near = None if args.no_near else detector.detect_near
    if args.strips:
        for path, stats in save_strips(
            args.clips, args.strips, detect, config, args.padding, quick, args.keyframes, near
        ):
            print(path, stats)
        return 0
    shots = list(load_shots(args.folder, args.shots, args.length, args.seed))
    caches = []
    if args.cache:
        key = {"shots": args.shots, "length": args.length, "seed": args.seed}
        detect = _DetectionCache(detect, args.cache, key)
        quick = _DetectionCache(quick, args.cache.with_suffix(".quick.json"), key)
        caches = [detect, quick]
    result = evaluate(shots, detect, config, args.padding, args.cover, quick, args.keyframes, near)
    for cache in caches:
        cache.save()
    print(format_report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
