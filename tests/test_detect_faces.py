"""Face detectors: the in-memory CenterFace model, BlazeFace, and the combined FaceDetector
on a bundled photo and on annotated real photos."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from anonymize.api import Anonymizer
from anonymize.config import SENSITIVITIES, Settings
from anonymize.detect import blazeface, build_detectors
from anonymize.detect.base import Detector
from anonymize.detect.blazeface import BlazeFace
from anonymize.detect.centerface import CenterFace
from anonymize.detect.close import close_looks, looked_again
from anonymize.detect.faces import (
    PRESETS,
    STILL_PRESETS,
    FaceDetector,
    fuse_passes,
    merge_passes,
)
from anonymize.detect.merge import merge_boxes
from anonymize.detect.plates import PlateDetector
from anonymize.eval import score_image
from anonymize.types import Box

# The astronaut's face in skimage.data.astronaut() (512 x 512), drawn by hand.
ASTRONAUT_FACE = Box(175, 45, 275, 180)
# Real photos with 1-4 faces, 36-208 px tall, from several scene types.
WIDER = (
    "images/0--Parade/0_Parade_Parade_0_901.jpg",
    "images/0--Parade/0_Parade_marchingband_1_932.jpg",
    "images/13--Interview/13_Interview_Interview_On_Location_13_287.jpg",
    "images/13--Interview/13_Interview_Interview_On_Location_13_636.jpg",
    "images/13--Interview/13_Interview_Interview_On_Location_13_847.jpg",
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])


@pytest.fixture(scope="module")
def faces() -> FaceDetector:
    return FaceDetector()


def _hits(found: list[Box], truth: Box) -> bool:
    return any(box.iou(truth) >= 0.3 for box in found)


def test_face_detector_is_a_detector(faces):
    assert isinstance(faces, Detector)
    assert faces.labels == ("face",)


@pytest.mark.parametrize("sensitivity", ["lean", "standard", "high"])
def test_finds_the_astronaut(astronaut, sensitivity):
    found = FaceDetector(sensitivity).detect(astronaut)
    assert [d.label for d in found] == ["face"]  # one face, merged from every model and pass
    assert found[0].box.iou(ASTRONAUT_FACE) >= 0.5


def test_each_model_finds_the_astronaut(astronaut):
    for model in (CenterFace(), BlazeFace("short"), BlazeFace("full")):
        boxes = [d.box for d in model.detect(astronaut)]
        assert _hits(boxes, ASTRONAUT_FACE), model.name


def test_mediapipe_graphs_built_at_once_keep_stderr(faces):
    # A video's detectors prepare on several threads, and MediaPipe's graphs are built with
    # the process's stderr silenced: one silence at a time, and stderr comes back after.
    before = os.fstat(2)
    inside, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with blazeface._native_logs_silenced():
            inside.set()
            release.wait(timeout=5)

    def second() -> None:
        inside.wait(timeout=5)
        with blazeface._native_logs_silenced():
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert not second_in.wait(timeout=0.3)  # waits while the first graph is built
    release.set()
    for t in threads:
        t.join()
    assert second_in.is_set()
    faces.expect_size(640, 360)  # CenterFace compiles while both BlazeFace models load
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_centerface_runs_at_any_size(astronaut):
    # The stored model declares a fixed 32x32 input; the in-memory edit must lift that.
    model = CenterFace()
    for scale in (0.5, 1.0, 1.3):
        boxes, _ = model.raw(astronaut, scale)
        assert _hits([Box(*b) for b in boxes], ASTRONAUT_FACE), scale


def test_boxes_follow_the_frame_when_mirrored(astronaut, faces):
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    box = faces.detect(mirrored)[0].box
    unmirrored = Box(512 - box.x2, box.y1, 512 - box.x1, box.y2)
    assert unmirrored.iou(ASTRONAUT_FACE) >= 0.5


def test_a_close_look_finds_the_face_where_it_is_expected(astronaut, faces):
    # The tracker's guess is off by a fifth of the face and too small: the look finds the
    # face itself, in frame pixels.
    guess = Box(195, 70, 275, 170)
    found = faces.detect_near(astronaut, [guess])
    assert len(found) == 1 and found[0].box.iou(ASTRONAUT_FACE) >= 0.5
    assert found[0].source == "faces-near"
    # Nothing where no face is expected to be, and nothing asked, nothing run.
    assert faces.detect_near(astronaut, [Box(380, 380, 460, 480)]) == []
    assert faces.detect_near(astronaut, []) == []


def test_a_close_look_finds_a_small_face_the_quick_pass_cannot_see(astronaut, faces):
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)  # face ~30 px
    frame = np.full((720, 1280, 3), 128, np.uint8)
    frame[300:428, 600:728] = small
    face = Box(600 + 175 / 4, 300 + 45 / 4, 600 + 275 / 4, 300 + 180 / 4)
    assert not _hits([d.box for d in faces.detect_quick(frame)], face)
    assert _hits([d.box for d in faces.detect_near(frame, [face.padded(0.1)])], face)


def test_nothing_in_a_picture_without_faces(faces):
    ramp = np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None]
    picture = np.broadcast_to(ramp, (480, 640, 3)).copy()
    cv2.rectangle(picture, (100, 100), (300, 200), (30, 120, 200), -1)
    cv2.circle(picture, (450, 300), 80, (200, 200, 40), -1)
    assert faces.detect(picture) == []


def test_refuses_what_it_cannot_analyse(faces):
    with pytest.raises(ValueError):
        faces.detect(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        faces.detect(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("sensitivity", SENSITIVITIES)
def test_every_sensitivity_the_cli_offers_builds_every_detector(sensitivity):
    detectors = build_detectors(Settings(sensitivity=sensitivity))
    assert [d.sensitivity for d in detectors] == [sensitivity, sensitivity]


def test_lean_is_leaner_about_faces_only():
    assert PlateDetector("lean").preset == PlateDetector("standard").preset
    lean, standard = PRESETS["lean"], PRESETS["standard"]
    assert lean.fused_threshold > standard.fused_threshold
    assert set(lean.centerface_sizes) < set(standard.centerface_sizes)


def test_unknown_sensitivity_is_refused():
    with pytest.raises(ValueError, match="sensitivity"):
        FaceDetector("paranoid")


def test_recall_on_real_photos(faces, shared_data):
    root = shared_data / "faces_wider_val"
    entries = {e["image"]: e for e in json.loads((root / "gt.json").read_text())}
    found = total = 0
    for name in WIDER:
        image = cv2.imread(str(root / name))
        boxes = [d.box for d in faces.detect(image)]
        h, w = image.shape[:2]
        assert all(0 <= b.x1 < b.x2 <= w and 0 <= b.y1 < b.y2 <= h for b in boxes)
        for x, y, bw, bh in entries[name]["boxes"]:
            total += 1
            found += _hits(boxes, Box.from_xywh(x, y, bw, bh))
    assert total == 17
    assert found >= 16, f"found {found} of {total}"


def test_merge_keeps_one_box_per_face_and_never_shrinks_the_best():
    boxes = np.array(
        [[10, 10, 50, 50], [12, 8, 52, 48], [200, 200, 240, 250], [11, 11, 49, 60]], np.float32
    )
    scores = np.array([0.9, 0.6, 0.5, 0.4], np.float32)
    merged, merged_scores = merge_boxes(boxes, scores)
    assert len(merged) == 2
    first = merged[np.argmax(merged_scores)]
    assert (first[:2] <= boxes[0, :2]).all() and (first[2:] >= boxes[0, 2:]).all()
    assert merged_scores.max() == pytest.approx(0.9)
    empty, empty_scores = merge_boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
    assert empty.shape == (0, 4) and empty_scores.shape == (0,)


def test_fused_merge_adds_evidence_across_passes_only():
    # Two faint boxes on one face from two passes add up; two from one pass do not.
    face = np.array([[10, 10, 50, 50], [11, 9, 51, 49]], np.float32)
    scores = np.array([0.2, 0.2], np.float32)
    _, across = merge_boxes(face, scores, sources=np.array([0, 1]))
    _, within = merge_boxes(face, scores, sources=np.array([0, 0]))
    assert across[0] == pytest.approx(1 - 0.8 * 0.8)
    assert within[0] == pytest.approx(0.2)
    preset = replace(PRESETS["standard"], fused_threshold=0.3)
    assert len(merge_passes([(face[:1], scores[:1])], preset)[0]) == 0
    agreed = [(face[i : i + 1], scores[i : i + 1]) for i in range(2)]
    assert len(merge_passes(agreed, preset)[0]) == 1


def test_faint_boxes_need_more_evidence_when_very_large_and_in_photos_when_very_small():
    preset, still = PRESETS["standard"], STILL_PRESETS["standard"]
    # One box each: 20 px, 60 px and 300 px tall, each seen faintly by two passes (fused 0.51).
    boxes = np.array([[0, 0, 20, 20], [100, 100, 160, 160], [300, 0, 600, 300]], np.float32)
    twice = [(boxes, np.full(3, 0.3, np.float32))] * 2
    kept, _ = merge_passes(twice, preset)
    assert [round(float(b[3] - b[1])) for b in kept] == [20, 60]  # 0.51 < 0.6 for 300 px
    once = [(boxes, np.full(3, 0.3, np.float32))]
    kept, _ = merge_passes(once, preset)
    assert [round(float(b[3] - b[1])) for b in kept] == [20, 60]  # small boxes: 0.3 as others
    # A photo's lower threshold (0.25) stops at 0.3 for boxes under 30 px.
    kept, _ = merge_passes([(boxes, np.full(3, 0.27, np.float32))], still)
    assert [round(float(b[3] - b[1])) for b in kept] == [60]
    sure = [(boxes, np.full(3, 0.9, np.float32))]
    assert len(merge_passes(sure, preset)[0]) == 3


@pytest.mark.parametrize("size", [(64, 32), (96, 64), (160, 96)])
def test_centerface_input_is_exactly_what_blob_from_image_makes(size):
    """The faster blob (resize on every core, then a channel split) changes no input value."""
    from anonymize.detect.centerface import _blob

    image = np.random.default_rng(3).integers(0, 256, (75, 121, 3), dtype=np.uint8)
    expected = cv2.dnn.blobFromImage(image, 1.0, size, (0, 0, 0), swapRB=True)
    np.testing.assert_array_equal(_blob(image, size), expected)


def _wider_photo(shared_data, name: str) -> tuple[np.ndarray, list[Box]]:
    """A faces_wider_val photo and its annotated faces 20 px and taller."""
    root = shared_data / "faces_wider_val"
    entry = next(e for e in json.loads((root / "gt.json").read_text()) if e["image"].endswith(name))
    faces = [Box(x, y, x + w, y + h) for x, y, w, h in entry["boxes"] if h >= 20]
    return cv2.imread(str(root / entry["image"])), faces


def test_a_second_look_keeps_a_faint_face_the_passes_alone_let_go(shared_data):
    """A marching-band photo where one face 20 px+ scores just short in every pass: the
    mirrored close look adds enough evidence to keep it, and nothing kept without the look
    is lost with it."""
    image, faces = _wider_photo(shared_data, "0_Parade_marchingband_1_517.jpg")

    def found(detections):
        return {i for i, f in enumerate(faces) if any(d.box.iou(f) >= 0.4 for d in detections)}

    standard = PRESETS["standard"]
    assert standard.look_again_px > 0
    with_look = FaceDetector(preset=standard).detect_faint(image)[0]
    without = FaceDetector(preset=replace(standard, look_again_px=0)).detect_faint(image)[0]
    assert found(with_look) > found(without)
    for d in without:
        assert any(d.box.iou(k.box) > 0.9 for k in with_look)


def test_the_second_look_also_looks_unmirrored_and_keeps_a_face_the_mirrored_look_let_go(
    shared_data,
):
    """A marching-band photo where a face 20 px+ falls short in every pass and in the mirrored
    close look: the look at the view as it is adds the evidence that keeps it."""
    image, faces = _wider_photo(shared_data, "0_Parade_marchingband_1_517.jpg")
    detector = FaceDetector()
    boxes, scores, needed = fuse_passes(list(detector.passes(image).values()), detector.preset)
    faint = np.array(
        [
            s < n and any(Box(*map(float, b)).iou(f) >= 0.5 for f in faces)
            for b, s, n in zip(boxes, scores, needed, strict=True)
        ]
    )
    both = looked_again(detector._centerface, image, boxes, scores, faint, 0.3)
    looks = close_looks(
        detector._centerface, image, [Box(*map(float, b)) for b in boxes[faint]], mirrored=True
    )
    kept_by_the_second_view = []
    for i, (found, found_scores) in zip(np.flatnonzero(faint), looks, strict=True):
        candidate = Box(*map(float, boxes[i]))
        near = [s for b, s in zip(found, found_scores, strict=True) if b.iou(candidate) >= 0.3]
        best = max(near, default=0.0)
        if 1 - (1 - scores[i]) * (1 - best) < needed[i] <= both[i]:
            kept_by_the_second_view.append(candidate)
    assert kept_by_the_second_view
    kept = detector.detect_faint(image)[0]
    assert all(any(d.box.iou(c) >= 0.5 for d in kept) for c in kept_by_the_second_view)


def test_a_photo_gets_a_mirrored_pass_that_finds_a_face_the_keyframe_passes_miss(
    shared_data, tmp_path
):
    """A marching-band photo with a face 47 px tall that no pass of a video's keyframe keeps:
    a photo's look adds the mirrored 2048 px pass (``STILL_PRESETS``), which finds it and
    every annotated face the keyframe look finds, and the safe copy has that face obscured."""
    name = "0_Parade_marchingband_1_139.jpg"
    image, faces = _wider_photo(shared_data, name)
    x, y, w, h = 945, 202, 34, 47  # as annotated
    face = Box(x, y, x + w, y + h)
    detector = FaceDetector()
    keyframe, still = detector.detect_faint(image)[0], detector.detect(image)
    assert not any(d.box.iou(face) > 0.1 for d in keyframe)
    assert any(d.box.iou(face) >= 0.4 for d in still)

    def found(detections):
        return {i for i, f in enumerate(faces) if any(d.box.iou(f) >= 0.4 for d in detections)}

    assert found(still) > found(keyframe)
    assert STILL_PRESETS["lean"] == PRESETS["lean"]

    src = next((shared_data / "faces_wider_val" / "images").rglob(name))
    Anonymizer(Settings(targets=("faces",))).anonymize_file(src, tmp_path / name, report=False)
    after = cv2.imread(str(tmp_path / name))
    [scored], _, _ = score_image(image, after, [[x, y, w, h]])
    assert scored.obscured
