"""The evaluation: the obscured rule on generated pixels, and a real run on three photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from anonymize.cli import main
from anonymize.config import Settings
from anonymize.eval import (
    _SETS,
    ATTRIBUTES,
    BoxScore,
    EvalResult,
    _main,
    attach_attributes,
    evaluate,
    format_report,
    load_attributes,
    load_ground_truth,
    score_image,
)

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


def test_a_folder_without_labels_reports_as_before(three_photos):
    gt = {e["image"]: e["boxes"] for e in json.loads((three_photos / "gt.json").read_text())}
    result = evaluate(three_photos, Settings(), anonymizer=_CoverFirstBoxes(gt))
    assert result.breakdown() is None
    assert "attributes" not in result.to_dict()
    assert "WIDER" not in format_report(result)


def test_every_real_face_has_labels_and_each_breakdown_adds_up(shared_data):
    folder = shared_data / "faces_wider_val"
    labels = load_attributes(folder)
    scores = [
        # A stand-in outcome that differs across sizes and images, so sums are tested.
        BoxScore(e["image"], tuple(box), 0.0, 0.0, (box[0] + box[3]) % 3 > 0)
        for e in load_ground_truth(folder)
        for box in e["boxes"]
    ]
    result = EvalResult(str(folder), 197, tuple(attach_attributes(scores, labels)), 1, 0, 0.0)
    assert len(result.boxes) == 2593 and all(b.attributes for b in result.boxes)
    groups = result.breakdown()
    hit, total = result.bucket("all")
    hit_20, total_20 = result.bucket("20+")
    for attribute in [name for name, _ in ATTRIBUTES]:
        rows = [g for g in groups if g.attribute == attribute]
        assert sum(g.total for g in rows) == total and sum(g.obscured for g in rows) == hit
        assert sum(g.total_20 for g in rows) == total_20
        assert sum(g.obscured_20 for g in rows) == hit_20
    subsets = {g.level: g for g in groups if g.attribute == "subset"}
    assert list(subsets) == ["easy", "medium", "hard", "none"]
    assert subsets["easy"].total <= subsets["medium"].total <= subsets["hard"].total
    assert subsets["hard"].total + subsets["none"].total == total
    assert subsets["hard"].obscured + subsets["none"].obscured == hit
    official = [f for e in json.loads((folder / "gt_attrs.json").read_text()) for f in e["faces"]]
    for name in ("easy", "medium", "hard"):
        assert subsets[name].total == sum(f[f"in_{name}"] for f in official)


class _CoverListed:
    """A stand-in pipeline that obscures exactly the boxes it is given, per image."""

    def __init__(self, covered: dict[str, list]):
        self.covered = covered

    def anonymize_file(self, src: Path, dst: Path, report: bool = False) -> None:
        image = cv2.imread(str(src))
        for x, y, w, h in self.covered.get(src.name, []):
            image[y : y + h, x : x + w] = 0
        cv2.imwrite(str(dst), image)


def _face(box, in_sets=0, **labels) -> dict:
    """A gt_attrs.json face; ``in_sets`` = 1 easy (and medium, hard), 2 medium, 3 hard."""
    levels = {"blur": 0, "occlusion": 0, "pose": 0, "illumination": 0, "expression": 0}
    sets = {f"in_{name}": bool(in_sets) and k >= in_sets for k, name in enumerate(_SETS, 1)}
    return {"box": box, **levels, "invalid": 0, **sets, **labels}


@pytest.fixture()
def labelled_folder(tmp_path) -> Path:
    """Two generated photos, five faces: four labelled, one (in b.png) not listed."""
    image = _textured(200, 300)
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), image)
    a = [[10, 10, 40, 50], [100, 20, 30, 12], [200, 100, 25, 30]]
    b = [[20, 30, 60, 60], [150, 120, 40, 22]]
    gt = [{"image": "a.png", "boxes": a, "ignore": []}, {"image": "b.png", "boxes": b}]
    attrs = [
        {
            "image": "a.png",
            "faces": [
                _face(a[0], 1),
                _face(a[1], 3, blur=2, occlusion=1),
                _face(a[2], 2, blur=1, pose=1),
            ],
        },
        {"image": "b.png", "faces": [_face(b[0], 0, blur=2, occlusion=2, illumination=1)]},
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "gt_attrs.json").write_text(json.dumps(attrs))
    return tmp_path


LABELLED_TABLE = """\
by WIDER FACE label (subsets nested: easy within medium within hard):
        label level         obscured  total   share  20px+ obs  total   share  of misses
         blur clear                1      1  100.0%          1      1  100.0%       0.0%
              normal blur          0      1    0.0%          0      1    0.0%      50.0%
              heavy blur           1      2   50.0%          0      1    0.0%      50.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
    occlusion none                 1      2   50.0%          1      2   50.0%      50.0%
              partial              1      1  100.0%          0      0       -       0.0%
              heavy                0      1    0.0%          0      1    0.0%      50.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
         pose typical              2      3   66.7%          1      2   50.0%      50.0%
              atypical             0      1    0.0%          0      1    0.0%      50.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
 illumination normal               2      3   66.7%          1      2   50.0%      50.0%
              extreme              0      1    0.0%          0      1    0.0%      50.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
   expression typical              2      4   50.0%          1      3   33.3%     100.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
      invalid no                   2      4   50.0%          1      3   33.3%     100.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%
       subset easy                 1      1  100.0%          1      1  100.0%       0.0%
              medium               1      2   50.0%          1      2   50.0%      50.0%
              hard                 2      3   66.7%          1      2   50.0%      50.0%
              none                 0      1    0.0%          0      1    0.0%      50.0%
              no labels            1      1  100.0%          1      1  100.0%       0.0%"""


def test_a_labelled_folder_gives_the_expected_table(labelled_folder):
    covered = {"a.png": [[10, 10, 40, 50], [100, 20, 30, 12]], "b.png": [[150, 120, 40, 22]]}
    result = evaluate(labelled_folder, Settings(), anonymizer=_CoverListed(covered))
    # b.png's second face is obscured but not labelled; two labelled faces are left readable.
    assert format_report(result).endswith(LABELLED_TABLE)
    assert result.to_dict()["attributes"][0] == {
        "attribute": "blur",
        "level": "clear",
        "obscured": 1,
        "total": 1,
        "share": 1.0,
        "obscured_20+": 1,
        "total_20+": 1,
        "share_20+": 1.0,
    }


def test_unreadable_labels_are_a_readable_error(labelled_folder):
    (labelled_folder / "gt_attrs.json").write_text(json.dumps([{"image": "a.png"}]))
    with pytest.raises(ValueError, match="gt_attrs.json"):
        load_attributes(labelled_folder)


def test_the_eval_command_prints_the_breakdown(labelled_folder):
    result = CliRunner().invoke(main, ["eval", str(labelled_folder), "--targets", "faces"])
    assert result.exit_code == 0, result.output
    assert "by WIDER FACE label" in result.output and "no labels" in result.output


def test_the_eval_command_measures_on_the_backend_asked_for(labelled_folder, monkeypatch):
    # A user checks what a machine without OpenVINO would obscure: the networks must run
    # where --backend says, not on the default.
    seen = []
    monkeypatch.setattr(
        "anonymize.eval.evaluate", lambda folder, settings: seen.append(settings.backend)
    )
    monkeypatch.setattr("anonymize.eval.format_report", lambda result: "")
    result = CliRunner().invoke(
        main, ["eval", str(labelled_folder), "--targets", "faces", "--backend", "onnxruntime"]
    )
    assert result.exit_code == 0, result.output
    assert seen == ["onnxruntime"]


@pytest.mark.parametrize(
    "text, cause",
    [
        ("{not json", "not valid JSON"),
        ('[{"image": "nope.jpg", "boxes": [[1, 1, 10, 10]]}]', "lists nope.jpg, which is not"),
        ('[{"image": "a.jpg", "box": [[1, 1, 10, 10]]}]', "expected a list of"),  # misspelt
    ],
)
def test_a_bad_gt_json_is_refused_in_one_line_naming_it(tmp_path, text, cause):
    from click.testing import CliRunner

    from anonymize.cli import main

    cv2.imwrite(str(tmp_path / "a.jpg"), _textured())
    (tmp_path / "gt.json").write_text(text)
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"Error: {tmp_path / 'gt.json'}: {cause}" in result.output
