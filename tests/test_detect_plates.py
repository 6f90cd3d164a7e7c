"""PlateDetector: the torch-free loader, the rebuilt network and its boxes on real photos."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymize.detect._yolo_checkpoint import read_checkpoint
from anonymize.detect.base import Detector
from anonymize.detect.plates import TEXT_SOURCE, PlateDetector, decode, model_path
from anonymize.types import Box

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "plates_openalpr_us"
# Photos of different sizes (1080p, 720p, 1024x640) and plate sizes (29 to 49 px tall).
PHOTOS = (
    "images/us/0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg",
    "images/us/1e241dc8-8f18-4955-8988-03a0ab49f813.jpg",
    "images/us/21d8c31d-3deb-494b-9c63-c0223306fd82.jpg",
)


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    return PlateDetector()


@pytest.fixture(scope="module")
def checkpoint():
    return read_checkpoint(model_path())


def test_loader_recovers_the_yolov8n_architecture(checkpoint):
    layers = checkpoint.layers
    assert len(layers) == 23
    assert [layer.kind for layer in layers].count("C2f") == 8
    assert layers[-1].kind == "Detect" and layers[-1].attrs["f"] == [15, 18, 21]
    assert dict(checkpoint.names) == {0: "License_Plate"}
    stem = layers[0].children
    assert stem["conv"].params["weight"].shape == (16, 3, 3, 3)
    assert stem["conv"].attrs["stride"] == (2, 2)
    assert stem["bn"].params["running_var"].shape == (16,)
    assert stem["conv"].params["weight"].dtype == np.float32
    head = layers[-1].children["cv3"].children["2"].children["2"]
    assert head.params["weight"].shape == (1, 64, 1, 1)
    n_params = sum(p.size for layer in layers for p in _walk_params(layer))
    assert 3.0e6 < n_params < 3.1e6  # YOLOv8n with one class: 3,011,043 weights


def _walk_params(module):
    yield from module.params.values()
    for child in module.children.values():
        yield from _walk_params(child)


def test_loader_refuses_code_in_the_pickle(tmp_path):
    """A checkpoint naming anything outside torch/ultralytics data must not run it."""

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))  # builtins.print: not on the allow list

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"model": Exploit()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_checkpoint(path)


def test_decoded_anchors_match_the_checkpoint(checkpoint):
    """The anchor grid we decode with equals the one Ultralytics stored for its last input."""
    detect = checkpoint.layers[-1].attrs
    _, _, height, width = detect["shape"]  # last training batch: feature map of stride 8
    anchors = np.asarray(detect["anchors"], np.float32)
    strides = np.asarray(detect["strides"], np.float32)[0]
    n = anchors.shape[1]
    # Zero logits put each side's expected distance at 7.5 cells around the anchor centre.
    raw = np.zeros((65, n), np.float32)
    raw[64] = 10
    boxes, _ = decode(raw, height * 8, width * 8, 0.5)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    np.testing.assert_allclose(centres, (anchors * strides).T, atol=1e-3)


def test_is_a_detector(detector):
    assert isinstance(detector, Detector)
    assert detector.labels == ("plate",)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("photo", PHOTOS)
def test_finds_the_annotated_plate(detector, photo):
    entry = next(e for e in json.loads((DATA / "gt.json").read_text()) if e["image"] == photo)
    gt = Box.from_xywh(*entry["boxes"][0])
    image = cv2.imread(str(DATA / photo))
    detections = detector.detect(image)
    assert all(d.label == "plate" and 0 < d.score <= 1 for d in detections)
    best = max(detections, key=lambda d: d.box.iou(gt))
    assert best.box.iou(gt) > 0.5
    assert best.box.padded(0.2).intersection(gt) / gt.area > 0.95
    assert all(
        0 <= v <= s
        for v, s in zip(best.box.as_list(), [image.shape[1], image.shape[0]] * 2, strict=True)
    )


@pytest.mark.parametrize("grey", [0, 64, 88, 112, 200, 255])
def test_flat_frames_give_nothing(grey):
    """Mid-grey frames once read as one frame-sized plate; no sensitivity may do that."""
    frame = np.full((720, 1280, 3), grey, np.uint8)
    assert PlateDetector("standard").detect(frame) == []
    assert PlateDetector("standard", threshold=0.02).detect(frame) == []


def test_odd_frame_sizes_are_analysed(detector):
    assert detector.detect(np.zeros((17, 3000, 3), np.uint8)) == []
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 5, 3), np.uint8),
    ],
)
def test_rejects_frames_it_cannot_analyse(detector, frame):
    with pytest.raises(ValueError):
        detector.detect(frame)


def test_rejects_unknown_sensitivity():
    with pytest.raises(ValueError):
        PlateDetector("extreme")


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_high_sensitivity_finds_a_plate_among_lettering():
    """On a utility truck's painted body YOLO scores the plate near zero in every view; the
    text detector finds it."""
    photo = "images/us/12c6cb72-3ea3-49e7-b381-e0cdfc5e8960.jpg"
    entry = next(e for e in json.loads((DATA / "gt.json").read_text()) if e["image"] == photo)
    gt = Box.from_xywh(*entry["boxes"][0])
    image = cv2.imread(str(DATA / photo))

    def coverage(detections):
        return max((d.box.padded(0.2).intersection(gt) / gt.area for d in detections), default=0)

    assert coverage(PlateDetector("standard").detect(image)) < 0.9
    found = PlateDetector("high").detect(image)
    assert coverage([d for d in found if d.source == TEXT_SOURCE]) > 0.95


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_second_view_finds_the_plate_among_lettering(detector):
    """On a van covered in painted lettering the 640 view scores the plate 0.1; the 512 view
    finds it, and the two views' boxes of each plate are merged into one."""
    photo = "images/us/wts-lg-000163.jpg"
    entry = next(e for e in json.loads((DATA / "gt.json").read_text()) if e["image"] == photo)
    gt = Box.from_xywh(*entry["boxes"][0])
    image = cv2.imread(str(DATA / photo))
    alone = PlateDetector(sizes=(640,)).detect(image)
    assert max((d.box.padded(0.2).intersection(gt) / gt.area for d in alone), default=0) < 0.9
    found = [d for d in detector.detect(image) if d.box.iou(gt) > 0.1]
    assert len(found) == 1
    assert found[0].box.padded(0.2).intersection(gt) / gt.area > 0.95


WIDER = DATA.parent / "faces_wider_val" / "images"


@pytest.mark.skipif(not WIDER.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize(
    "photo",
    [
        "13--Interview/13_Interview_Interview_On_Location_13_282.jpg",  # hotel sign, 0.61
        "0--Parade/0_Parade_Parade_0_246.jpg",  # painted face, 0.52
        "19--Couple/19_Couple_Couple_19_548.jpg",  # T-shirt lettering, 0.75
    ],
)
def test_large_square_boxes_need_a_sure_score(detector, photo):
    """Signs and pictures filling part of a photo without cars once read as plates."""
    image = cv2.imread(str(WIDER / photo))
    assert all(d.box.area < 0.02 * image.shape[0] * image.shape[1] for d in detector.detect(image))


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("photo", ["images/us/wts-lg-000197.jpg", "images/us/car9.jpg"])
def test_close_up_plates_are_kept(detector, photo):
    """Cropped so the plate fills a large part of the frame, the plate is still found: one
    scores 0.84 in a nearly square box, the other 0.33 in a wide one."""
    entry = next(e for e in json.loads((DATA / "gt.json").read_text()) if e["image"] == photo)
    x, y, w, h = entry["boxes"][0]
    image = cv2.imread(str(DATA / photo))
    cx, cy = x + w / 2, y + h / 2
    x1, y1 = int(max(0, cx - 4 * w)), int(max(0, cy - 2.25 * w))
    crop = cv2.resize(image[y1 : int(cy + 2.25 * w), x1 : int(cx + 4 * w)], (1280, 720))
    sx, sy = (
        1280 / (min(image.shape[1], cx + 4 * w) - x1),
        720 / (min(image.shape[0], cy + 2.25 * w) - y1),
    )
    gt = Box((x - x1) * sx, (y - y1) * sy, (x + w - x1) * sx, (y + h - y1) * sy)
    cover = max(d.box.padded(0.2).intersection(gt) / gt.area for d in detector.detect(crop))
    assert cover > 0.9


def test_high_sensitivity_finds_nothing_on_flat_frames():
    for grey in (0, 90, 255):
        assert PlateDetector("high").detect(np.full((720, 1280, 3), grey, np.uint8)) == []


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_small_frames_get_an_upscaled_pass(detector):
    """At SD size this plate is too small for the 640 and 512 passes; the 1280 pass finds it."""
    photo = "images/us/wts-lg-000163.jpg"
    entry = next(e for e in json.loads((DATA / "gt.json").read_text()) if e["image"] == photo)
    image = cv2.imread(str(DATA / photo))
    factor = 640 / max(image.shape[:2])
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    gt = Box.from_xywh(*entry["boxes"][0]).scaled(factor)
    assert detector.preset.passes(*small.shape[:2]) == (640, 512, 1280)
    assert detector.preset.passes(1080, 1920) == (640, 512)
    cover = max(d.box.padded(0.2).intersection(gt) / gt.area for d in detector.detect(small))
    assert cover > 0.9
