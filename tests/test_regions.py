"""The regions file round-trips, and bad ones are refused with a clear cause."""

import json

import pytest

from anonymize.regions import (
    FileInfo,
    RegionsError,
    RegionsFile,
    load,
    save,
    summarise_tracks,
)
from anonymize.types import Box, Region

_INPUT = FileInfo("clip.mp4", "ab" * 32, "video", 640, 360, 10, 25.0)


def _regions() -> RegionsFile:
    frames = {
        0: [Region(Box(10, 10, 50, 60), "face", 0.9, track=1, detected=True)],
        1: [
            Region(Box(12, 10, 52, 60), "face", 0.8, track=1, detected=False),
            Region(Box(300, 200, 360, 220), "plate", 0.7, track=2, detected=True),
        ],
    }
    return RegionsFile(
        _INPUT, frames, summarise_tracks(frames), {"mode": "blur"}, ["m"], times={0: 0.0, 1: 0.04}
    )


def test_round_trip(tmp_path):
    path = tmp_path / "r.json"
    save(_regions(), path)
    loaded = load(path)
    assert loaded.input == _INPUT
    assert loaded.frames == _regions().frames
    assert [t.id for t in loaded.tracks] == [1, 2]
    assert loaded.times == {0: 0.0, 1: 0.04}
    assert not list(tmp_path.glob(".*tmp"))


def test_tracks_are_summarised_from_frames():
    tracks = {t.id: t for t in _regions().tracks}
    assert (tracks[1].first_frame, tracks[1].last_frame) == (0, 1)
    assert (tracks[1].detected_frames, tracks[1].carried_frames) == (1, 1)
    assert tracks[2].label == "plate"


def test_kept_tracks_are_not_rendered(tmp_path):
    path = tmp_path / "r.json"
    save(_regions(), path)
    data = json.loads(path.read_text())
    data["tracks"][0]["keep"] = True
    path.write_text(json.dumps(data))
    loaded = load(path)
    assert loaded.regions_to_render(0, 0.0) == []
    assert [r.label for r in loaded.regions_to_render(1, 0.04)] == ["plate"]


def _edit(tmp_path, change) -> str:
    path = tmp_path / "r.json"
    save(_regions(), path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(RegionsError) as err:
        load(path)
    return str(err.value)


def test_wrong_version_is_refused(tmp_path):
    assert "version 2 is not supported" in _edit(tmp_path, lambda d: d.update(version=2))


def test_box_outside_the_frame_is_refused(tmp_path):
    def change(d):
        d["frames"][0]["regions"][0]["box"] = [600, 10, 700, 50]

    assert "outside the 640x360 frame" in _edit(tmp_path, change)


def test_unknown_track_is_refused(tmp_path):
    def change(d):
        d["frames"][0]["regions"][0]["track"] = 99

    assert "unknown track 99" in _edit(tmp_path, change)


def test_frame_beyond_the_input_is_refused(tmp_path):
    assert "beyond the input" in _edit(tmp_path, lambda d: d["frames"][0].update(index=10))


def test_schema_errors_name_the_place(tmp_path):
    def change(d):
        d["frames"][1]["regions"][0]["box"] = [1, 2, 3]

    assert "frames/1/regions/0/box" in _edit(tmp_path, change)


def test_not_json_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(RegionsError, match="not valid JSON"):
        load(path)


def _with_manual(tmp_path, manual: list) -> RegionsFile:
    path = tmp_path / "r.json"
    save(_regions(), path)
    data = json.loads(path.read_text())
    data["manual"] = manual
    path.write_text(json.dumps(data))
    return load(path)


def test_manual_region_follows_its_keyframes_between_start_and_end(tmp_path):
    moving = {
        "id": "m1",
        "label": "face",
        "start": 1.0,
        "end": 3.0,
        "keyframes": [
            {"time": 1.0, "box": [0, 0, 10, 10]},
            {"time": 3.0, "box": [100, 0, 110, 10]},
        ],
    }
    loaded = _with_manual(tmp_path, [moving])
    assert loaded.regions_to_render(5, 0.5) == []
    [region] = loaded.regions_to_render(5, 2.0)
    assert region.box == Box(50, 0, 60, 10) and region.track is None
    assert loaded.regions_to_render(5, 3.5) == []
    saved = tmp_path / "again.json"
    save(loaded, saved)
    assert load(saved).manual == loaded.manual


def test_fixed_area_covers_its_time_span(tmp_path):
    caption = {
        "id": "c",
        "label": "area",
        "start": 0,
        "end": 1,
        "keyframes": [{"time": 0, "box": [0, 300, 640, 360]}],
    }
    loaded = _with_manual(tmp_path, [caption])
    assert [r.box for r in loaded.regions_to_render(9, 1.0)] == [Box(0, 300, 640, 360)]


def test_manual_region_outside_the_frame_is_refused(tmp_path):
    bad = {
        "id": "m",
        "label": "area",
        "start": 0,
        "end": 1,
        "keyframes": [{"time": 0, "box": [0, 0, 641, 10]}],
    }
    with pytest.raises(RegionsError, match="outside the 640x360 frame"):
        _with_manual(tmp_path, [bad])
