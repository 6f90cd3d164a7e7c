"""The help is true: every example in ``anonymize --help`` and in the README's Use section runs
as written, each subcommand lists only the options it uses, and ``--targets`` takes what its
help offers.

The examples run in a folder holding the files they name (``clip.mp4``, ``photo.jpg``,
``footage/``, ...), made from the generated samples and kept small so the real detectors
take seconds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from clips import first_frames

import anonymize
from anonymize.cli import main

REPO = Path(__file__).resolve().parents[1]
# Options a subcommand must not list, because it would ignore them.
NOT_USED = {
    "detect": ["--quality", "--audio", "--keep-metadata", "--plate-mode", "--on-error", "--mode"],
    "eval": ["--quality", "--audio", "--keep-metadata", "--plate-mode", "--on-error"],
    "review": ["--quality", "--audio", "--keep-metadata", "--plate-mode", "--on-error"],
    "render": ["--sensitivity", "--keyframes", "--targets", "--padding", "--on-error"],
}


def _help_examples() -> list[str]:
    """The command lines in the top-level help's example block."""
    lines = (main.help or "").split("\b", 1)[1].split("\n\n", 1)[0].splitlines()
    return [re.split(r"\s{2,}", line.strip())[0] for line in lines if line.strip()]


def _readme_examples() -> list[str]:
    """The command lines in the README's Use section's first shell block."""
    use = (REPO / "README.md").read_text().split("## Use", 1)[1]
    block = use.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def workdir(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with every file the examples name."""
    work = tmp_path_factory.mktemp("examples")
    street, portrait = samples_dir / "street.mp4", samples_dir / "portrait.jpg"
    for name in ("clip.mp4", "a.mp4", "b.mov", "footage/day1/street.mp4"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        first_frames(street, work / name)
    for name in ("photo.jpg", "footage/portrait.jpg", "ANNOTATED_FOLDER/portrait.jpg"):
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(portrait, work / name)
    face = json.loads((samples_dir / "faces.json").read_text())["portrait.jpg"][0]
    box = [face[0], face[1], face[2] - face[0], face[3] - face[1]]
    gt = [{"image": "portrait.jpg", "boxes": [box]}]
    (work / "ANNOTATED_FOLDER" / "gt.json").write_text(json.dumps(gt))
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ, BROWSER="true")  # webbrowser "opens" the page with true(1)
    root = str(Path(anonymize.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


def _review(args: list[str], cwd: Path) -> None:
    """Start the review server as the user would, wait for its address, stop it (Ctrl+C)."""
    command = [sys.executable, "-c", "from anonymize.cli import main; main()", *args]
    run = subprocess.Popen(command, cwd=cwd, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        said = []
        for line in run.stderr:
            said.append(line)
            if line.startswith("press Ctrl+C"):
                break
        assert any("http://127.0.0.1:" in line for line in said), "".join(said)
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _run_example(line: str, cwd: Path) -> None:
    args = shlex.split(line)
    assert args[0] == "anonymize", line
    if args[1] == "review":
        _review(args[1:], cwd)
        return
    here = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    finally:
        os.chdir(here)
    assert result.exit_code == 0, (line, result.output)


def test_the_examples_are_found():
    assert len(_help_examples()) >= 6 and len(_readme_examples()) >= 9
    for examples in (_help_examples(), _readme_examples()):
        assert any(" review " in f"{line} " for line in examples)
        assert any(" batch " in line for line in examples)


@pytest.mark.parametrize("source", ["help", "readme"])
def test_every_example_runs_as_written(workdir, tmp_path, source):
    work = tmp_path / "work"
    shutil.copytree(workdir, work)
    for line in _help_examples() if source == "help" else _readme_examples():
        _run_example(line, work)
    assert (work / "clip_anonymized.mp4").is_file() and (work / "out.mp4").is_file()
    assert (work / "clip.mp4.regions.json").is_file()
    assert (work / "safe" / "portrait.jpg").is_file()
    assert not list((work / "safe").rglob("*.json"))  # the records went elsewhere
    assert (work / "anonymize-audit" / "clip_anonymized.mp4.json").is_file()
    if source == "readme":
        assert (work / "photo.png").is_file() and (work / "safe" / "b.mov").is_file()


@pytest.mark.parametrize("command", sorted(NOT_USED))
def test_each_subcommand_lists_only_the_options_it_uses(command):
    text = CliRunner().invoke(main, [command, "--help"]).output
    for option in NOT_USED[command]:
        assert option not in text, (command, option)


def test_targets_takes_what_its_help_offers():
    option = next(p for p in main.commands["run"].params if p.name == "targets")
    context = click.Context(main.commands["run"])
    for value, targets in [
        ("both", ("faces", "plates")),
        ("faces", ("faces",)),
        ("plates", ("plates",)),
        ("faces,plates", ("faces", "plates")),
    ]:
        assert option.process_value(context, value) == targets
    assert "faces, plates or both" in option.help
    with pytest.raises(click.BadParameter):
        option.process_value(context, "cats")


def test_the_top_level_help_says_where_the_options_are():
    """``anonymize --help`` lists commands only; a first-time user must learn that the
    options of ``anonymize clip.mp4`` are ``run``'s."""
    text = CliRunner().invoke(main, ["--help"]).output
    assert "anonymize run --help" in " ".join(text.split())
    options = CliRunner().invoke(main, ["run", "--help"]).output
    assert all(option in options for option in ("--mode", "--targets", "--output"))
