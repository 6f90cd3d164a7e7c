"""Could the 2048 px CenterFace pass look only where the 1024 px pass sees a hint of a face?

The largest pass is about two thirds of the face detector's cost on a 1080p keyframe; it is
there for small faces. This measures, on frames of a video, whether every box the 2048 px
pass finds (scoring at least ``--min-score``) lies where the 1024 px pass's heatmap reaches
``t`` somewhere inside the box, and what share of the frame's tiles (``--tile`` px square)
hold such a hint anywhere: the part of the frame a pass restricted to hints would still
have to see. Nothing here changes the pipeline; it measures whether a change is worth
building.

    python benchmarks/large_pass_roi.py ../shared/data/videos/street_walking_1080p.mp4 --every 10
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from anonymize.detect.centerface import CenterFace

_STRIDE = 4  # CenterFace's heatmap cell, in network pixels
THRESHOLDS = (0.01, 0.02, 0.05)


def frames(path: Path, every: int) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                yield frame.to_ndarray(format="bgr24")


def heatmap(centerface: CenterFace, frame: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """The pass's heatmap and the frame pixels one of its cells spans (square cells)."""
    h, w = frame.shape[:2]
    scale = long_side / max(h, w)
    size = (int(np.ceil(w * scale / 32)) * 32, int(np.ceil(h * scale / 32)) * 32)
    blob = cv2.dnn.blobFromImage(frame, 1.0, size, (0, 0, 0), swapRB=True)  # as CenterFace does
    heat = centerface.network.run(blob)[0][0, 0]
    return heat, _STRIDE * w / size[0]


def measure(
    path: Path, every: int, min_score: float, tile: int
) -> dict[float, tuple[int, int, float]]:
    """Per threshold: large-pass boxes, how many of them have a hint, mean share of tiles."""
    centerface = CenterFace(threshold=min_score)
    found = {t: [0, 0] for t in THRESHOLDS}
    shares: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    for frame in frames(path, every):
        h, w = frame.shape[:2]
        boxes, _ = centerface.raw(frame, 2048 / max(h, w))
        heat, cell = heatmap(centerface, frame, 1024)
        for t in THRESHOLDS:
            for x1, y1, x2, y2 in np.maximum(boxes / cell, 0):
                inside = heat[int(y1) : int(np.ceil(y2)) + 1, int(x1) : int(np.ceil(x2)) + 1]
                found[t][0] += 1
                found[t][1] += int(inside.size > 0 and inside.max() >= t)
            rows, cols = -(-h // tile), -(-w // tile)
            hinted = [
                heat[
                    int(i * tile / cell) : int((i + 1) * tile / cell) + 1,
                    int(j * tile / cell) : int((j + 1) * tile / cell) + 1,
                ].max()
                >= t
                for i in range(rows)
                for j in range(cols)
            ]
            shares[t].append(float(np.mean(hinted)))
    return {t: (found[t][0], found[t][1], float(np.mean(shares[t]))) for t in THRESHOLDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--every", type=int, default=10, help="look at every Nth frame")
    parser.add_argument("--min-score", type=float, default=0.1, help="large-pass boxes counted")
    parser.add_argument("--tile", type=int, default=240, help="tile side, frame pixels")
    args = parser.parse_args()
    print(f"{args.video.name}: large-pass boxes scoring {args.min_score}+, {args.tile} px tiles")
    print("hint t   boxes   with a hint   tiles with a hint")
    for t, (boxes, hinted, share) in measure(
        args.video, args.every, args.min_score, args.tile
    ).items():
        print(f"{t:6.2f} {boxes:7d} {hinted:7d} ({hinted / max(boxes, 1):.1%}) {share:14.0%}")


if __name__ == "__main__":
    main()
