"""The moving-sequence benchmark's hard mode films what it claims, and seeds pool by summing.

The benchmark lives in ``benchmarks/`` (not installed); its figures are only as good as the
footage it generates, so the generated shots are checked here on the real photos.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import moving_sequences as ms  # noqa: E402


@pytest.fixture(scope="module")
def hard_shots(shared_data) -> list[ms.Shot]:
    return list(ms.load_shots(shared_data / "faces_wider_val", 3, 30, 0, hard=True))


def _heights(shot: ms.Shot, t: int) -> np.ndarray:
    faces = shot.faces[t][shot.visible[t]]
    return faces[:, 3] - faces[:, 1]


def test_hard_shots_take_turns_by_kind(hard_shots):
    assert [s.kind for s in hard_shots] == list(ms.KINDS)
    assert len({s.name for s in hard_shots}) == 3
    assert all(len(s.frames) == 30 and s.frames[0].shape == (360, 640, 3) for s in hard_shots)


def test_a_whip_pan_moves_tens_of_pixels_a_frame(hard_shots):
    whip = hard_shots[0]
    # The picture's shift between frames, from the true boxes (they move with it).
    x = np.array([faces[0, 0] for faces in whip.faces])
    shifts = np.abs(np.diff(x))
    assert max(shifts) >= 30
    assert min(shifts) < 10  # it holds between whips


def test_a_zoom_out_takes_faces_through_30_to_20_px(hard_shots):
    zoom = hard_shots[1]
    tallest = [h.max() for t in range(30) if len(h := _heights(zoom, t))]
    assert tallest[0] >= 30 and min(tallest) <= 20
    assert (np.diff(tallest) <= 1e-9).all()  # only shrinks


def test_a_crowd_is_many_small_faces_behind_a_barrier(hard_shots):
    crowd = hard_shots[2]
    heights = _heights(crowd, 0)
    assert ((heights >= 20) & (heights < 30)).sum() >= ms.CROWD_MIN
    barrier = crowd.occluder[0]
    assert isinstance(barrier, np.ndarray) and 0.05 < barrier.mean() < 0.9
    assert (crowd.frames[0][barrier] == ms.BARRIER_COLOUR).all()
    # Some faces are behind it in part and still count as visible.
    hidden = ms._hidden_pixels(crowd.faces[0], barrier)
    assert (crowd.visible[0] & (hidden > 0)).any()


def _result(leaks: int, never: int, frames: int, away: int) -> dict:
    stats = {
        "face_frames": 100,
        "leaks": leaks,
        "never_found": never,
        **ms._rates(100, leaks, never),
    }
    variant = {key: dict(stats) for key in ms.REPORT_ROWS} | {"away_pixels": away}
    return {
        "shots": 1,
        "frames": frames,
        "cuts": {"true": 1, "found": 1, "false": 0},
        "pulses": {"pairs": 10, "jumps": 1, "of_which_detected_carried": 0, "flickers": 0},
        "detect_s_per_frame": 0.1,
        "track_ms_per_frame": 1.0,
        "kinds": [],
        "variants": {"per_frame": variant, "tracked": variant},
        "over_redaction_ratio": 1.0,
        "over_redaction_share": {"per_frame": 0.0, "tracked": 0.0},
    }


def test_pooling_sums_leaks_and_face_frames():
    pooled = ms.pool([_result(3, 1, 30, 10), _result(7, 5, 30, 30)])
    row = pooled["variants"]["tracked"]["20-30"]
    assert row == {
        "face_frames": 200,
        "leaks": 10,
        "never_found": 6,
        "per_1000": 50.0,
        "never_found_per_1000": 30.0,
    }
    assert (
        pooled["frames"] == 60 and pooled["cuts"]["true"] == 2 and pooled["pulses"]["pairs"] == 20
    )
    report = ms.format_report(pooled)
    assert "20-30" in report and "never found" in report and "30.0 (60%)" in report


def test_the_faces_never_found_are_listed_by_frames_left_readable():
    def rows(shot: str, face: int, height: float, per_frame: list[bool], tracked: list[bool]):
        return [ms._Row("per_frame", shot, face, height, c, "moving") for c in per_frame] + [
            ms._Row("tracked", shot, face, height, c, "moving") for c in tracked
        ]

    listed = ms._never_found_faces(
        rows("a.jpg", 1, 40, [False] * 3, [False, False, True])  # never found: 2 readable
        + rows("a.jpg", 2, 40, [True, False, False], [True, False, False])  # found once
        + rows("b.jpg", 1, 25, [False] * 3, [False] * 3)  # never found: 3 readable
        + rows("b.jpg", 2, 12, [False] * 3, [False] * 3)  # under 20 px
    )
    assert listed == [
        {"shot": "b.jpg", "face": 1, "frames": 3, "height": 25},
        {"shot": "a.jpg", "face": 1, "frames": 2, "height": 40},
    ]
    result = _result(3, 1, 30, 10)
    result["variants"]["tracked"] = dict(result["variants"]["tracked"], never_found_faces=listed)
    pooled = ms.pool([result, result])
    assert [f["frames"] for f in pooled["variants"]["tracked"]["never_found_faces"]] == [3, 3, 2, 2]
    assert "4 faces, 10 face-frames; most: b.jpg #1 (3 frames, 25 px)" in ms.format_report(pooled)
