"""Contact sheets of every plate in an anonymized video, to check by eye that none is readable.

For each plate track in the run's regions file, crops of the output around the track's box in
every ``--step``-th frame are enlarged and tiled into one PNG (the input crop above each output
crop, so a reader sees what was there). A second opinion looks for plates the run missed: the
"high" plate sensitivity (640 and 1280 passes, lower threshold, text detector) runs on the same
input frames, and its boxes that no plate region of that frame covers are tiled into
``missed.png``. Nothing here decides readability: the sheets are for a person to look at.

    anonymize ../shared/data/videos/parking_lot_cars.mp4 -o /tmp/plates_out/
    nice python benchmarks/plate_strips.py ../shared/data/videos/parking_lot_cars.mp4 \\
        /tmp/plates_out/parking_lot_cars.mp4 /tmp/plate_strips/parking_lot_cars
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from anonymize import regions as regions_file
from anonymize.detect.plates import PlateDetector
from anonymize.types import Box

_TILE = 96  # tile height in pixels: small plates are enlarged to where a reader could read them
_COLUMNS = 12


def _frames(path: Path):
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def _crop(frame: np.ndarray, box: Box) -> np.ndarray:
    """The box grown to twice its size (at least 48 px), scaled to the tile height."""
    h, w = frame.shape[:2]
    cx, cy = box.center
    half_w, half_h = max(box.width, 48), max(box.height, 24)
    b = Box(cx - half_w, cy - half_h, cx + half_w, cy + half_h).clipped(w, h)
    crop = frame[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))]
    scale = _TILE / max(1, crop.shape[0])
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def _tile(pairs: list[tuple[int, np.ndarray, np.ndarray]], path: Path) -> None:
    """Input over output crop per frame, labelled with the frame index, in rows."""
    cells = []
    for index, before, after in pairs:
        width = max(before.shape[1], after.shape[1], 96)
        cell = np.zeros((2 * _TILE + 16, width, 3), np.uint8)
        cell[:_TILE, : before.shape[1]] = before
        cell[_TILE : 2 * _TILE, : after.shape[1]] = after
        cv2.putText(cell, str(index), (2, 2 * _TILE + 13), 0, 0.45, (255, 255, 255), 1)
        cells.append(cv2.copyMakeBorder(cell, 2, 2, 2, 2, cv2.BORDER_CONSTANT))
    rows = [cells[i : i + _COLUMNS] for i in range(0, len(cells), _COLUMNS)]
    width = max(sum(c.shape[1] for c in row) for row in rows)
    sheet = np.vstack(
        [
            np.pad(np.hstack(r), ((0, 0), (0, width - sum(c.shape[1] for c in r)), (0, 0)))
            for r in rows
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path, help="the anonymized video")
    parser.add_argument("folder", type=Path, help="where the PNG sheets go")
    parser.add_argument("--regions", type=Path, help="default: the sidecar OUTPUT.json")
    parser.add_argument("--step", type=int, default=2, help="every Nth frame")
    parser.add_argument("--min-score", type=float, default=0.3, help="for the second opinion")
    args = parser.parse_args()

    report = regions_file.load(args.regions or args.output.with_name(args.output.name + ".json"))
    second = PlateDetector("high")
    tracks: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = defaultdict(list)
    missed: list[tuple[int, np.ndarray, np.ndarray]] = []
    frames = 0
    for index, (before, after) in enumerate(
        zip(_frames(args.source), _frames(args.output), strict=True)
    ):
        frames += 1
        if index % args.step:
            continue
        plates = [r for r in report.frames.get(index, []) if r.label == "plate"]
        for region in plates:
            tracks[region.track or -1].append(
                (index, _crop(before, region.box), _crop(after, region.box))
            )
        for d in second.detect(before):
            covered = max((r.box.intersection(d.box) for r in plates), default=0.0)
            if d.score >= args.min_score and covered < 0.9 * d.box.area:
                missed.append((index, _crop(before, d.box), _crop(after, d.box)))
    for track, pairs in sorted(tracks.items()):
        _tile(pairs, args.folder / f"track_{track:04d}.png")
    if missed:
        _tile(missed, args.folder / "missed.png")
    print(
        f"{frames} frames, {len(tracks)} plate tracks, {sum(map(len, tracks.values()))} crops; "
        f"second opinion: {len(missed)} boxes not covered -> {args.folder}"
    )


if __name__ == "__main__":
    main()
