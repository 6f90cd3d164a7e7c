"""Heads that MediaPipe's pose model finds and anonymize's default regions leave uncovered.

For each clip, ``Anonymizer().detect`` gives the regions anonymize would obscure (its
defaults: faces and plates, padded and clipped as the regions file records them). MediaPipe
pose then runs on every frame, three ways:

* ``legacy``: ``mp.solutions.pose.Pose``, model complexity 1, video mode (it tracks one
  person from frame to frame), on the full frame.
* ``tasks``: the tasks ``PoseLandmarker``, up to 10 poses, image mode, on the full frame.
* ``tiles``: the same landmarker on overlapping square tiles (side 0.6 of the frame's short
  side, stride 2/3 of the side, the last tile of a row or column flush with the edge) and on
  the full frame; head boxes found twice (IoU at least 0.3) are merged, the larger kept, and
  poses without a head box are dropped.

A pose's head box is a square around its visible (visibility > 0.5) face landmarks (nose,
eyes, ears, mouth corners; at least two), 1.5 times their extent, at least 1.8 times the
distance between the ears when both are visible, else at least 0.6 times the shoulder width
when both shoulders are, moved up by a tenth of its side. A head box is **uncovered** when
less than half of its pixels (rounded to whole pixels, clipped to the frame) lie inside the
union of the frame's regions (each covering every pixel it touches). **Extra area** is what
obscuring the uncovered head boxes too would add: the share of the frame they cover outside
the regions, its mean and maximum over frames. **CPU ms/frame** is this process's CPU time
(all threads, ``time.process_time``) of the pose step of each way, model loading included,
so other work on the machine barely changes it; ``tiles`` includes its full-frame pass.
``--crops DIR`` saves each uncovered head (the picture as it is | regions green, head red).

Only models inside the installed mediapipe wheel are used, and nothing is downloaded: the
wheel ships ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (complexity 1; the
lite and heavy landmark models are fetched from the network by mediapipe, so they are not
measured and any attempt to fetch one is refused). The tasks API wants a ``.task`` bundle,
which the wheel does not ship: it is packed here from those two files, with the input
normalisation metadata the tasks graph reads (detector [-1, 1], landmarks [0, 1], the ranges
of the legacy graph), into a temporary directory removed at the end.

    nice -n 19 .venv/bin/python benchmarks/heads.py --wait-while /tmp/BENCH_RUNNING
    nice -n 19 .venv/bin/python benchmarks/heads.py ../shared/data/videos/stage_audience.mp4 \\
        --crops /tmp/heads-crops
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.python.solutions import download_utils
from mediapipe.tasks.python import BaseOptions, vision
from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

from anonymize.api import Anonymizer
from anonymize.media import VideoReader
from anonymize.types import Box, Region

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CLIPS = (
    "head_pose_two_people.gif",
    "night_crowd_topdown.mp4",
    "stage_audience.mp4",
    "street_walking_1080p.mp4",
)
WHEEL = Path(mp.__file__).parent
DETECTOR = WHEEL / "modules" / "pose_detection" / "pose_detection.tflite"
LANDMARKS = WHEEL / "modules" / "pose_landmark" / "pose_landmark_full.tflite"
MAX_POSES = 10
VISIBLE = 0.5
FACE = slice(0, 11)  # nose, eyes (inner, centre, outer), ears, mouth corners
EARS = (7, 8)
SHOULDERS = (11, 12)
COVERED = 0.5
TILE_SIDE = 0.6
TILE_STRIDE = 2 / 3
SAME_HEAD = 0.3
HEADER = (  # the columns of _Tally.row
    f"{'clip':26s} {'way':6s} {'frames':>6s} {'with person':>11s} {'heads':>6s} "
    f"{'uncovered':>9s} {'extra mean':>10s} {'extra max':>9s} {'CPU ms/frame':>12s}\n"
    f"{'':26s} {'':6s} {'':6s} {'':11s} {'':6s} {'':9s} {'% frame':>10s} {'% frame':>9s}"
)

# A way of running pose: an RGB frame in, one entry per pose found out (its head box or None).
Way = Callable[[np.ndarray], list[Box | None]]


def _refuse_download(model_path: str) -> None:
    """Stands in for mediapipe's ``download_oss_model``: a model the wheel lacks is an error."""
    if not (WHEEL.parent / model_path).exists():
        raise RuntimeError(f"{model_path} is not in the mediapipe wheel; nothing is downloaded")


def _with_metadata(model: Path, mean: float, std: float) -> bytes:
    """``model`` with the image-input metadata the tasks graph needs to normalise its input."""
    buffer = bytearray(model.read_bytes())
    writer = metadata_writer.MetadataWriter.create(buffer)
    writer.add_general_info(model.stem, "from the installed mediapipe wheel")
    writer.add_image_input([mean], [std])
    for _ in writer_utils.get_output_tensor_names(buffer):
        writer.add_feature_output()
    return bytes(writer.populate()[0])


def _pack_bundle(folder: Path) -> Path:
    """A PoseLandmarker ``.task`` bundle in ``folder`` made of the wheel's own two models."""
    bundle = folder / "pose_landmarker_full.task"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as z:
        z.writestr("pose_detector.tflite", _with_metadata(DETECTOR, 127.5, 127.5))
        z.writestr("pose_landmarks_detector.tflite", _with_metadata(LANDMARKS, 0.0, 255.0))
    return bundle


def _head_box(points: np.ndarray) -> Box | None:
    """The head box of one pose from its 33 landmarks as rows of (x px, y px, visibility)."""
    seen = points[:, 2] > VISIBLE
    face = points[FACE][seen[FACE], :2]
    if len(face) < 2:
        return None
    low, high = face.min(axis=0), face.max(axis=0)
    side = 1.5 * (high - low).max()
    for pair, factor in ((EARS, 1.8), (SHOULDERS, 0.6)):
        if seen[list(pair)].all():
            a, b = points[pair[0], :2], points[pair[1], :2]
            side = max(side, factor * np.hypot(*(a - b)))
            break
    if side < 4:
        return None
    cx, cy = (low + high) / 2
    cy -= 0.1 * side
    return Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _head(landmarks: Sequence, x: int, y: int, width: int, height: int) -> Box | None:
    """The head box of a pose found in the ``width`` x ``height`` picture at (x, y)."""
    normalised = np.array([(p.x, p.y, p.visibility) for p in landmarks])
    return _head_box(normalised * (width, height, 1) + (x, y, 0))


def _legacy(stack: contextlib.ExitStack) -> Way:
    pose = stack.enter_context(mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1))

    def heads(rgb: np.ndarray) -> list[Box | None]:
        found = pose.process(rgb).pose_landmarks
        height, width = rgb.shape[:2]
        return [] if found is None else [_head(found.landmark, 0, 0, width, height)]

    return heads


def _tasks(landmarker: vision.PoseLandmarker) -> Way:
    def heads(rgb: np.ndarray) -> list[Box | None]:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        height, width = rgb.shape[:2]
        return [_head(p, 0, 0, width, height) for p in landmarker.detect(image).pose_landmarks]

    return heads


def _starts(length: int, side: int, stride: int) -> list[int]:
    starts = list(range(0, max(length - side, 0) + 1, stride))
    return starts if starts[-1] == length - side else [*starts, length - side]


def _tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Overlapping square tiles covering the frame, as (x, y, side)."""
    side = round(TILE_SIDE * min(width, height))
    stride = round(side * TILE_STRIDE)
    return [
        (x, y, side) for y in _starts(height, side, stride) for x in _starts(width, side, stride)
    ]


def _merged(heads: list[Box | None]) -> list[Box | None]:
    """One box per head: the larger of any two that overlap by ``SAME_HEAD`` IoU or more."""
    kept: list[Box | None] = []
    for box in sorted((b for b in heads if b is not None), key=lambda b: -b.width):
        if all(box.iou(other) < SAME_HEAD for other in kept if other is not None):
            kept.append(box)
    return kept


def _tiled(landmarker: vision.PoseLandmarker) -> Way:
    full_frame = _tasks(landmarker)

    def heads(rgb: np.ndarray) -> list[Box | None]:
        found = full_frame(rgb)
        for x, y, side in _tiles(rgb.shape[1], rgb.shape[0]):
            tile = mp.Image(
                image_format=mp.ImageFormat.SRGB,
                data=np.ascontiguousarray(rgb[y : y + side, x : x + side]),
            )
            found += [_head(p, x, y, side, side) for p in landmarker.detect(tile).pose_landmarks]
        return _merged(found)

    return heads


def _ways(stack: contextlib.ExitStack, bundle: Path) -> dict[str, Way]:
    """Fresh models for one clip (the legacy one keeps state from frame to frame)."""
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(bundle)),
        num_poses=MAX_POSES,
        running_mode=vision.RunningMode.IMAGE,
    )
    landmarker = stack.enter_context(vision.PoseLandmarker.create_from_options(options))
    return {"legacy": _legacy(stack), "tasks": _tasks(landmarker), "tiles": _tiled(landmarker)}


def _pixels(box: Box) -> tuple[slice, slice]:
    """Rows and columns of a head box rounded to whole pixels."""
    return slice(round(box.y1), round(box.y2)), slice(round(box.x1), round(box.x2))


def _region_mask(regions: list[Region], height: int, width: int) -> np.ndarray:
    """The pixels the regions cover: every pixel each one touches."""
    mask = np.zeros((height, width), bool)
    for r in regions:
        b = r.box
        mask[int(b.y1) : int(np.ceil(b.y2)), int(b.x1) : int(np.ceil(b.x2))] = True
    return mask


@dataclass
class _Tally:
    """One way's counts over one clip."""

    frames: int = 0
    with_person: int = 0
    heads: int = 0
    uncovered: int = 0
    extra: list[float] = field(default_factory=list)
    cpu: float = 0.0

    def add(self, found: list[Box | None], covered: np.ndarray, cpu: float) -> list[Box]:
        """Count one frame's poses against the region mask; the uncovered head boxes."""
        height, width = covered.shape
        self.frames += 1
        self.with_person += bool(found)
        self.cpu += cpu
        uncovered, extra = [], np.zeros_like(covered)
        for box in (h.clipped(width, height) for h in found if h is not None):
            pixels = _pixels(box)
            if covered[pixels].size == 0:
                continue
            self.heads += 1
            if covered[pixels].mean() < COVERED:
                uncovered.append(box)
                extra[pixels] = True
        self.uncovered += len(uncovered)
        self.extra.append(float((extra & ~covered).mean()))
        return uncovered

    def row(self, clip: str, way: str) -> str:
        return (
            f"{clip:26s} {way:6s} {self.frames:6d} {self.with_person:11d} {self.heads:6d} "
            f"{self.uncovered:9d} {100 * np.mean(self.extra):10.2f} {100 * max(self.extra):9.2f} "
            f"{1000 * self.cpu / self.frames:12.1f}"
        )


def _save_crops(
    folder: Path, name: str, image: np.ndarray, regions: list[Region], heads: list[Box]
) -> None:
    """For each head, the picture around it as it is | with the regions green, the head red."""
    drawn = image.copy()
    for r in regions:
        b = r.box
        cv2.rectangle(drawn, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (0, 255, 0), 1)
    height, width = image.shape[:2]
    for k, head in enumerate(heads):
        marked = drawn.copy()
        corners = (round(head.x1), round(head.y1)), (round(head.x2), round(head.y2))
        cv2.rectangle(marked, *corners, (0, 0, 255), 1)
        (cx, cy), half = head.center, max(1.5 * head.width, 40)
        rows, cols = _pixels(Box(cx - half, cy - half, cx + half, cy + half).clipped(width, height))
        pair = [cv2.resize(p[rows, cols], (300, 300)) for p in (image, marked)]
        cv2.imwrite(str(folder / f"{name}.{k}.png"), np.hstack(pair))


def _measure(
    clip: Path, anonymizer: Anonymizer, bundle: Path, crops: Path | None
) -> dict[str, _Tally]:
    regions = anonymizer.detect(clip)
    with contextlib.ExitStack() as stack:
        ways = _ways(stack, bundle)
        tallies = {name: _Tally() for name in ways}
        for frame in VideoReader(clip):
            shown = regions.regions_to_render(frame.index, frame.time)
            covered = _region_mask(shown, *frame.image.shape[:2])
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            for name, way in ways.items():
                start = time.process_time()
                found = way(rgb)
                uncovered = tallies[name].add(found, covered, time.process_time() - start)
                if crops and uncovered:
                    label = f"{clip.name}.{name}.{frame.index:05d}"
                    _save_crops(crops, label, frame.image, shown, uncovered)
    return tallies


def _wait_while(lock: Path | None) -> None:
    while lock is not None and lock.exists():
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "clips", nargs="*", type=Path, default=[VIDEOS / c for c in CLIPS], help="videos"
    )
    parser.add_argument("--crops", type=Path, help="save each uncovered head here (PNG)")
    parser.add_argument(
        "--wait-while",
        type=Path,
        metavar="FILE",
        help="before each clip, wait while FILE exists (a speed benchmark's marker)",
    )
    args = parser.parse_args()
    for model in (DETECTOR, LANDMARKS):
        if not model.exists():
            parser.error(f"{model.name} is not in the installed mediapipe wheel")
    if args.crops:
        args.crops.mkdir(parents=True, exist_ok=True)
    download_utils.download_oss_model = _refuse_download

    anonymizer = Anonymizer()
    with tempfile.TemporaryDirectory(prefix="anonymize-heads-") as work:
        bundle = _pack_bundle(Path(work))
        print(HEADER, flush=True)
        for clip in args.clips:
            _wait_while(args.wait_while)
            for way, tally in _measure(clip, anonymizer, bundle, args.crops).items():
                print(tally.row(clip.name, way), flush=True)


if __name__ == "__main__":
    main()
