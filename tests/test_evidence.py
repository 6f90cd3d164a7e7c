"""Faint candidates that recur at the same place across keyframes are kept; lone ones are not."""

from __future__ import annotations

import numpy as np

from anonymize.analysis import Analysis
from anonymize.evidence import MARGIN, SOURCE, WINDOW, Evidence
from anonymize.motion import IDENTITY
from anonymize.types import Box, Candidate, Detection, Frame

FACE = Box(100, 80, 124, 110)


def _faint(box: Box = FACE, score: float = 0.3, needed: float = 0.4) -> Candidate:
    return Candidate(box, score, needed)


def _shift(dx: float) -> np.ndarray:
    return np.array([[1.0, 0, dx], [0, 1.0, 0]])


def test_a_faint_candidate_seen_again_at_the_same_place_is_kept() -> None:
    evidence = Evidence()
    assert evidence.add(0, [_faint()]) == []  # once is not enough
    evidence.follow(IDENTITY, scene_cut=False)
    kept = evidence.add(2, [_faint()])
    assert len(kept) == 1
    (found,) = kept
    assert found.box == FACE and found.source == SOURCE and found.label == "face"
    assert found.score >= 0.4 + MARGIN  # 1 - 0.7 * 0.7 = 0.51 pooled


def test_the_camera_motion_carries_what_was_seen() -> None:
    evidence = Evidence()
    evidence.add(0, [_faint()])
    for _ in range(2):  # the camera pans: the face moves 15 px left a frame
        evidence.follow(_shift(-15), scene_cut=False)
    moved = Box(FACE.x1 - 30, FACE.y1, FACE.x2 - 30, FACE.y2)
    assert len(evidence.add(2, [_faint(moved)])) == 1
    still = Evidence()  # without the motion, the same two candidates are different places
    still.add(0, [_faint()])
    assert still.add(2, [_faint(moved)]) == []


def test_weak_or_scattered_candidates_add_up_to_nothing() -> None:
    evidence = Evidence()
    evidence.add(0, [_faint(score=0.15)])
    assert evidence.add(2, [_faint(score=0.15)]) == []  # 0.28 pooled: short of 0.5
    elsewhere = Box(300, 200, 324, 230)
    other = Evidence()
    other.add(0, [_faint()])
    assert other.add(2, [_faint(elsewhere)]) == []


def test_several_boxes_of_one_pass_count_once() -> None:
    evidence = Evidence()
    assert evidence.add(0, [_faint(), _faint(Box(101, 80, 125, 110))]) == []


def test_a_cut_or_time_forgets() -> None:
    evidence = Evidence()
    evidence.add(0, [_faint()])
    evidence.follow(IDENTITY, scene_cut=True)
    assert evidence.add(1, [_faint()]) == []
    late = Evidence()
    late.add(0, [_faint()])
    assert late.add(WINDOW + 1, [_faint()]) == []


class _FaintOnly:
    """A detector that is sure of nothing but sees the same faint face on every full pass."""

    name = "faint"
    labels = ("face",)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        return []

    def detect_faint(self, frame: np.ndarray) -> tuple[list[Detection], list[Candidate]]:
        return [], [_faint()]

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        return []


def test_the_analysis_loop_covers_a_face_only_faint_keyframes_agree_on() -> None:
    image = np.full((180, 320, 3), 90, np.uint8)
    frames = [Frame(index=i, time=i / 25, image=image) for i in range(12)]
    analysis = Analysis([_FaintOnly()], (320, 180), 4, video=True)
    out = {f.index: regions for f, regions in analysis.run(frames)}
    covered = [i for i, regions in out.items() if any(r.box.iou(FACE) > 0.5 for r in regions)]
    # Keyframes 0, 4 and 8 each see it faintly: from the second one on it is a face, and the
    # tracker covers it from there (and reaches back to the keyframe before).
    assert 4 in covered and 8 in covered
    assert len(covered) >= 8
