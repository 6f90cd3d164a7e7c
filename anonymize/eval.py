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

A folder may also hold ``gt_attrs.json`` (WIDER FACE's own labels for every face: blur,
occlusion, pose, illumination, expression, invalid, and whether the official evaluation counts
it as easy, medium or hard). Then the share obscured is also broken down by those labels, so a
change to the detector shows *which* faces it gains or loses, not only how many: size alone
does not say whether the faces still lost are blurred, hidden or turned away. A face's labels
are found by its image and its box, exactly as ``gt.json`` gives them.
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
from anonymize.errors import UserError

__all__ = [
    "ATTRIBUTES",
    "BUCKETS",
    "CHANGE_LEVELS",
    "MARGIN",
    "MAX_DETAIL",
    "MIN_CHANGED",
    "BoxScore",
    "EvalResult",
    "FaceAttributes",
    "GroupScore",
    "attach_attributes",
    "evaluate",
    "format_breakdown",
    "format_report",
    "load_attributes",
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
# WIDER FACE's labels, in its own words for each level (0 = none or typical). A level the
# file holds that is not named here is shown as its number.
ATTRIBUTES = (
    ("blur", ("clear", "normal blur", "heavy blur")),
    ("occlusion", ("none", "partial", "heavy")),
    ("pose", ("typical", "atypical")),
    ("illumination", ("normal", "extreme")),
    ("expression", ("typical", "exaggerated")),
    ("invalid", ("no", "yes")),
)
# The official evaluation's subsets are nested (every easy face is in medium, every medium face
# in hard), as face-detection papers report them; "none" holds the faces in no set, so that
# "hard" and "none" together are every face.
_SETS = ("easy", "medium", "hard")
_NO_LABELS = "no labels"  # a box gt_attrs.json does not list, so that every group adds up


class _Anonymizer(Protocol):
    def anonymize_file(self, src: Path, dst: Path, report: bool = False) -> object: ...


@dataclass(frozen=True)
class FaceAttributes:
    """WIDER FACE's labels for one face (0 = none or typical, higher = more)."""

    blur: int
    occlusion: int
    pose: int
    illumination: int
    expression: int
    invalid: int
    in_easy: bool
    in_medium: bool
    in_hard: bool

    def level(self, attribute: str) -> str:
        """The level of ``attribute`` (a name of ``ATTRIBUTES``, or "subset") as a word."""
        if attribute == "subset":
            return next((name for name in _SETS if getattr(self, f"in_{name}")), "none")
        value = getattr(self, attribute)
        names = dict(ATTRIBUTES)[attribute]
        return names[value] if 0 <= value < len(names) else str(value)


@dataclass(frozen=True)
class BoxScore:
    """How one annotated box fared in one image."""

    image: str
    box: tuple[int, int, int, int]  # x, y, w, h as annotated
    changed: float  # share of the box's pixels that changed
    detail: float  # share of the original's fine detail that survived
    obscured: bool
    attributes: FaceAttributes | None = None  # from gt_attrs.json, when the folder has one


@dataclass(frozen=True)
class GroupScore:
    """How the boxes of one level of one attribute fared, over all sizes and at 20 px+."""

    attribute: str
    level: str
    obscured: int
    total: int
    obscured_20: int
    total_20: int

    def to_dict(self) -> dict:
        return {
            "attribute": self.attribute,
            "level": self.level,
            "obscured": self.obscured,
            "total": self.total,
            "share": self.obscured / self.total if self.total else None,
            "obscured_20+": self.obscured_20,
            "total_20+": self.total_20,
            "share_20+": self.obscured_20 / self.total_20 if self.total_20 else None,
        }


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

    def breakdown(self) -> list[GroupScore] | None:
        """The share obscured by each level of each WIDER label, or None without labels.

        Within an attribute the levels partition the boxes, so their totals add up to every
        box; the official sets are reported nested (see ``_SETS``), with "none" beside them.
        """
        if not any(b.attributes is not None for b in self.boxes):
            return None
        groups = []
        for attribute in [name for name, _ in ATTRIBUTES] + ["subset"]:
            by_level: dict[str, list[BoxScore]] = {}
            for b in self.boxes:
                level = b.attributes.level(attribute) if b.attributes else _NO_LABELS
                by_level.setdefault(level, []).append(b)
            for level in _level_order(attribute, by_level):
                groups.append(_group(attribute, level, by_level.get(level, [])))
            if attribute == "subset":
                groups = _nest_sets(groups)
        return groups

    def to_dict(self) -> dict:
        buckets = {}
        for name, _, _ in BUCKETS:
            hit, total = self.bucket(name)
            buckets[name] = {
                "obscured": hit,
                "total": total,
                "share": hit / total if total else None,
            }
        out = {
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
        groups = self.breakdown()
        if groups is not None:
            out["attributes"] = [g.to_dict() for g in groups]
        return out


def _level_order(attribute: str, present: dict[str, list[BoxScore]]) -> list[str]:
    """The levels present, in the attribute's own order, then unnamed ones, then boxes without
    labels; the official sets always, since each nested row includes the ones before it."""
    if attribute == "subset":
        named, always = [*_SETS, "none"], set(_SETS)
    else:
        named, always = list(dict(ATTRIBUTES)[attribute]), set()
    rest = sorted(set(present) - set(named) - {_NO_LABELS})
    order = [n for n in named if n in present or n in always] + rest
    return order + ([_NO_LABELS] if _NO_LABELS in present else [])


def _group(attribute: str, level: str, boxes: Sequence[BoxScore]) -> GroupScore:
    _, lo, hi = next(b for b in BUCKETS if b[0] == "20+")
    big = [b for b in boxes if lo <= b.box[3] < hi]
    return GroupScore(
        attribute,
        level,
        sum(b.obscured for b in boxes),
        len(boxes),
        sum(b.obscured for b in big),
        len(big),
    )


def _nest_sets(groups: list[GroupScore]) -> list[GroupScore]:
    """Turn the "subset" rows from the innermost set each face is in into the official nested
    sets: medium counts easy faces too, hard counts both."""
    out, running = [], None
    for g in groups:
        if g.attribute == "subset" and g.level in _SETS:
            running = g if running is None else _sum(g, running)
            out.append(running)
        else:
            out.append(g)
    return out


def _sum(a: GroupScore, b: GroupScore) -> GroupScore:
    return replace(
        a,
        obscured=a.obscured + b.obscured,
        total=a.total + b.total,
        obscured_20=a.obscured_20 + b.obscured_20,
        total_20=a.total_20 + b.total_20,
    )


class GroundTruthError(UserError, ValueError):
    """A ``gt.json`` (or ``gt_attrs.json``) that cannot be evaluated; the message names the
    file and the cause in one line."""


def load_ground_truth(folder: Path) -> list[dict]:
    """The entries of ``folder/gt.json``. A misspelt key or a missing image is refused: an
    evaluation that quietly scored fewer boxes would report figures nobody measured."""
    path = folder / "gt.json"
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: no gt.json in the folder to evaluate") from None
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"{path}: not valid JSON ({exc.msg})") from None
    shape = "a list of {'image': ..., 'boxes': [[x, y, w, h], ...]}"
    if not isinstance(entries, list):
        raise GroundTruthError(f"{path}: expected {shape}")
    for entry in entries:
        if not isinstance(entry, dict) or "image" not in entry or "boxes" not in entry:
            raise GroundTruthError(f"{path}: expected {shape}, found {str(entry)[:80]}")
        if not (folder / str(entry["image"])).is_file():
            raise GroundTruthError(f"{path}: lists {entry['image']}, which is not in the folder")
    return entries


def load_attributes(folder: Path) -> dict[tuple[str, tuple[int, ...]], FaceAttributes] | None:
    """Every face's WIDER labels in ``folder/gt_attrs.json`` by (image, box), or None when the
    folder has no such file (plates, or a set without labels)."""
    path = Path(folder) / "gt_attrs.json"
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text())
        return {
            (entry["image"], tuple(int(round(v)) for v in face["box"])): _attributes(face)
            for entry in entries
            for face in entry["faces"]
        }
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"{path}: not valid JSON ({exc.msg})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise GroundTruthError(
            f"{path}: expected a list of {{'image': ..., 'faces': [...]}} ({exc})"
        ) from None


def _attributes(face: dict) -> FaceAttributes:
    return FaceAttributes(
        **{name: int(face.get(name, 0)) for name, _ in ATTRIBUTES},
        **{f"in_{name}": bool(face.get(f"in_{name}", False)) for name in _SETS},
    )


def attach_attributes(
    scores: Sequence[BoxScore],
    attributes: dict[tuple[str, tuple[int, ...]], FaceAttributes] | None,
) -> list[BoxScore]:
    """``scores`` with each box's labels from ``load_attributes`` (unchanged without any)."""
    if attributes is None:
        return list(scores)
    return [replace(s, attributes=attributes.get((s.image, s.box))) for s in scores]


def evaluate(folder: Path, settings: Settings, anonymizer: _Anonymizer | None = None) -> EvalResult:
    """Run the pipeline on every image listed in ``folder/gt.json`` and score the outputs.

    ``anonymizer`` defaults to the real ``anonymize.api.Anonymizer(settings)``; pass another
    object with the same ``anonymize_file`` to compare variants on one set.
    """
    folder = Path(folder)
    entries = load_ground_truth(folder)
    attributes = load_attributes(folder)
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
            boxes.extend(attach_attributes(scores, attributes))
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
    """A short table a person reads: share obscured by size, and over-redaction; by WIDER's
    labels too when the folder has them."""
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
    groups = result.breakdown()
    if groups is not None:
        lines.extend(format_breakdown(groups))
    return "\n".join(lines)


def format_breakdown(groups: Sequence[GroupScore]) -> list[str]:
    """The share obscured by each label level, for all faces and for faces 20 px+, and each
    level's share of all the faces left readable (where the misses are)."""
    misses = sum(g.total - g.obscured for g in groups if g.attribute == groups[0].attribute)
    lines = [
        "by WIDER FACE label (subsets nested: easy within medium within hard):",
        f"{'label':>13} {'level':<12} {'obscured':>9} {'total':>6} {'share':>7}"
        f" {'20px+ obs':>10} {'total':>6} {'share':>7} {'of misses':>10}",
    ]
    previous = None
    for g in groups:
        name = g.attribute if g.attribute != previous else ""
        previous = g.attribute
        lost = f"{100 * (g.total - g.obscured) / misses:9.1f}%" if misses else "         -"
        lines.append(
            f"{name:>13} {g.level:<12} {g.obscured:>9} {g.total:>6} {_share(g.obscured, g.total)}"
            f" {g.obscured_20:>10} {g.total_20:>6} {_share(g.obscured_20, g.total_20)} {lost}"
        )
    return lines


def _share(hit: int, total: int) -> str:
    return f"{100 * hit / total:6.1f}%" if total else "      -"


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
