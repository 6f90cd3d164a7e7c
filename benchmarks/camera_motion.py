"""How well ``CameraMotion`` follows the camera, by how fast the picture moves.

The moving sequences (``moving_sequences.py``) film still photos, so every annotated face
moves exactly as the camera does: between two frames, the true motion of a face is the
shift of its box's centre. For each pair of frames this script compares that with where
``CameraMotion``'s estimate puts the centre (the median over the frame's faces), and groups
the pairs by the true shift (px a frame, on 640 x 360 frames). For each group it prints how
many pairs the sparse flow followed and how many fell back to the shift alone (a whip pan's
smear loses the flow's points) or to no motion, the median and 90th percentile of the miss
(px), and, for shift-only estimates, how often the stated error covers the miss.

    python benchmarks/camera_motion.py ../shared/data/faces_wider_val --hard --kind whip
    python benchmarks/camera_motion.py ../shared/data/faces_wider_val --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from moving_sequences import load_shots  # beside this script, which Python puts on the path

from anonymize.motion import IDENTITY, CameraMotion
from anonymize.track.geometry import centres

SPEEDS = ((0, 2), (2, 10), (10, 30), (30, 60), (60, 10**6))


def measure(shots) -> dict[tuple[int, int], list[tuple[str, float, float]]]:
    """Per speed group, each frame pair's (how it was estimated, miss px, stated error px)."""
    groups: dict[tuple[int, int], list[tuple[str, float, float]]] = defaultdict(list)
    for shot in shots:
        camera = CameraMotion()
        for t, image in enumerate(shot.frames):
            motion = camera.update(image)
            if t == 0 or not len(shot.faces[t]):
                continue
            before, after = centres(shot.faces[t - 1]), centres(shot.faces[t])
            speed = float(np.median(np.hypot(*(after - before).T)))
            moved = before @ motion.matrix[:, :2].T + motion.matrix[:, 2]
            miss = float(np.median(np.hypot(*(moved - after).T)))
            if motion.error:
                how = "shift only"
            elif np.array_equal(motion.matrix, IDENTITY) and speed >= 2:
                how = "no motion"
            else:
                how = "flow"
            group = next(g for g in SPEEDS if g[0] <= speed < g[1])
            groups[group].append((how, miss, motion.error))
    return groups


def report(groups: dict[tuple[int, int], list[tuple[str, float, float]]]) -> str:
    lines = [
        f"{'px/frame':>9} {'how':>10} {'pairs':>6} {'miss median':>12} {'miss p90':>9} covered"
    ]
    for group in SPEEDS:
        for how in ("flow", "shift only", "no motion"):
            rows = [r for r in groups.get(group, []) if r[0] == how]
            if not rows:
                continue
            miss = np.array([r[1] for r in rows])
            covered = np.mean([r[1] <= r[2] for r in rows]) if how == "shift only" else None
            label = f"{group[0]}-{group[1]}" if group[1] < 10**6 else f"{group[0]}+"
            lines.append(
                f"{label:>9} {how:>10} {len(rows):>6} {np.median(miss):>12.1f}"
                f" {np.percentile(miss, 90):>9.1f} {'' if covered is None else f'{covered:.0%}'}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--hard", action="store_true", help="the hard mode's shots")
    parser.add_argument("--kind", help="only shots of this kind (whip, zoom-out, crowd)")
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--length", type=int, default=30)
    args = parser.parse_args(argv)
    shots = [
        shot
        for seed in map(int, args.seeds.split(","))
        for shot in load_shots(args.folder, args.shots, args.length, seed, hard=args.hard)
        if args.kind is None or shot.kind == args.kind
    ]
    print(report(measure(shots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
