"""BlazeFace on the runtime layer: the wheel's TensorFlow Lite models run on OpenVINO and are
decoded as MediaPipe's own graph decodes them; MediaPipe runs them where OpenVINO cannot."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymize import runtime
from anonymize.detect import blazeface, ssd
from anonymize.detect.blazeface import BlazeFace
from anonymize.types import Box


def _pictures(shared_data: Path) -> list[np.ndarray]:
    """RGB pictures with faces near and far: WIDER photos shrunk to 640 px (as the face
    detector shows BlazeFace a frame) and frames of a clip of two people turning their heads."""
    folder = shared_data / "faces_wider_val"
    entries = json.loads((folder / "gt.json").read_text())[:12]
    pictures = []
    for entry in entries:
        image = cv2.imread(str(folder / entry["image"]))
        scale = 640 / max(image.shape[:2])
        pictures.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    clip = cv2.VideoCapture(str(shared_data / "videos" / "head_pose_two_people.gif"))
    for i in range(40):
        ok, frame = clip.read()
        if ok and i % 4 == 0:
            pictures.append(frame)
    return [cv2.cvtColor(p, cv2.COLOR_BGR2RGB) for p in pictures]


def _fp32_runner(model: str) -> blazeface.Runner:
    """The model on OpenVINO in full float precision, so only the decoding can differ."""
    core = runtime._core()
    compiled = core.compile_model(
        core.read_model(str(blazeface.model_path(model))),
        "CPU",
        {"INFERENCE_PRECISION_HINT": "f32"},
    )
    network = runtime.Network(
        model, runtime.Engine("openvino", "fp32"), lambda b: list(compiled(b).values())
    )
    return blazeface._network_runner(network, blazeface._MODELS[model][2])


def _compare(runner: blazeface.Runner, reference: blazeface.Runner, pictures) -> tuple:
    """Every reference box's best overlap among the runner's boxes, its score's difference,
    and how many boxes each found."""
    ious, score_gaps, counts = [], [], [0, 0]
    for picture in pictures:
        boxes, scores = runner(picture)
        ref_boxes, ref_scores = reference(picture)
        counts[0] += len(scores)
        counts[1] += len(ref_scores)
        for ref_box, ref_score in zip(ref_boxes, ref_scores, strict=True):
            overlaps = [Box(*ref_box).iou(Box(*b)) for b in boxes]
            best = int(np.argmax(overlaps)) if overlaps else -1
            ious.append(overlaps[best] if overlaps else 0.0)
            score_gaps.append(abs(ref_score - scores[best]) if overlaps else 1.0)
    return np.array(ious), np.array(score_gaps), counts


@pytest.fixture(scope="module")
def pictures(shared_data: Path) -> list[np.ndarray]:
    return _pictures(shared_data)


@pytest.mark.parametrize("model", ["short", "full"])
def test_decoded_as_mediapipe_decodes(pictures, model) -> None:
    if not runtime.openvino_available():
        pytest.skip("OpenVINO is not installed")
    mediapipe = blazeface._mediapipe_runner(model)
    ious, gaps, (ours, theirs) = _compare(_fp32_runner(model), mediapipe, pictures)
    assert theirs >= 20  # enough faces for the comparison to mean something
    assert ours == theirs
    assert ious.min() > 0.99 and gaps.max() < 1e-3
    # What the pipeline runs (bf16 where the CPU has it): a pixel or two, a point of score.
    ious, gaps, (ours, theirs) = _compare(BlazeFace(model)._get_runner(), mediapipe, pictures)
    assert abs(ours - theirs) <= 2
    assert np.median(ious) > 0.97 and ious.min() > 0.85 and gaps.max() < 0.05


def test_runs_in_mediapipe_where_openvino_cannot(monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_core", lambda: (_ for _ in ()).throw(ImportError("none")))
    image = np.zeros((64, 64, 3), np.uint8)
    for backend in ("auto", "onnxruntime"):
        model = BlazeFace("short", backend=backend)
        model.raw(image)
        assert model.engine == "mediapipe"


def test_onnxruntime_forced_never_touches_openvino(monkeypatch) -> None:
    with pytest.raises(runtime.RuntimeFailure, match="TensorFlow Lite"):
        runtime.load_tflite(blazeface.model_path("short"), "blazeface-short", "onnxruntime")


def test_anchor_grids_match_the_networks_outputs() -> None:
    assert ssd.SHORT.anchors.shape == (896, 2)  # 16x16 cells x 2, then 8x8 cells x 6
    assert ssd.FULL.anchors.shape == (2304, 2)  # 48x48 cells x 1
    assert np.allclose(ssd.SHORT.anchors[0], [1 / 32, 1 / 32])
    assert np.allclose(ssd.SHORT.anchors[-1], [15 / 16, 15 / 16])


def test_weighted_merge_averages_by_score_and_keeps_the_best_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    merged, merged_scores = ssd.weighted_nms(boxes, scores)
    assert merged_scores.tolist() == pytest.approx([0.9, 0.7])
    x1, x2 = (0.6 * 0 + 0.9 * 2) / 1.5, (0.6 * 10 + 0.9 * 12) / 1.5
    assert merged[0].tolist() == pytest.approx([x1, 0, x2, 10])
    assert merged[1].tolist() == [50, 50, 60, 60]


def test_letterbox_maps_back_to_the_picture() -> None:
    tensor, side, x0, y0 = ssd.letterboxed(np.full((90, 160, 3), 255, np.uint8), 128)
    assert tensor.shape == (1, 128, 128, 3)
    assert (side, x0, y0) == (160.0, 0.0, -35.0)
    rows = tensor[0, :, 64, 0]
    assert rows[0] == -1.0 and rows[64] == 1.0  # black bars above, the picture in the middle
    whole = np.array([0.0, 35 / 160, 1.0, 125 / 160]) * side + [x0, y0, x0, y0]
    assert whole.tolist() == pytest.approx([0, 0, 160, 90])
