"""Face detection: what each ingredient adds, and milliseconds per 1080p frame.

``ablate`` runs every model pass once per photo (at the lowest thresholds of the variants;
``--cache DIR`` keeps them for the next run), then, for each variant, keeps the passes and
scores the variant's preset uses, merges them as ``FaceDetector`` does, pads, obscures
with the project's ``obscure`` and scores the pixels with ``anonymize.eval``'s rule. It skips
the tracker and the media writer, so its figures can differ slightly from
``python -m anonymize.eval`` (which runs the whole pipeline and is the figure we quote). The
second, mirrored look at faint small candidates (``Preset.look_again_px``) runs the network
again on each photo, so it is not part of the variants here: ``anonymize eval`` measures it.
When the folder has WIDER's labels (``gt_attrs.json``), a second table gives each variant's
share obscured by blur, occlusion, pose, illumination and official subset, so that what an
ingredient adds can be seen where the faces are lost.

``speed`` times ``FaceDetector.detect_faint`` (a video's keyframe; a photo's ``detect`` adds a
mirrored pass) on frames of a video after a warm-up frame, as wall time and as this
process's CPU time (the CPU time does not depend on the other work sharing the machine).

    nice python benchmarks/eval_faces.py ablate ../shared/data/faces_wider_val \\
        --cache /tmp/face-passes
    nice python benchmarks/eval_faces.py speed \\
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
from anonymize.detect.faces import PRESETS, FaceDetector, Preset, merge_passes
from anonymize.eval import BUCKETS, EvalResult, attach_attributes, load_attributes, score_image
from anonymize.obscure import obscure
from anonymize.types import Box, Region

_STD = PRESETS["standard"]
_HIGH = PRESETS["high"]
# The standard preset before issue 3: every box a pass is sure enough of, no fusing.
_OLD = replace(_STD, centerface_threshold=0.3, centerface_sizes=(1024, 2048), fused_threshold=None)
_FUSED = replace(_STD, centerface_sizes=(1024, 2048))
# name: (preset, padding). Each variant is the preset FaceDetector would run, so what it adds
# here is what it adds in the pipeline (short of the tracker).
VARIANTS = {
    "centerface@1024": (replace(_OLD, centerface_sizes=(1024,), blazeface_threshold=1.1), 0.2),
    "+ centerface@2048": (replace(_OLD, blazeface_threshold=1.1), 0.2),
    "+ blazeface short+full (old standard)": (_OLD, 0.2),
    "old standard, padding 0.3": (_OLD, 0.3),
    "old standard, centerface 0.25": (replace(_OLD, centerface_threshold=0.25), 0.2),
    "old standard + centerface@512": (replace(_OLD, centerface_sizes=(512, 1024, 2048)), 0.2),
    "fused 0.3 (centerface 0.1)": (_FUSED, 0.2),
    "fused 0.4": (replace(_FUSED, fused_threshold=0.4), 0.2),
    "fused 0.3 + centerface@512 (standard)": (_STD, 0.2),
    "standard, fused 0.35": (replace(_STD, fused_threshold=0.35), 0.2),
    "standard + blazeface tiles 2x2 at 0.6": (replace(_STD, tiles=2, blazeface_threshold=0.6), 0.2),
    # What each of high's ingredients adds alone to standard (issue 15).
    "standard + blazeface tiles 2x2": (replace(_STD, tiles=2), 0.2),
    "standard + mirrored centerface@2048": (replace(_STD, flip=True), 0.2),
    "standard, blazeface 0.6": (replace(_STD, blazeface_threshold=0.6), 0.2),
    "standard, fused 0.25": (replace(_STD, fused_threshold=0.25), 0.2),
    "standard, one fused threshold 0.3": (_STD.one_threshold(), 0.2),
    "standard, padding 0.25": (_STD, 0.25),
    # Leaner presets, for the over-redaction issue 2 asks for with plates on as well.
    "standard, fused 0.45, small 0.5": (
        replace(_STD, fused_threshold=0.45, small_threshold=0.5),
        0.2,
    ),
    "standard, fused 0.6, small 0.7, large 0.8": (
        replace(_STD, fused_threshold=0.6, small_threshold=0.7, large_threshold=0.8),
        0.2,
    ),
    "high": (_HIGH, 0.2),
}
# Columns of the table by WIDER label: (heading, attribute, level) of anonymize.eval's groups.
LABEL_COLUMNS = (
    ("blur0", "blur", "clear"),
    ("blur1", "blur", "normal blur"),
    ("blur2", "blur", "heavy blur"),
    ("occ0", "occlusion", "none"),
    ("occ1", "occlusion", "partial"),
    ("occ2", "occlusion", "heavy"),
    ("pose1", "pose", "atypical"),
    ("illu1", "illumination", "extreme"),
    ("easy", "subset", "easy"),
    ("medium", "subset", "medium"),
    ("hard", "subset", "hard"),
)


def ablate(folder: Path, cache: Path | None = None) -> None:
    """Score every variant; ``cache`` (a folder outside the repository) keeps each photo's
    passes, so a second run with new variants skips the models (empty it when a variant lowers
    a threshold below what the cached passes were run at)."""
    entries = json.loads((folder / "gt.json").read_text())
    presets = [p for p, _ in VARIANTS.values()]
    superset = replace(
        _HIGH,
        centerface_threshold=min(p.centerface_threshold for p in presets),
        centerface_sizes=tuple(sorted({s for p in presets for s in p.centerface_sizes})),
        blazeface_threshold=min(p.blazeface_threshold for p in presets),
        tiles=max(p.tiles for p in presets),
        flip=any(p.flip for p in presets),
    )
    detector = FaceDetector(preset=superset)
    labels = load_attributes(folder)
    totals = {name: ([], 0, 0) for name in VARIANTS}
    for i, entry in enumerate(entries):
        image = cv2.imread(str(folder / entry["image"]))
        passes = _passes(detector, image, cache / f"{i}.npz" if cache else None)
        h, w = image.shape[:2]
        for name, (preset, padding) in VARIANTS.items():
            used = []
            for pass_name in _pass_names(preset):
                b, s = passes[pass_name]
                cf = pass_name.startswith("centerface")
                keep = s >= (preset.centerface_threshold if cf else preset.blazeface_threshold)
                used.append((b[keep], s[keep]))
            merged, _ = merge_passes(used, preset)
            settings = Settings(padding=padding)
            regions = []
            for b in merged:
                box = Box(*map(float, b))
                padded = box.padded(settings.padding).clipped(w, h)
                regions.append(Region(padded, "face"))
            out = obscure(image, regions, settings)
            scored, background, changed = score_image(
                image, out, entry["boxes"], entry.get("ignore", []), entry["image"]
            )
            kept, bg, ch = totals[name]
            scored = attach_attributes(scored, labels)
            totals[name] = (kept + scored, bg + background, ch + changed)
    results = {
        name: EvalResult(str(folder), len(entries), tuple(scored), background, changed, 0.0)
        for name, (scored, background, changed) in totals.items()
    }
    _print_sizes(results)
    if labels is not None:
        _print_labels(results)


def _print_sizes(results: dict[str, EvalResult]) -> None:
    names = [b[0] for b in BUCKETS]
    print(f"{'variant':40s} " + " ".join(f"{n:>6s}" for n in names) + "   over")
    for name, result in results.items():
        shares = []
        for bucket in names:
            hit, total = result.bucket(bucket)
            shares.append(f"{100 * hit / max(1, total):6.1f}")
        print(f"{name:40s} " + " ".join(shares) + f" {100 * result.over_redaction:5.2f}%")


def _print_labels(results: dict[str, EvalResult]) -> None:
    """Share obscured of all faces by WIDER label, one column per label level."""
    print(f"\n{'share obscured by WIDER label, all sizes':40s} ", end="")
    print(" ".join(f"{heading:>6s}" for heading, _, _ in LABEL_COLUMNS))
    for name, result in results.items():
        groups = {(g.attribute, g.level): g for g in result.breakdown() or []}
        shares = []
        for _, attribute, level in LABEL_COLUMNS:
            g = groups.get((attribute, level))
            shares.append(f"{100 * g.obscured / g.total:6.1f}" if g and g.total else "     -")
        print(f"{name:40s} " + " ".join(shares))


def _pass_names(preset: Preset) -> list[str]:
    """The passes ``FaceDetector.passes`` runs for ``preset``, by name."""
    names = [f"centerface@{size}" for size in preset.centerface_sizes]
    if preset.flip:
        names.append(f"centerface@{max(preset.centerface_sizes)}-flip")
    names += ["blazeface-short", "blazeface-full"]
    if preset.tiles > 1:
        names.append("blazeface-full-tiles")
    return names


def _passes(
    detector: FaceDetector, image: np.ndarray, cached: Path | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if cached is not None and cached.exists():
        with np.load(cached) as z:
            passes = {k[:-2]: (z[k], z[k[:-2] + "|s"]) for k in z.files if k.endswith("|b")}
        if set(_pass_names(detector.preset)) <= set(passes):
            return passes
    passes = detector.passes(image)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{k}|{t}": v[j] for k, v in passes.items() for j, t in enumerate("bs")}
        np.savez(cached, **arrays)
    return passes


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
        detector.detect_faint(images[0])  # warm-up: model loading and first-shape costs
        wall, cpu = time.perf_counter(), time.process_time()
        found = [len(detector.detect_faint(image)[0]) for image in images[1:]]
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
    a.add_argument("--cache", type=Path, help="folder (outside the repository) to keep passes in")
    s = sub.add_parser("speed", help="milliseconds per frame of a video")
    s.add_argument("video", type=Path)
    s.add_argument("--frames", type=int, default=10)
    s.add_argument("--sensitivity", default="standard,high")
    args = parser.parse_args()
    if args.command == "ablate":
        ablate(args.folder, args.cache)
    else:
        speed(args.video, args.frames, args.sensitivity.split(","))


if __name__ == "__main__":
    main()
