"""Plate recall, area cost and speed of PlateDetector on annotated photos.

A ground-truth plate counts as found when one detection, padded like the pipeline pads it
(``--padding``, default 0.2 of its size on each side), covers at least ``--cover`` of it.
"Rest changed" is the share of pixels outside the ground-truth box that padded detection
boxes cover (other, unannotated plates included, so it overstates false alarms). Speed is
the wall and CPU time of ``detect`` on photos resized to 1920x1080, after a warm-up call
(the CPU time does not depend on what else the shared machine is running).

Detections are collected once at the lowest threshold given; higher thresholds are scored by
filtering them, which is close to running at that threshold but not equal (boxes of several
passes are merged, and a merged box keeps the best score of its group); text detector boxes
have their own fixed threshold and are always kept. The area figure here is box area, an upper
bound: ``anonymize eval`` (changed pixels, real pipeline) is the figure to quote.

    nice /work/venv/bin/python benchmarks/eval_plates.py \
        ../shared/data/plates_openalpr_us --sensitivity standard --thresholds 0.05,0.1,0.15,0.25
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from anonymize.detect.plates import TEXT_SOURCE, PlateDetector
from anonymize.types import Box, Detection


def _coverage(gt: Box, detections: list[Detection], padding: float) -> float:
    return max((d.box.padded(padding).intersection(gt) / gt.area for d in detections), default=0.0)


def _rest_changed(
    shape: tuple[int, int], gt: Box, detections: list[Detection], padding: float
) -> float:
    h, w = shape
    mask = np.zeros((h, w), bool)
    for d in detections:
        b = d.box.padded(padding).clipped(w, h)
        mask[round(b.y1) : round(b.y2), round(b.x1) : round(b.x2)] = True
    outside = np.ones((h, w), bool)
    outside[round(gt.y1) : round(gt.y2), round(gt.x1) : round(gt.x2)] = False
    return float((mask & outside).sum() / outside.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sensitivity", default="standard")
    parser.add_argument("--sizes", default="", help="comma list of input long sides to override")
    parser.add_argument("--thresholds", default="", help="comma list; default: the preset's")
    parser.add_argument("--text", choices=("on", "off"), help="override the text detector")
    parser.add_argument("--padding", type=float, default=0.2)
    parser.add_argument("--cover", type=float, default=0.9)
    parser.add_argument("--limit", type=int, help="only the first N photos")
    parser.add_argument("--misses", action="store_true", help="list the photos missed")
    parser.add_argument(
        "--long-side", type=int, help="shrink each photo (and its boxes) to this long side first"
    )
    parser.add_argument("--timed", type=int, default=30, help="photos timed at 1080p")
    args = parser.parse_args()

    thresholds = sorted(float(t) for t in args.thresholds.split(",") if t)
    sizes = tuple(int(s) for s in args.sizes.split(",") if s) or None
    detector = PlateDetector(
        args.sensitivity,
        sizes=sizes,
        threshold=thresholds[0] if thresholds else None,
        text=None if args.text is None else args.text == "on",
    )
    thresholds = thresholds or [detector.preset.threshold]
    entries = json.loads((args.folder / "gt.json").read_text())[: args.limit]

    detector.detect(np.zeros((1080, 1920, 3), np.uint8))  # load the model outside the timing
    runs, wall, cpu = [], [], []
    for index, entry in enumerate(entries):
        image = cv2.imread(str(args.folder / entry["image"]))
        if index < args.timed:
            frame = cv2.resize(image, (1920, 1080))
            start, start_cpu = time.perf_counter(), time.process_time()
            detector.detect(frame)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        factor = 1.0
        if args.long_side and max(image.shape[:2]) > args.long_side:
            factor = args.long_side / max(image.shape[:2])
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        detections = detector.detect(image)
        gts = [Box.from_xywh(*b).scaled(factor) for b in entry["boxes"]]
        runs.append((entry["image"], image.shape[:2], gts, detections))

    print(
        f"{len(entries)} photos, {sum(len(r[2]) for r in runs)} plates, "
        f"sensitivity={args.sensitivity} {detector.preset} padding={args.padding}"
    )
    if wall:
        print(
            f"detect per 1080p frame: wall {1000 * np.median(wall):.1f} ms, "
            f"CPU {1000 * np.median(cpu):.1f} ms (medians of {len(wall)})"
        )
    for t in thresholds:
        found = total = 0
        rest, count, missed = [], [], []
        for name, shape, gts, detections in runs:
            kept = [d for d in detections if d.score > t or d.source == TEXT_SOURCE]
            count.append(len(kept))
            for gt in gts:
                total += 1
                hit = _coverage(gt, kept, args.padding) >= args.cover
                found += hit
                if not hit:
                    missed.append(name)
                rest.append(_rest_changed(shape, gt, kept, args.padding))
        print(
            f"threshold {t:.2f}: recall {found}/{total} = {100 * found / total:.1f}%  "
            f"rest changed {100 * np.mean(rest):.2f}% (max {100 * np.max(rest):.2f}%)  "
            f"boxes/photo {np.mean(count):.2f}"
        )
        if args.misses:
            print("  missed:", " ".join(missed))


if __name__ == "__main__":
    main()
