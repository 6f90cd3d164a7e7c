"""Which output each input goes to: beside it, into -o, or mirrored under -o for folders."""

from pathlib import Path

import pytest

from anonymize.batch import PlanError, plan


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_file_alone_goes_beside_itself(tmp_path):
    clip = _touch(tmp_path / "clip.mp4")
    [job] = plan((clip,), None)
    assert job.dst == tmp_path / "clip_anonymized.mp4"


def test_output_with_an_extension_names_the_file_and_its_format(tmp_path):
    photo = _touch(tmp_path / "photo.jpg")
    [job] = plan((photo,), tmp_path / "out" / "photo.png")
    assert job.dst == tmp_path / "out" / "photo.png"


def test_folders_are_mirrored_and_other_files_ignored(tmp_path):
    a = _touch(tmp_path / "in" / "a.mp4")
    b = _touch(tmp_path / "in" / "sub" / "b.JPG")
    _touch(tmp_path / "in" / "notes.txt")
    _touch(tmp_path / "in" / ".hidden.mp4")
    jobs = plan((tmp_path / "in",), tmp_path / "out")
    assert [(j.src, j.dst) for j in jobs] == [
        (a, tmp_path / "out" / "a.mp4"),
        (b, tmp_path / "out" / "sub" / "b.JPG"),
    ]


def test_several_inputs_keep_their_names_under_the_output_folder(tmp_path):
    a = _touch(tmp_path / "x" / "a.mp4")
    b = _touch(tmp_path / "y" / "b.mov")
    _touch(tmp_path / "d" / "c.webm")
    jobs = plan((a, b, tmp_path / "d"), tmp_path / "out")
    assert [j.dst for j in jobs] == [
        tmp_path / "out" / "a.mp4",
        tmp_path / "out" / "b.mov",
        tmp_path / "out" / "d" / "c.webm",
    ]


def test_phone_and_camcorder_containers_become_mp4(tmp_path):
    phone = _touch(tmp_path / "in" / "call.3gp")
    camcorder = _touch(tmp_path / "in" / "day1" / "00012.MTS")
    [beside] = plan((phone,), None)
    assert beside.dst == tmp_path / "in" / "call_anonymized.mp4"
    jobs = plan((tmp_path / "in",), tmp_path / "out")
    assert [(j.src, j.dst) for j in jobs] == [
        (phone, tmp_path / "out" / "call.mp4"),
        (camcorder, tmp_path / "out" / "day1" / "00012.mp4"),
    ]


def test_a_folder_without_output_goes_to_a_sibling_folder(tmp_path):
    a = _touch(tmp_path / "in" / "a.mp4")
    [job] = plan((tmp_path / "in",), None)
    assert job.src == a and job.dst == tmp_path / "in_anonymized" / "a.mp4"


def test_outputs_inside_the_input_folder_are_not_taken_as_inputs(tmp_path):
    _touch(tmp_path / "in" / "a.mp4")
    _touch(tmp_path / "in" / "out" / "a.mp4")
    jobs = plan((tmp_path / "in",), tmp_path / "in" / "out")
    assert [j.src.name for j in jobs] == ["a.mp4"] and len(jobs) == 1


def test_symlink_loops_are_not_followed(tmp_path):
    _touch(tmp_path / "in" / "a.mp4")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    assert len(plan((tmp_path / "in",), tmp_path / "out")) == 1


def test_a_folder_with_no_media_is_a_usage_error(tmp_path):
    _touch(tmp_path / "in" / "notes.txt")
    with pytest.raises(PlanError, match="contains no video or photo files"):
        plan((tmp_path / "in",), None)
