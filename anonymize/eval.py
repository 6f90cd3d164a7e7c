"""Coverage and leak measurement: run the real pipeline on annotated images, compare pixels.

A folder to evaluate holds images and a ``gt.json`` listing, per image, the boxes that must be
obscured (``boxes``) and boxes that count neither way (``ignore``), as ``[x, y, w, h]`` pixels
(see ../shared/data/README.md). Nothing here knows what a box contains, so the same command
measures faces and plates.

The rule, judged on input and output pixels only (never on what the detector said):

* A pixel **changed** when any channel moved by more than ``CHANGE_LEVELS`` (out of 255).
* A box is **obscured** when at most ``MAX_DETAIL`` of its fine detail survives **and** at
  least ``MIN_CHANGED`` of its pixels changed (a blurred cheek may move by less than
  ``CHANGE_LEVELS``, so detail is the main test; the changed share guards boxes with almost
  no detail to begin with). Detail is the Laplacian of the grey image; what
  survives is the share of the original's Laplacian energy that the output still carries in
  the same places, ``sum(L_in * L_out) / sum(L_in ** 2)`` over the box, so an untouched box
  scores 1, a box half covered scores about 0.5, and a thin blurred rim does not count.
* **Over-redaction** is the share of pixels away from every annotated box that changed. "Away"
  means outside each box grown by ``MARGIN`` of its size on every side (padding around a face
  is intended) and outside the ignore boxes.

Outputs are written as PNG so that untouched pixels come back bit-identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from anonymize.config import SENSITIVITIES, TARGETS, Settings

__all__ = [
    "BUCKETS",
    "CHANGE_LEVELS",
    "MARGIN",
    "MAX_DETAIL",
    "MIN_CHANGED",
    "BoxScore",
    "EvalResult",
    "evaluate",
    "format_report",
    "load_ground_truth",
    "score_image",
]

CHANGE_LEVELS = 8
MIN_CHANGED = 0.5
MAX_DETAIL = 0.25
MARGIN = 0.25
# Buckets by box height in pixels: (name, lowest inclusive, highest exclusive).
BUCKETS = (
    ("<10", 0, 10),
    ("10-20", 10, 20),
    ("20-50", 20, 50),
    ("50+", 50, float("inf")),
    ("20+", 20, float("inf")),
    ("all", 0, float("inf")),
)


class _Anonymizer(Protocol):
    def anonymize_file(self, src: Path, dst: Path, report: bool = False) -> object: ...


@dataclass(frozen=True)
class BoxScore:
    """How one annotated box fared in one image."""

    image: str
    box: tuple[int, int, int, int]  # x, y, w, h as annotated
    changed: float  # share of the box's pixels that changed
    detail: float  # share of the original's fine detail that survived
    obscured: bool


@dataclass(frozen=True)
class EvalResult:
    """Per-box outcomes plus the background pixel counts, for one folder."""

    folder: str
    images: int
    boxes: tuple[BoxScore, ...]
    background_pixels: int
    background_changed: int
    seconds: float
    settings: dict = field(default_factory=dict)

    @property
    def over_redaction(self) -> float:
        return self.background_changed / max(1, self.background_pixels)

    def bucket(self, name: str) -> tuple[int, int]:
        """(obscured, total) for a bucket of ``BUCKETS``."""
        _, lo, hi = next(b for b in BUCKETS if b[0] == name)
        inside = [b for b in self.boxes if lo <= b.box[3] < hi]
        return sum(b.obscured for b in inside), len(inside)

    def misses(self) -> list[BoxScore]:
        return [b for b in self.boxes if not b.obscured]

    def to_dict(self) -> dict:
        buckets = {}
        for name, _, _ in BUCKETS:
            hit, total = self.bucket(name)
            buckets[name] = {
                "obscured": hit,
                "total": total,
                "share": hit / total if total else None,
            }
        return {
            "folder": self.folder,
            "images": self.images,
            "buckets": buckets,
            "over_redaction": self.over_redaction,
            "seconds": self.seconds,
            "settings": self.settings,
            "rule": {
                "change_levels": CHANGE_LEVELS,
                "min_changed": MIN_CHANGED,
                "max_detail": MAX_DETAIL,
                "margin": MARGIN,
            },
        }


def load_ground_truth(folder: Path) -> list[dict]:
    """The entries of ``folder/gt.json``; raises ValueError with a readable cause."""
    path = folder / "gt.json"
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no gt.json in the folder to evaluate") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg})") from None
    if not isinstance(entries, list) or not all("image" in e for e in entries):
        raise ValueError(f"{path}: expected a list of {{'image': ..., 'boxes': [...]}}")
    return entries


def evaluate(folder: Path, settings: Settings, anonymizer: _Anonymizer | None = None) -> EvalResult:
    """Run the pipeline on every image listed in ``folder/gt.json`` and score the outputs.

    ``anonymizer`` defaults to the real ``anonymize.api.Anonymizer(settings)``; pass another
    object with the same ``anonymize_file`` to compare variants on one set.
    """
    folder = Path(folder)
    entries = load_ground_truth(folder)
    if anonymizer is None:
        from anonymize.api import Anonymizer

        anonymizer = Anonymizer(settings)
    boxes: list[BoxScore] = []
    bg_total = bg_changed = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="anonymize-eval-") as tmp:
        for i, entry in enumerate(entries):
            src = folder / entry["image"]
            dst = Path(tmp) / f"{i}.png"
            anonymizer.anonymize_file(src, dst, report=False)
            before, after = _read(src), _read(dst)
            scores, total, changed = score_image(
                before, after, entry.get("boxes", []), entry.get("ignore", []), entry["image"]
            )
            boxes.extend(scores)
            bg_total += total
            bg_changed += changed
            dst.unlink()
    return EvalResult(
        folder=str(folder),
        images=len(entries),
        boxes=tuple(boxes),
        background_pixels=bg_total,
        background_changed=bg_changed,
        seconds=time.perf_counter() - start,
        settings=settings.to_dict(),
    )


def score_image(
    before: np.ndarray,
    after: np.ndarray,
    boxes: Sequence[Sequence[float]],
    ignore: Sequence[Sequence[float]] = (),
    image: str = "",
) -> tuple[list[BoxScore], int, int]:
    """Score one image pair: per-box outcomes, background pixel count, background changed."""
    if before.shape != after.shape:
        raise ValueError(f"{image}: output is {after.shape[:2]}, input is {before.shape[:2]}")
    h, w = before.shape[:2]
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2)
    changed = diff > CHANGE_LEVELS
    lap_in = _laplacian(before)
    lap_out = _laplacian(after)
    scores = []
    for box in boxes:
        x1, y1, x2, y2 = _bounds(box, 0.0, w, h)
        if x2 <= x1 or y2 <= y1:
            continue
        frac = float(changed[y1:y2, x1:x2].mean())
        li, lo = lap_in[y1:y2, x1:x2], lap_out[y1:y2, x1:x2]
        energy = float((li * li).sum())
        detail = float((li * lo).sum()) / energy if energy > 0 else 1.0 - frac
        scores.append(
            BoxScore(
                image=image,
                box=tuple(int(round(v)) for v in box),
                changed=frac,
                detail=detail,
                obscured=frac >= MIN_CHANGED and detail <= MAX_DETAIL,
            )
        )
    away = np.ones((h, w), dtype=bool)
    for box in boxes:
        x1, y1, x2, y2 = _bounds(box, MARGIN, w, h)
        away[y1:y2, x1:x2] = False
    for box in ignore:
        x1, y1, x2, y2 = _bounds(box, 0.0, w, h)
        away[y1:y2, x1:x2] = False
    return scores, int(away.sum()), int((changed & away).sum())


def format_report(result: EvalResult) -> str:
    """A short table a person reads: share obscured by size, and over-redaction."""
    lines = [
        f"{result.folder}: {result.images} images, {len(result.boxes)} boxes, "
        f"{result.seconds:.0f} s",
        f"{'height px':>10} {'obscured':>10} {'total':>7} {'share':>7}",
    ]
    for name, _, _ in BUCKETS:
        hit, total = result.bucket(name)
        share = f"{100 * hit / total:6.1f}%" if total else "     -"
        lines.append(f"{name:>10} {hit:>10} {total:>7} {share:>7}")
    lines.append(
        f"over-redaction: {100 * result.over_redaction:.2f}% of pixels away from boxes changed"
    )
    lines.append(
        f"rule: obscured = >={MIN_CHANGED:.0%} of box pixels changed (>{CHANGE_LEVELS} levels) "
        f"and <={MAX_DETAIL:.0%} of Laplacian detail left; boxes grown {MARGIN:.0%} per side "
        "for over-redaction"
    )
    return "\n".join(lines)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot read image")
    return image


def _laplacian(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.Laplacian(grey, cv2.CV_32F, ksize=1)


def _bounds(box: Sequence[float], margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = box[:4]
    dx, dy = bw * margin, bh * margin
    return (
        max(0, int(np.floor(x - dx))),
        max(0, int(np.floor(y - dy))),
        min(w, int(np.ceil(x + bw + dx))),
        min(h, int(np.ceil(y + bh + dy))),
    )


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m anonymize.eval",
        description="Run the pipeline on a folder with gt.json and report what it obscured.",
    )
    parser.add_argument("folder", type=Path, help="folder holding gt.json and its images")
    parser.add_argument("--targets", default="faces", help="comma-separated: faces,plates")
    parser.add_argument("--sensitivity", choices=SENSITIVITIES, default="standard")
    parser.add_argument("--padding", type=float, default=Settings.padding)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    if not targets or set(targets) - set(TARGETS):
        parser.error(f"--targets must name some of {', '.join(TARGETS)}")
    settings = replace(
        Settings(), targets=targets, sensitivity=args.sensitivity, padding=args.padding
    )
    try:
        result = evaluate(args.folder, settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
