"""Face detection: what each ingredient adds, and milliseconds per 1080p frame.

``ablate`` runs every model pass once per photo (at the lowest thresholds of the variants),
then, for each variant, keeps the passes and scores the variant uses, merges, pads, obscures
with the project's ``obscure`` and scores the pixels with ``anonymize.eval``'s rule. It skips
the tracker and the media writer, so its figures can differ slightly from
``python -m anonymize.eval`` (which runs the whole pipeline and is the figure we quote).

``speed`` times ``FaceDetector.detect`` on frames of a video after a warm-up frame, as wall
time and as this process's CPU time (the CPU time does not depend on the other work sharing
the machine).

    nice /work/venv/bin/python benchmarks/eval_faces.py ablate ../shared/data/faces_wider_val
    nice /work/venv/bin/python benchmarks/eval_faces.py speed \\
        ../shared/data/videos/street_walking_1080p.mp4 --frames 10
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np

from anonymize.config import Settings
from anonymize.detect.faces import PRESETS, FaceDetector, merge_boxes
from anonymize.eval import BUCKETS, EvalResult, score_image
from anonymize.obscure import obscure
from anonymize.types import Box, Region

_STD = PRESETS["standard"]
_CF_THRESHOLD = _STD.centerface_threshold
_BZ_THRESHOLD = _STD.blazeface_threshold
# name: (passes used, CenterFace threshold, BlazeFace threshold, padding)
VARIANTS = {
    "centerface@1024": (("centerface@1024",), _CF_THRESHOLD, 1.0, 0.2),
    "centerface@2048": (("centerface@2048",), _CF_THRESHOLD, 1.0, 0.2),
    "+ centerface@1024": (("centerface@1024", "centerface@2048"), _CF_THRESHOLD, 1.0, 0.2),
    "+ blazeface short+full (standard)": ("standard", _CF_THRESHOLD, _BZ_THRESHOLD, 0.2),
    "standard, padding 0.1": ("standard", _CF_THRESHOLD, _BZ_THRESHOLD, 0.1),
    "standard, padding 0.3": ("standard", _CF_THRESHOLD, _BZ_THRESHOLD, 0.3),
    "+ centerface@512": ("512", _CF_THRESHOLD, _BZ_THRESHOLD, 0.2),
    "+ blazeface tiles 2x2": ("tiles", _CF_THRESHOLD, _BZ_THRESHOLD, 0.2),
    "+ flip": ("flip", _CF_THRESHOLD, _BZ_THRESHOLD, 0.2),
    "high": (
        "high",
        PRESETS["high"].centerface_threshold,
        PRESETS["high"].blazeface_threshold,
        0.2,
    ),
}
_STANDARD_PASSES = (
    "centerface@1024",
    "centerface@2048",
    "blazeface-short",
    "blazeface-full",
)
_NAMED = {
    "standard": _STANDARD_PASSES,
    "512": (*_STANDARD_PASSES, "centerface@512"),
    "tiles": (*_STANDARD_PASSES, "blazeface-full-tiles"),
    "flip": (*_STANDARD_PASSES, "centerface@2048-flip"),
    "high": (*_STANDARD_PASSES, "centerface@512", "blazeface-full-tiles", "centerface@2048-flip"),
}


def ablate(folder: Path) -> None:
    entries = json.loads((folder / "gt.json").read_text())
    superset = replace(
        PRESETS["high"],
        centerface_threshold=min(v[1] for v in VARIANTS.values()),
        blazeface_threshold=min(v[2] for v in VARIANTS.values()),
    )
    detector = FaceDetector(preset=superset)
    totals = {name: ([], 0, 0) for name in VARIANTS}
    for entry in entries:
        image = cv2.imread(str(folder / entry["image"]))
        passes = detector.passes(image)
        h, w = image.shape[:2]
        for name, (used, cf_threshold, bz_threshold, padding) in VARIANTS.items():
            used = _NAMED.get(used, used)
            boxes, scores = [], []
            for pass_name in used:
                b, s = passes[pass_name]
                keep = s >= (cf_threshold if pass_name.startswith("centerface") else bz_threshold)
                boxes.append(b[keep])
                scores.append(s[keep])
            merged, _ = merge_boxes(np.concatenate(boxes), np.concatenate(scores))
            regions = [
                Region(Box(*map(float, b)).padded(padding).clipped(w, h), "face") for b in merged
            ]
            out = obscure(image, regions, Settings(padding=padding))
            scored, background, changed = score_image(
                image, out, entry["boxes"], entry.get("ignore", []), entry["image"]
            )
            kept, bg, ch = totals[name]
            totals[name] = (kept + scored, bg + background, ch + changed)
    names = [b[0] for b in BUCKETS]
    print(f"{'variant':36s} " + " ".join(f"{n:>6s}" for n in names) + "   over")
    for name, (scored, background, changed) in totals.items():
        result = EvalResult(str(folder), len(entries), tuple(scored), background, changed, 0.0)
        shares = []
        for bucket in names:
            hit, total = result.bucket(bucket)
            shares.append(f"{100 * hit / max(1, total):6.1f}")
        print(f"{name:36s} " + " ".join(shares) + f" {100 * result.over_redaction:5.2f}%")


def speed(video: Path, frames: int, sensitivities: list[str]) -> None:
    images = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            images.append(frame.to_ndarray(format="bgr24"))
            if len(images) > frames:
                break
    h, w = images[0].shape[:2]
    for sensitivity in sensitivities:
        detector = FaceDetector(sensitivity)
        detector.detect(images[0])  # warm-up: model loading and first-shape costs
        wall, cpu = time.perf_counter(), time.process_time()
        found = [len(detector.detect(image)) for image in images[1:]]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(images) - 1
        print(
            f"{sensitivity}: {w}x{h}, {n} frames: {1000 * wall / n:.0f} ms wall, "
            f"{1000 * cpu / n:.0f} ms CPU per frame; faces per frame {min(found)}-{max(found)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ablate", help="recall and over-redaction per ingredient")
    a.add_argument("folder", type=Path)
    s = sub.add_parser("speed", help="milliseconds per frame of a video")
    s.add_argument("video", type=Path)
    s.add_argument("--frames", type=int, default=10)
    s.add_argument("--sensitivity", default="standard,high")
    args = parser.parse_args()
    if args.command == "ablate":
        ablate(args.folder)
    else:
        speed(args.video, args.frames, args.sensitivity.split(","))


if __name__ == "__main__":
    main()
