"""Progress off a terminal is plain lines with totals: a log keeps no escape codes."""

from __future__ import annotations

import shutil

from click.testing import CliRunner
from clips import first_frames

from anonymize import progress
from anonymize.cli import main


def test_off_a_terminal_progress_is_a_plain_line_with_its_total(capsys):
    bar = progress.bar(12, "detecting in clip.mp4", "frame")
    for _ in range(12):
        bar.update(1)
    bar.close()
    bar.close()  # once only
    assert capsys.readouterr().err == "detecting in clip.mp4: 12/12 frames\n"


def test_a_delayed_display_says_nothing_of_quick_work(capsys):
    bar = progress.bar(3, "detecting in clip.mp4", "frame", delay=60)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err == ""


def test_a_run_logged_to_a_file_has_no_escape_codes(samples_dir, tmp_path):
    first_frames(samples_dir / "street.mp4", tmp_path / "a.mp4")
    shutil.copy(tmp_path / "a.mp4", tmp_path / "b.mp4")
    result = CliRunner().invoke(
        main,
        [
            str(tmp_path / "a.mp4"),
            str(tmp_path / "b.mp4"),
            "-o",
            str(tmp_path / "out"),
            "--targets",
            "faces",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    lines = result.stderr.splitlines()
    assert "a.mp4: 6/6 frames" in lines and "b.mp4: 6/6 frames" in lines
    assert "files: 2/2 files" in lines
    assert f"outputs: {tmp_path / 'out'}" in lines
