"""The command end to end on the generated samples: outputs, reports, errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from anonymize.cli import main
from anonymize.media import read_image

RECORD = "anonymize-audit/street_anonymized.mp4.json"


def _run(*args: str):
    return CliRunner().invoke(main, [*args, "--quiet"], catch_exceptions=False)


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def _changed(a: np.ndarray, b: np.ndarray, box) -> float:
    """Share of pixels in ``box`` that differ clearly (more than encoding noise)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    diff = np.abs(a[y1:y2, x1:x2].astype(int) - b[y1:y2, x1:x2].astype(int)).max(axis=2)
    return float((diff > 24).mean())


@pytest.fixture(scope="module")
def street_run(samples_dir, tmp_path_factory):
    """One real run over the sample clip, shared by the tests that inspect its results."""
    work = tmp_path_factory.mktemp("street")
    src = work / "street.mp4"
    shutil.copy(samples_dir / "street.mp4", src)
    before = src.read_bytes()
    result = _run(str(src))
    return work, src, before, result


def test_clip_is_written_beside_the_input_with_its_record_in_the_audit_folder(street_run):
    work, src, before, result = street_run
    assert result.exit_code == 0, result.output
    out = work / "street_anonymized.mp4"
    assert out.is_file() and (work / RECORD).is_file()
    assert src.read_bytes() == before
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*")) == [
        "anonymize-audit",
        RECORD,
        "street.mp4",
        "street_anonymized.mp4",
    ]
    assert f"outputs: {out}" in result.stderr
    assert f"audit records: {work / 'anonymize-audit'}" in result.stderr


def test_every_face_in_every_frame_is_obscured(street_run, samples_dir):
    work, src, _, _ = street_run
    truth = json.loads((samples_dir / "faces.json").read_text())["street.mp4"]
    original, result = _frames(src), _frames(work / "street_anonymized.mp4")
    assert len(result) == len(original) == len(truth)
    for index, boxes in enumerate(truth):
        for box in boxes:
            assert _changed(original[index], result[index], box) > 0.5, (index, box)


def test_the_report_names_hashes_settings_and_regions(street_run):
    work, src, _, _ = street_run
    report = json.loads((work / RECORD).read_text())
    assert report["input"]["name"] == "street.mp4"
    assert len(report["input"]["sha256"]) == 64 and len(report["output"]["sha256"]) == 64
    assert report["settings"]["mode"] == "blur" and report["models"]
    assert report["input"]["frame_count"] == 100
    labels = {r["label"] for f in report["frames"] for r in f["regions"]}
    assert labels == {"face"}
    assert "data:" not in json.dumps(report)  # no pixels


def test_photo_output_takes_the_format_its_extension_names(samples_dir, tmp_path):
    out = tmp_path / "out" / "portrait.png"
    result = _run(str(samples_dir / "portrait.jpg"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")
    truth = json.loads((samples_dir / "faces.json").read_text())["portrait.jpg"]
    original, obscured = read_image(samples_dir / "portrait.jpg"), read_image(out)
    assert original.shape == obscured.shape
    for box in truth:
        assert _changed(original, obscured, box) > 0.5


def test_json_summary_and_resume_skip_existing_outputs(samples_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(samples_dir / "portrait.jpg", folder / "a.jpg")
    args = [str(folder), "-o", str(tmp_path / "out"), "--json"]
    first = json.loads(_run(*args).stdout)
    assert (first["done"], first["skipped"], first["failed"]) == (1, 0, 0)
    second = json.loads(_run(*args).stdout)
    assert (second["done"], second["skipped"]) == (0, 1)
    third = json.loads(_run(*args, "--overwrite").stdout)
    assert third["done"] == 1


def test_a_bad_file_fails_alone_and_the_run_exits_1(samples_dir, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(samples_dir / "portrait.jpg", folder / "sub" / "good.jpg")
    (folder / "broken.mp4").write_text("this is not a video")
    result = _run(str(folder), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0]
    assert "1 anonymized, 0 skipped, 1 failed" in result.stderr
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    ) == ["sub", "sub/good.jpg"]
    assert (tmp_path / "anonymize-audit" / "sub" / "good.jpg.json").is_file()


def _remux(src: Path, dst: Path, container_format: str) -> None:
    """``src``'s video and audio packets, unchanged, in another container."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format=container_format) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)


def _audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(*container.streams.audio) if p.size]


def test_camcorder_footage_becomes_an_mp4_with_every_face_obscured(samples_dir, tmp_path):
    src = tmp_path / "street.MTS"  # an MPEG transport stream, as camcorders write
    _remux(samples_dir / "street.mp4", src, "mpegts")
    result = _run(str(src))
    assert result.exit_code == 0, result.output
    out = tmp_path / "street_anonymized.mp4"
    assert f"outputs: {out}" in result.stderr
    truth = json.loads((samples_dir / "faces.json").read_text())["street.mp4"]
    original, anonymized = _frames(src), _frames(out)
    assert len(anonymized) == len(original) == len(truth)
    for index, boxes in enumerate(truth):
        for box in boxes:
            assert _changed(original[index], anonymized[index], box) > 0.5, (index, box)
    # The same AAC frames: MPEG-TS carries each behind a 7-byte ADTS header, MP4 without it.
    adts = _audio_payloads(src)
    assert adts and all(p[:2] == b"\xff\xf1" for p in adts)  # no CRC: 7-byte headers
    assert _audio_payloads(out) == [p[7:] for p in adts]


def test_an_output_named_as_its_input_fails_and_leaves_the_input_alone(samples_dir, tmp_path):
    src = tmp_path / "a.jpg"
    shutil.copy(samples_dir / "portrait.jpg", src)
    before = src.read_bytes()
    for extra in ((), ("--overwrite",)):
        result = _run(str(src), "-o", str(src), *extra)
        assert result.exit_code == 1
        assert "the output would overwrite the input" in result.stderr  # not "use --overwrite"
        assert src.read_bytes() == before


def test_two_inputs_of_one_name_into_one_folder_fail_rather_than_skip(samples_dir, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(samples_dir / "portrait.jpg", tmp_path / folder / "x.jpg")
    result = _run(
        str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), "-o", str(tmp_path / "out")
    )
    assert result.exit_code == 1
    assert "1 anonymized, 0 skipped, 1 failed" in result.stderr
    out, first = tmp_path / "out" / "x.jpg", tmp_path / "a" / "x.jpg"
    assert f"{out} is already the output of {first} (use --neutral-names" in result.stderr


def test_a_file_named_twice_is_done_once(samples_dir, tmp_path):
    src = tmp_path / "x.jpg"
    shutil.copy(samples_dir / "portrait.jpg", src)
    result = _run(str(src), str(src), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "1 anonymized, 0 skipped, 0 failed" in result.stderr
    assert (tmp_path / "out" / "x.jpg").is_file()


def test_files_a_folder_run_leaves_alone_are_named(samples_dir, tmp_path):
    folder = tmp_path / "in"
    (folder / ".cache").mkdir(parents=True)
    (folder / "anonymize-audit").mkdir()  # records of an earlier run of one of its files
    shutil.copy(samples_dir / "portrait.jpg", folder / "a.jpg")
    for name in ("notes.txt", "clip.wmv", ".DS_Store", ".cache/x.bin", "anonymize-audit/b.json"):
        (folder / name).write_text("x")
    result = _run(str(folder), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0
    [line] = [line for line in result.stderr.splitlines() if line.startswith("left out")]
    assert line == (
        f"left out, not a video or photo: {folder / 'clip.wmv'}, {folder / 'notes.txt'}"
    )


def test_a_run_that_writes_nothing_names_no_output(tmp_path):
    src = tmp_path / "broken.mp4"
    src.write_text("this is not a video")
    result = _run(str(src))
    assert result.exit_code == 1
    assert "outputs: none written" in result.stderr
    assert "audit records: none written" in result.stderr
    assert "broken_anonymized" not in result.stderr
    # The audit folder was made (checked writable first), and is removed again: empty, it
    # would look like a finished run's.
    assert sorted(tmp_path.iterdir()) == [src]
    into = _run(str(src), "-o", str(tmp_path / "safe" / "day1"))
    assert into.exit_code == 1 and sorted(tmp_path.iterdir()) == [src]


def _bad_inputs(tmp_path: Path, samples_dir: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("meeting notes\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((samples_dir / "street.mp4").read_bytes()[:20_000])
    zero = tmp_path / "zero.png"
    zero.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 13)
    return {"empty": empty, "text": text, "truncated": truncated, "zero-size image": zero}


def test_broken_inputs_get_one_line_naming_the_file_and_leave_nothing(samples_dir, tmp_path):
    for kind, path in _bad_inputs(tmp_path, samples_dir).items():
        out = tmp_path / "out" / kind
        result = _run(str(path), "-o", str(out / path.name))
        assert result.exit_code == 1, kind
        [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert str(path) in line and "Traceback" not in result.output, kind
        assert not out.exists() or not any(out.iterdir()), kind


def test_usage_errors_exit_2(tmp_path):
    missing = _run(str(tmp_path / "nope.mp4"))
    assert missing.exit_code == 2 and "nope.mp4" in missing.stderr
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    empty_folder = _run(str(tmp_path / "docs"))
    assert empty_folder.exit_code == 2 and "contains no video or photo files" in empty_folder.stderr
    bad_option = _run(str(tmp_path / "docs"), "--targets", "cats")
    assert bad_option.exit_code == 2


def test_detect_then_render_equals_the_one_shot_run(samples_dir, tmp_path):
    src = tmp_path / "portrait.jpg"
    shutil.copy(samples_dir / "portrait.jpg", src)
    assert _run("detect", str(src)).exit_code == 0
    regions = tmp_path / "portrait.jpg.regions.json"
    assert regions.is_file()
    rendered = tmp_path / "rendered.png"
    assert _run("render", str(src), "--regions", str(regions), "-o", str(rendered)).exit_code == 0
    reviewed = regions.read_bytes()  # what a reviewer may have corrected by now
    again = _run("detect", str(src))
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert regions.read_bytes() == reviewed
    assert _run("detect", str(src), "--overwrite").exit_code == 0
    oneshot = tmp_path / "oneshot.png"
    assert _run(str(src), "-o", str(oneshot)).exit_code == 0
    assert np.array_equal(read_image(rendered), read_image(oneshot))


def test_render_refuses_regions_made_for_another_file(samples_dir, tmp_path):
    src = tmp_path / "portrait.jpg"
    shutil.copy(samples_dir / "portrait.jpg", src)
    assert _run("detect", str(src)).exit_code == 0
    other = tmp_path / "other.jpg"
    other.write_bytes(src.read_bytes() + b"\0")
    result = _run("render", str(other), "--regions", str(tmp_path / "portrait.jpg.regions.json"))
    assert result.exit_code == 1 and "made for another file" in result.stderr
    assert not (tmp_path / "other_anonymized.jpg").exists()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "glibc.malloc.hugetlb=1"),
        (
            "glibc.malloc.trim_threshold=1000",
            "glibc.malloc.trim_threshold=1000:glibc.malloc.hugetlb=1",
        ),
    ],
)
def test_the_command_restarts_itself_once_with_huge_pages(before, after):
    # What the process sees after the restart is printed at exit: once, since exec replaces
    # the first process before its exit handlers run.
    code = (
        "import atexit, os, sys; atexit.register(lambda: print(os.environ['GLIBC_TUNABLES']));"
        "sys.argv = ['anonymize', '--version']; from anonymize.launch import entry; entry()"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if before is not None:
        env["GLIBC_TUNABLES"] = before
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == after
    assert done.stdout.count("hugetlb") == 1
    assert "anonymize" in done.stdout  # the CLI itself ran (it printed its version)
