"""The evaluation: the obscured rule on generated pixels, and a real run on three photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymize.config import Settings
from anonymize.eval import EvalResult, _main, evaluate, format_report, score_image

# Three real photos: 3, 4 and 4 faces, 27 to 374 px tall (one image is pasted twice below).
PHOTOS = (
    "images/0--Parade/0_Parade_Parade_0_901.jpg",
    "images/0--Parade/0_Parade_marchingband_1_932.jpg",
    "images/13--Interview/13_Interview_Interview_On_Location_13_847.jpg",
)


def _textured(h: int = 120, w: int = 160) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _score(before, after, box=(40, 30, 60, 50), ignore=()):
    scores, background, changed = score_image(before, after, [box], ignore)
    return scores[0], background, changed


def test_untouched_box_is_not_obscured():
    image = _textured()
    score, background, changed = _score(image, image.copy())
    assert not score.obscured and score.detail == pytest.approx(1.0) and score.changed == 0
    # 25% margin per side, rounded outwards: 60 + 2 * 15 by 50 + 2 * 13 pixels are not "away"
    assert background == 160 * 120 - 90 * 76 and changed == 0


def test_coarse_cover_counts_and_solid_fill_counts():
    image = _textured()
    for fill in (cv2.blur(image[30:80, 40:100], (25, 25)), 40):
        out = image.copy()
        out[30:80, 40:100] = fill
        score, _, changed = _score(image, out)
        assert score.obscured and score.detail < 0.1 and changed == 0


def test_a_blurred_rim_or_a_light_blur_does_not_count():
    image = cv2.GaussianBlur(_textured(), (0, 0), 1.0)
    rim = image.copy()
    rim[30:80, 40:48] = 0  # the left eighth of the box, as a detection off to the side
    light = image.copy()
    light[30:80, 40:100] = cv2.GaussianBlur(image, (0, 0), 0.6)[30:80, 40:100]
    for out in (rim, light):
        assert not _score(image, out)[0].obscured


def test_half_covered_box_is_not_obscured():
    image = _textured()
    out = image.copy()
    out[30:80, 40:70] = 128
    score, _, _ = _score(image, out)
    assert not score.obscured and 0.4 < score.detail < 0.6


def test_changes_away_from_boxes_are_over_redaction_and_ignore_boxes_are_not():
    image = _textured()
    out = image.copy()
    out[0:10, 0:10] = 0  # away from the box: counts
    out[100:120, 140:160] = 0  # inside an ignore box: counts neither way
    _, background, changed = _score(image, out, ignore=[(140, 100, 20, 20)])
    assert changed == 100
    assert background == 160 * 120 - 90 * 76 - 400


def test_mismatched_sizes_are_an_error():
    with pytest.raises(ValueError):
        score_image(_textured(), _textured(100, 100), [(0, 0, 10, 10)])


class _CoverFirstBoxes:
    """A stand-in pipeline that obscures exactly the first annotated box of each image."""

    def __init__(self, gt: dict[str, list]):
        self.gt = gt

    def anonymize_file(self, src: Path, dst: Path, report: bool = False) -> None:
        image = cv2.imread(str(src))
        x, y, w, h = self.gt[src.name][0]
        image[y : y + h, x : x + w] = 0
        cv2.imwrite(str(dst), image)


@pytest.fixture()
def three_photos(tmp_path, shared_data) -> Path:
    root = shared_data / "faces_wider_val"
    entries = {e["image"]: e for e in json.loads((root / "gt.json").read_text())}
    gt = []
    for name in PHOTOS:
        shutil.copy(root / name, tmp_path / Path(name).name)
        gt.append({"image": Path(name).name, "boxes": entries[name]["boxes"], "ignore": []})
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    return tmp_path


def test_evaluate_counts_what_the_pipeline_obscured(three_photos):
    gt = {e["image"]: e["boxes"] for e in json.loads((three_photos / "gt.json").read_text())}
    result = evaluate(three_photos, Settings(), anonymizer=_CoverFirstBoxes(gt))
    assert result.images == 3 and len(result.boxes) == 11
    assert result.bucket("all") == (3, 11)
    assert result.over_redaction == 0.0
    assert {b.box for b in result.misses()} == {
        tuple(box) for boxes in gt.values() for box in boxes[1:]
    }


def test_real_pipeline_on_three_photos(three_photos, capsys):
    result = evaluate(three_photos, Settings(targets=("faces",)))
    assert isinstance(result, EvalResult)
    hit, total = result.bucket("20+")
    assert total == 11 and hit >= 10
    assert result.over_redaction < 0.02
    report = format_report(result)
    assert "20+" in report and "over-redaction" in report
    assert _main([str(three_photos), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["buckets"]["20+"]["total"] == 11


def test_a_folder_without_gt_json_is_a_usage_error(tmp_path, capsys):
    assert _main([str(tmp_path)]) == 2
    assert "gt.json" in capsys.readouterr().err
