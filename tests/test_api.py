"""The pipeline fails closed: a frame it cannot analyse is never written readable."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from anonymize.api import AnalysisError, Anonymizer
from anonymize.config import Settings
from anonymize.detect.base import NearDetector
from anonymize.types import Box, Detection

_W, _H, _N = 96, 64, 12


def _clip(path: Path, scenes: tuple[int, ...] = ()) -> Path:
    """Random coarse blocks, new in every frame; with ``scenes``, one still picture per shot
    instead (shots start at those frames), bright and dark in turn, so cuts are unmistakable."""
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = _W, _H, "yuv420p"
        for index in range(_N):
            if not scenes or index == 0 or index in scenes:
                coarse = rng.integers(0, 256, (_H // 8, _W // 8, 3), dtype=np.uint8)
                if scenes:
                    shot = sum(index >= s for s in scenes)
                    coarse = coarse // 4 + (0 if shot % 2 else 160)
            image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)  # survives re-encoding
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class _Fake:
    """A detector that finds one face at a fixed place and breaks on chosen frames."""

    name = "fake"
    labels = ("face",)

    def __init__(self, broken: set[int] = frozenset()):
        self.broken, self.calls = broken, 0

    def detect(self, frame: np.ndarray) -> list[Detection]:
        index, self.calls = self.calls, self.calls + 1
        if index in self.broken:
            raise RuntimeError("model exploded")
        return [Detection(Box(10, 10, 30, 30), 0.9, "face", "fake")]


def test_a_frame_that_cannot_be_analysed_fails_the_file(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    anonymizer = Anonymizer(Settings(), detectors=[_Fake(broken={5})])
    with pytest.raises(AnalysisError, match="frame 5 could not be analysed: model exploded"):
        anonymizer.anonymize_file(src, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_on_error_obscure_frame_covers_that_frame_whole(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    settings = Settings(on_error="obscure-frame")
    regions = Anonymizer(settings, detectors=[_Fake(broken={5})]).anonymize_file(
        src, tmp_path / "out.mp4"
    )
    assert "frame" in [r.label for r in regions.frames[5]]
    original, result = _frames(src), _frames(tmp_path / "out.mp4")
    changed = np.abs(original[5].astype(int) - result[5].astype(int)).max(axis=2) > 40
    assert changed.mean() > 0.8
    untouched = np.abs(original[0].astype(int) - result[0].astype(int)).max(axis=2)[40:, 50:]
    assert np.percentile(untouched, 50) < 20  # away from the face, frame 0 is only re-encoded


def test_every_frame_has_its_padded_face_and_nothing_is_buffered_across_files(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    regions = Anonymizer(Settings(padding=0.5), detectors=[_Fake()]).detect(src)
    assert sorted(regions.frames) == list(range(_N))
    for frame_regions in regions.frames.values():
        assert any(r.box == Box(0, 0, 40, 40) for r in frame_regions)


def test_every_box_gets_the_same_share_of_padding(tmp_path):
    class _Two(_Fake):
        def detect(self, frame: np.ndarray) -> list[Detection]:
            return [
                Detection(Box(10, 10, 30, 30), 0.9, "face", "fake"),
                Detection(Box(100, 50, 140, 150), 0.9, "face", "fake"),
            ]

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.full((200, 200, 3), 128, np.uint8))
    found = Anonymizer(Settings(padding=0.5), detectors=[_Two()]).anonymize_file(
        src, tmp_path / "out.png"
    )
    boxes = sorted(r.box.as_list() for r in found.frames[0])
    # Half the size on each side, large or small: 20 px +10 a side; 100 px tall +50 (clipped).
    assert boxes == [[0, 0, 40, 40], [80, 0, 160, 200]]


def test_the_output_never_overwrites_the_input(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    before = src.read_bytes()
    with pytest.raises(AnalysisError, match="overwrite the input"):
        Anonymizer(Settings(), detectors=[_Fake()]).anonymize_file(src, src)
    assert src.read_bytes() == before


def test_an_interrupted_render_leaves_no_output(tmp_path, monkeypatch):
    src = _clip(tmp_path / "in.mp4")
    anonymizer = Anonymizer(Settings(), detectors=[_Fake()])
    regions = anonymizer.detect(src)

    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        anonymizer.render(src, tmp_path / "out.mp4", regions, progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


class _Keyed(_Fake):
    """A detector with a quick pass that finds nothing: it records which frames ran in full."""

    def __init__(self) -> None:
        super().__init__()
        self.full: list[int] = []
        self.quick: list[int] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.full.append(self.calls)
        return super().detect(frame)

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        self.quick.append(self.calls)
        self.calls += 1
        return []


@pytest.mark.parametrize("every", [1, 4, 5])
def test_keyframes_run_in_full_and_their_finds_cover_every_frame_between(tmp_path, every):
    src = _clip(tmp_path / "in.mp4", scenes=(_N,))  # one still shot: no cuts
    detector = _Keyed()
    regions = Anonymizer(Settings(keyframes=every), detectors=[detector]).detect(src)
    assert detector.full == list(range(0, _N, every))
    assert sorted(detector.full + detector.quick) == list(range(_N))
    # Found only on keyframes, the face is still covered in every frame, up to the last one.
    assert sorted(regions.frames) == list(range(_N))
    for index, frame_regions in regions.frames.items():
        assert any(r.box.intersection(Box(10, 10, 30, 30)) == 400 for r in frame_regions), index
        assert all(r.detected == (index in detector.full) for r in frame_regions)


class _Near(_Keyed):
    """A quick pass that finds nothing and a close look that finds the face where expected."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[Box]] = []

    def detect_near(self, frame: np.ndarray, near: list[Box]) -> list[Detection]:
        self.asked.append(list(near))
        return [Detection(box, 0.8, "face", "fake-near") for box in near]


def test_between_keyframes_a_close_look_where_the_tracker_expects_the_face(tmp_path):
    src = _clip(tmp_path / "in.mp4", scenes=(_N,))
    detector = _Near()
    regions = Anonymizer(Settings(keyframes=4), detectors=[detector]).detect(src)
    assert isinstance(detector, NearDetector)
    # Asked once per frame between keyframes, about the one still face, where it stands.
    assert len(detector.asked) == len(detector.quick)
    assert all(len(a) == 1 and a[0].iou(Box(10, 10, 30, 30)) > 0.9 for a in detector.asked)
    # What the close look finds counts as detected: nothing is carried on a still shot.
    assert all(r.detected for rs in regions.frames.values() for r in rs)


def test_a_scene_cut_is_a_keyframe(tmp_path):
    src = _clip(tmp_path / "in.mp4", scenes=(3, 7))
    detector = _Keyed()
    Anonymizer(Settings(keyframes=5), detectors=[detector]).detect(src)
    assert detector.full == [0, 3, 7]


def test_one_shot_video_writes_what_detect_then_render_writes(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    settings = Settings(keyframes=3, mode="solid")
    one_shot = Anonymizer(settings, detectors=[_Keyed()]).anonymize_file(src, tmp_path / "one.mp4")
    two_step = Anonymizer(settings, detectors=[_Keyed()]).detect(src)
    Anonymizer(settings, detectors=[]).render(src, tmp_path / "two.mp4", two_step)
    assert one_shot.frames == two_step.frames
    for a, b in zip(_frames(tmp_path / "one.mp4"), _frames(tmp_path / "two.mp4"), strict=True):
        for image in (a, b):  # the face is solid grey in both (x264 only adds a little noise)
            assert np.median(np.abs(image[12:28, 12:28].astype(int) - 40)) < 6
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 6  # threaded x264 varies a little


def test_the_report_is_written_before_the_output_takes_its_name(tmp_path, monkeypatch):
    src = _clip(tmp_path / "in.mp4")

    def full_disk(regions, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("anonymize.api.save", full_disk)
    with pytest.raises(OSError, match="No space"):
        Anonymizer(Settings(), detectors=[_Fake()]).anonymize_file(src, tmp_path / "out.mp4")
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["in.mp4"]  # no output without its report
    monkeypatch.undo()
    regions = Anonymizer(Settings(), detectors=[_Fake()]).anonymize_file(src, tmp_path / "out.mp4")
    # In the audit folder beside the input, as the CLI puts it; never beside the output.
    assert not (tmp_path / "out.mp4.json").exists()
    report = json.loads((tmp_path / "anonymize-audit" / "out.mp4.json").read_text())
    assert (
        report["output"]["sha256"]
        == hashlib.sha256((tmp_path / "out.mp4").read_bytes()).hexdigest()
    )
    assert regions.output.name == "out.mp4"


def test_blas_runs_on_one_thread_while_a_file_runs_and_is_restored_after(tmp_path):
    """OpenBLAS's spare threads spin after every small product the tracker makes and take
    cores from the detectors; during a run each BLAS library has one thread."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    class _Watching(_Fake):
        seen: list[list[int]] = []

        def detect(self, frame: np.ndarray) -> list[Detection]:
            self.seen.append(blas_threads())
            return super().detect(frame)

    before = blas_threads()
    detector = _Watching()
    Anonymizer(Settings(), detectors=[detector]).anonymize_file(
        src := _clip(tmp_path / "in.mp4"), tmp_path / "out.mp4"
    )
    Anonymizer(Settings(), detectors=[detector]).detect(src)
    assert detector.seen and all(threads and set(threads) == {1} for threads in detector.seen)
    assert blas_threads() == before


@pytest.mark.parametrize(
    "wrong",
    [
        {"targets": ("face",)},  # would find nothing: every face left readable
        {"targets": ()},
        {"targets": "plate"},
        {"mode": "mosiac"},
        {"sensitivity": "normal"},
        {"padding": -0.4},
        {"quality": 60},
        {"keyframes": 0},
    ],
)
def test_a_misspelt_setting_is_refused_not_ignored(wrong: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(wrong))):
        Settings(**wrong)


def test_one_target_may_be_given_as_a_word() -> None:
    assert Settings(targets="faces").targets == ("faces",)
