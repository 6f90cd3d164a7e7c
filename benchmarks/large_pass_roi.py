"""Could the 2048 px CenterFace pass look only where the 1024 px pass sees a hint of a face?

The largest pass is about two thirds of the face detector's cost on a 1080p keyframe; it is
there for small faces. This measures, on frames of a video, whether every box the 2048 px
pass finds (scoring at least ``--min-score``) lies where the 1024 px pass's heatmap reaches
``t`` somewhere inside the box, and what share of the frame's tiles (``--tile`` px square)
hold such a hint anywhere: the part of the frame a pass restricted to hints would still
have to see. Nothing here changes the pipeline; it measures whether a change is worth
building.

``--pieces`` measures what such a pass would cost: the 2048 px input cut into pieces (tiles,
or full-width strips), each run with ``margin`` network pixels of the picture around it for
context, the pieces' outputs stitched back and decoded; printed are the share of the whole
pass's boxes found again (IoU 0.7+) and the pieces' input pixels over the whole pass's, for
every piece (hint 0) or only those where the 1024 px heatmap reaches the hint.

    python benchmarks/large_pass_roi.py ../shared/data/videos/street_walking_1080p.mp4 --every 10
    python benchmarks/large_pass_roi.py ../shared/data/videos/street_walking_1080p.mp4 --pieces
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from anonymize.detect.centerface import CenterFace, _blob, _decode
from anonymize.types import Box

_STRIDE = 4  # CenterFace's heatmap cell, in network pixels
THRESHOLDS = (0.01, 0.02, 0.05)
# (piece width, piece height, margin, hint), network pixels of the 2048 px input; 2048 wide is
# a full-width strip.
PIECES = (
    (256, 256, 0, 0.0),
    (256, 256, 32, 0.0),
    (256, 256, 64, 0.0),
    (256, 256, 32, 0.02),
    (2048, 576, 64, 0.0),
    (2048, 576, 96, 0.0),
    (2048, 576, 128, 0.0),
)


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


def pieces(path: Path, every: int, min_score: float) -> dict[tuple, tuple[int, int, float]]:
    """Per entry of PIECES: the whole pass's boxes, how many the stitched pieces find again,
    and the pieces' input pixels over the whole pass's (mean over frames)."""
    centerface = CenterFace(threshold=min_score)
    found = {p: [0, 0, 0.0] for p in PIECES}
    count = 0
    for frame in frames(path, every):
        h, w = frame.shape[:2]
        scale = 2048 / max(h, w)
        blob = _blob(frame, (int(np.ceil(w * scale / 32)) * 32, int(np.ceil(h * scale / 32)) * 32))
        whole = _boxes(centerface.network.run(blob), min_score)
        heat, cell = heatmap(centerface, frame, 1024)
        count += 1
        for piece in PIECES:
            outputs, cost = _stitched(centerface, blob, heat, cell * scale, piece)
            again = _boxes(outputs, min_score)
            found[piece][0] += len(whole)
            found[piece][1] += sum(any(a.iou(b) >= 0.7 for b in again) for a in whole)
            found[piece][2] += cost
    return {p: (n, k, c / max(count, 1)) for p, (n, k, c) in found.items()}


def _boxes(outputs: list[np.ndarray], min_score: float) -> list[Box]:
    heat, size, offset = outputs
    boxes, _ = _decode(heat[0, 0], size[0], offset[0], min_score)
    return [Box(*map(float, b)) for b in boxes]


def _stitched(
    centerface: CenterFace, blob: np.ndarray, heat: np.ndarray, cell: float, piece: tuple
) -> tuple[list[np.ndarray], float]:
    """The pass's outputs made piece by piece (``cell``: the hint heatmap's cell in network
    pixels of ``blob``), and the pieces' input pixels over the whole input's."""
    pw, ph, margin, hint = piece
    _, _, h, w = blob.shape
    outputs = [np.zeros((1, c, h // _STRIDE, w // _STRIDE), np.float32) for c in (1, 2, 2)]
    pixels = 0
    for y in range(0, h, ph):
        for x in range(0, w, pw):
            near = heat[
                int(y / cell) : int((y + ph) / cell) + 2, int(x / cell) : int((x + pw) / cell) + 2
            ]
            if hint and near.max(initial=0) < hint:
                continue
            y0, y1 = max(0, y - margin), min(h, y + ph + margin)
            x0, x1 = max(0, x - margin), min(w, x + pw + margin)
            pixels += (y1 - y0) * (x1 - x0)
            rows, cols = (min(y + ph, h) - y) // _STRIDE, (min(x + pw, w) - x) // _STRIDE
            r0, c0 = (y - y0) // _STRIDE, (x - x0) // _STRIDE
            for whole, part in zip(
                outputs, centerface.network.run(blob[:, :, y0:y1, x0:x1]), strict=True
            ):
                whole[
                    0, :, y // _STRIDE : y // _STRIDE + rows, x // _STRIDE : x // _STRIDE + cols
                ] = part[0, :, r0 : r0 + rows, c0 : c0 + cols]
    return outputs, pixels / (h * w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--every", type=int, default=10, help="look at every Nth frame")
    parser.add_argument("--min-score", type=float, default=0.1, help="large-pass boxes counted")
    parser.add_argument("--tile", type=int, default=240, help="tile side, frame pixels")
    parser.add_argument("--pieces", action="store_true", help="measure the pass run in pieces")
    args = parser.parse_args()
    if args.pieces:
        print(f"{args.video.name}: the 2048 px pass in pieces, boxes scoring {args.min_score}+")
        print("piece w x h  margin  hint   whole-pass boxes found again   cost")
        for (pw, ph, margin, hint), (boxes, again, cost) in pieces(
            args.video, args.every, args.min_score
        ).items():
            share = f"{again}/{boxes} ({again / max(boxes, 1):.1%})"
            print(f"{pw:5d} x {ph:4d} {margin:6d} {hint:5.2f}   {share:>28s}   {cost:.2f}x")
        return
    print(f"{args.video.name}: large-pass boxes scoring {args.min_score}+, {args.tile} px tiles")
    print("hint t   boxes   with a hint   tiles with a hint")
    for t, (boxes, hinted, share) in measure(
        args.video, args.every, args.min_score, args.tile
    ).items():
        print(f"{t:6.2f} {boxes:7d} {hinted:7d} ({hinted / max(boxes, 1):.1%}) {share:14.0%}")


if __name__ == "__main__":
    main()
