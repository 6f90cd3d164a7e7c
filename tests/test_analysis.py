"""The analysis loop's schedule: full passes where something new can be, at least every N."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from anonymize.analysis import BUSY_EVERY, Analysis, Schedule, StageTimes, is_scene_cut
from anonymize.motion import CameraMotion
from anonymize.types import Box, Detection, Frame

SIZE = (320, 180)


def _texture(seed: int = 0, size: tuple[int, int] = (1200, 800)) -> np.ndarray:
    """A large textured picture the camera can move over (blobs of every size, like a street)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), np.uint8)
    image = cv2.resize(noise, size, interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (0, 0), 2)


def _view(picture: np.ndarray, x: float, y: float) -> np.ndarray:
    m = np.array([[1.0, 0, -x], [0, 1.0, -y]])
    return cv2.warpAffine(picture, m, SIZE, flags=cv2.INTER_LINEAR)


def _keys(frames: list[np.ndarray], every: int, cuts: set[int] = frozenset()) -> list[int]:
    schedule, camera = Schedule(every), CameraMotion()
    return [
        i
        for i, frame in enumerate(frames)
        if schedule.is_key(i, frame, camera.update(frame).matrix, scene_cut=i in cuts)
    ]


def test_a_still_scene_gets_a_full_pass_every_n_frames() -> None:
    still = [_view(_texture(), 100, 100)] * 20
    assert _keys(still, 6) == [0, 6, 12, 18]
    assert _keys(still, 1) == list(range(20))


def test_a_moving_camera_gets_a_full_pass_every_other_frame_and_a_whip_pan_every_frame() -> None:
    picture = _texture(size=(4000, 800))
    pan = [_view(picture, 100 + 4 * t, 100) for t in range(24)]
    whip = [_view(picture, 100 + 120 * t, 100) for t in range(24)]
    assert _keys(pan, 8) == list(range(0, 24, BUSY_EVERY))
    assert _keys(whip, 8) == list(range(24))


def test_people_moving_in_a_still_shot_call_for_a_keyframe() -> None:
    background = _view(_texture(1), 0, 0)
    frames = []
    for t in range(16):
        frame = background.copy()
        x = 10 + 12 * t  # someone crossing: a block of other texture moving across
        frame[40:160, x : x + 60] = _view(_texture(2), 0, 0)[40:160, 0:60]
        frames.append(frame)
    keys = _keys(frames, 12)
    assert keys[0] == 0 and len(keys) > 2  # not only every 12 frames


def test_a_cut_is_a_keyframe_and_restarts_the_count() -> None:
    a, b = _view(_texture(3), 0, 0), _view(_texture(4), 0, 0)
    frames = [a] * 5 + [b] * 10
    assert _keys(frames, 4, cuts={5}) == [0, 4, 5, 9, 13]


def test_the_schedule_refuses_an_interval_below_one() -> None:
    with pytest.raises(ValueError):
        Schedule(0)


class _Counting:
    """A detector that finds one fixed face and counts its full and quick passes."""

    name = "counting"
    labels = ("face",)

    def __init__(self) -> None:
        self.full = 0
        self.quick = 0

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.full += 1
        return [Detection(Box(50, 50, 80, 90), 0.9, "face", self.name)]

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        self.quick += 1
        return []


def test_the_loop_hands_on_every_frame_in_order_with_its_regions_and_charges_each_stage() -> None:
    detector = _Counting()
    stages = StageTimes()
    analysis = Analysis([detector], SIZE, every=4, stages=stages)
    still = _view(_texture(), 0, 0)
    frames = [Frame(index=i, time=i / 25, image=still) for i in range(12)]
    out = list(analysis.run(frames))
    assert [f.index for f, _ in out] == list(range(12))
    face = Box(50, 50, 80, 90)  # found on keyframes only, covered on every frame
    assert all(any(r.box.intersection(face) == face.area for r in rs) for _, rs in out)
    assert (detector.full, detector.quick) == (3, 9)
    assert {"counting: full", "counting: quick", "tracking", "schedule"} <= set(stages.seconds)


class _Sized(_Counting):
    """A counting detector that records the frame sizes it was told to expect."""

    def __init__(self) -> None:
        super().__init__()
        self.expected: list[tuple[int, int]] = []

    def expect_size(self, width: int, height: int) -> None:
        self.expected.append((width, height))


@pytest.mark.parametrize("video", [True, False])
def test_a_video_tells_detectors_its_frame_size_once_before_the_first_detection(video) -> None:
    detector = _Sized()
    still = _view(_texture(), 0, 0)
    frames = [Frame(index=i, time=i / 25, image=still) for i in range(6)]
    list(Analysis([detector], SIZE, every=4, video=video).run(frames))
    h, w = still.shape[:2]
    assert detector.expected == ([(w, h)] if video else [])
    assert detector.full == 2


def _scene(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = rng.integers(0, 255, 3)
    for _ in range(25):
        x, y = rng.integers(0, 600), rng.integers(0, 320)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (int(x), int(y)), (int(x) + 80, int(y) + 60), colour, -1)
    return image


def test_scene_cut_detected_between_shots_but_not_under_motion() -> None:
    cuts = [is_scene_cut(_scene(s), _scene(s + 100)) for s in range(10)]
    assert sum(cuts) >= 9
    for s in range(10):
        a = _scene(s)
        pan = np.roll(a, 40, axis=1)
        zoom = cv2.resize(a[18:342, 32:608], (640, 360))
        blur = cv2.GaussianBlur(a, (15, 15), 0)
        darker = (a * 0.8).astype(np.uint8)
        assert not any(is_scene_cut(a, b) for b in (pan, zoom, blur, darker))


def test_fade_to_black_is_a_cut_only_once_the_frame_is_flat() -> None:
    a = _scene(3)
    black = np.zeros_like(a)
    assert is_scene_cut(a, black)
    assert not is_scene_cut(black, black)


class _RoundOnly(_Sized):
    """Finds the bright blob of a frame, but only when it looks round, as a face detector
    finds faces only in their true shape; records the sizes of the frames it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.seen.append((frame.shape[1], frame.shape[0]))
        x, y, w, h = cv2.boundingRect(cv2.findNonZero((frame[..., 0] > 128).astype(np.uint8)))
        return [Detection(Box(x, y, x + w, y + h), 0.9, "face")] if 0.9 < w / h < 1.1 else []

    detect_quick = detect


def test_pixels_shown_wider_than_stored_are_seen_as_shown_and_found_where_stored() -> None:
    # HDV: a round face of 40 px, as a player shows it, is stored 30 px wide and 40 tall.
    stored = np.zeros((180, 240, 3), np.uint8)
    cv2.ellipse(stored, (100, 90), (15, 20), 0, 0, 360, (255, 255, 255), -1)
    frames = [Frame(index=i, time=i / 25, image=stored) for i in range(4)]

    squeezed = _RoundOnly()
    out = list(Analysis([squeezed], (240, 180), every=2, video=True).run(frames))
    assert all(not regions for _, regions in out)  # seen as stored, the face is not round

    detector = _RoundOnly()
    analysis = Analysis([detector], (240, 180), every=2, video=True, pixel_aspect=Fraction(4, 3))
    out = list(analysis.run(frames))
    assert detector.expected == [(320, 180)]
    assert set(detector.seen) == {(320, 180)}
    for _, regions in out:
        (box,) = [r.box for r in regions]
        assert abs(box.x1 - 85) <= 1.5 and abs(box.x2 - 116) <= 1.5  # back in stored pixels
        assert abs(box.y1 - 70) <= 1.5 and abs(box.y2 - 111) <= 1.5


class _SolidOnly(_Sized):
    """Finds the bright shape of a frame only where it is solid, as a face detector finds
    faces only whole: a shape combed into alternate lines is not found."""

    def detect(self, frame: np.ndarray) -> list[Detection]:
        mask = (frame[..., 0] > 128).astype(np.uint8)
        x, y, w, h = cv2.boundingRect(cv2.findNonZero(mask))
        solid = mask[y : y + h, x : x + w].mean() > 0.9
        return [Detection(Box(x, y, x + w, y + h), 0.9, "face")] if solid else []

    detect_quick = detect


def test_interlaced_frames_are_seen_with_their_fields_blended() -> None:
    # Someone moved between the two fields: the odd lines show them 12 px further right.
    combed = np.zeros((180, 320, 3), np.uint8)
    combed[70:110:2, 100:140] = 255
    combed[71:111:2, 112:152] = 255
    frames = [Frame(index=i, time=i / 25, image=combed) for i in range(4)]
    as_stored = list(Analysis([_SolidOnly()], (320, 180), every=2, video=True).run(frames))
    assert all(not regions for _, regions in as_stored)
    shown = Analysis([_SolidOnly()], (320, 180), every=2, video=True, interlaced=True)
    for _, regions in shown.run(frames):
        (box,) = [r.box for r in regions]
        assert box.x1 <= 112 and box.x2 >= 140 and box.y1 <= 71 and box.y2 >= 109


class _Seeing(_Counting):
    """Records the pictures it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.seen.append(frame)
        return super().detect(frame)

    def detect_quick(self, frame: np.ndarray) -> list[Detection]:
        self.seen.append(frame)
        return super().detect_quick(frame)


def test_progressive_square_pixel_frames_reach_the_detectors_untouched() -> None:
    """Most footage: the detectors get the decoded picture itself, no copy, no change."""
    still = _view(_texture(), 0, 0)
    detector = _Seeing()
    frames = [Frame(index=i, time=i / 25, image=still) for i in range(6)]
    list(Analysis([detector], SIZE, every=4, video=True).run(frames))
    assert len(detector.seen) == 6 and all(seen is still for seen in detector.seen)
