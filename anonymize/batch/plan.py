"""Which output each input becomes, and where its audit record goes: the plan of a run.

A file alone goes beside itself (``clip_anonymized.mp4``), or to the file ``-o`` names; a
folder is walked and mirrored under the output folder (or ``FOLDER_anonymized`` beside it);
several inputs keep their names under the output folder. With neutral names every output
is named by a keyed hash in the output folder itself: a folder's name can say as much as a
file's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anonymize import media
from anonymize.audit import AUDIT_FOLDER, neutral_name, record_path
from anonymize.errors import UserError, show_path

__all__ = ["MEDIA_EXTENSIONS", "Job", "PlanError", "beside", "left_out", "plan"]

MEDIA_EXTENSIONS = media.VIDEO_EXTENSIONS | media.IMAGE_EXTENSIONS


class PlanError(UserError):
    """The inputs make no run (a folder without media); the command's usage is at fault."""


@dataclass(frozen=True)
class Job:
    """One input file, the output it becomes, and where its audit record goes (None:
    beside the output, as ``api.report_path`` says)."""

    src: Path
    dst: Path
    record: Path | None = None


def plan(
    inputs: Sequence[Path],
    output: Path | None,
    audit: Path | None = None,
    neutral: bool = False,
) -> list[Job]:
    """Pair each input file with its output path, and with its audit record in ``audit``
    when there is one; folders are walked and mirrored. With ``neutral`` names, outputs are
    named by ``neutral_name`` and not mirrored. Raises PlanError for a folder with no media.
    """
    if neutral and audit is None:
        raise ValueError("neutral names need an audit folder to keep their key and mapping")
    if len(inputs) == 1 and inputs[0].is_file() and output is not None and _names_a_file(output):
        return [Job(inputs[0], output, _record(audit, Path(output.name)))]
    keys = audit if neutral else None  # the folder whose key names the outputs
    jobs = []
    for item in inputs:
        if item.is_file():
            if keys is not None:
                name = neutral_name(keys, _full(item), media.output_suffix(item.suffix))
            else:
                name = _output_name(item).name if output else beside(item).name
            jobs.append(Job(item, (output or item.parent) / name, _record(audit, Path(name))))
        else:
            jobs.extend(_folder(item, output, audit, keys, several=len(inputs) > 1))
    return list(dict.fromkeys(jobs))  # a file named twice is done once


def beside(src: Path) -> Path:
    """The output of ``src`` when no output is named: SRC_anonymized.EXT beside it (.mp4 for
    a container the writer does not write)."""
    return src.with_name(f"{src.stem}_anonymized{media.output_suffix(src.suffix)}")


def _beside_folder(folder: Path) -> Path:
    """Where a folder's outputs go when no output is named: FOLDER_anonymized beside it."""
    return folder.with_name(folder.name + "_anonymized")


def _output_name(path: Path) -> Path:
    """``path`` with the extension its output gets (``media.output_suffix``)."""
    return path.with_suffix(media.output_suffix(path.suffix))


def _names_a_file(output: Path) -> bool:
    return output.suffix.lower() in MEDIA_EXTENSIONS and not output.is_dir()


def _folder(
    item: Path, output: Path | None, audit: Path | None, keys: Path | None, several: bool
) -> list[Job]:
    """The jobs of one input folder, mirrored under the output folder (named with the key
    in ``keys``, flat in it)."""
    root = output or _beside_folder(item)
    if output and several and keys is None:
        root = output / item.resolve().name
    base = output or root.parent  # record paths mirror the outputs' paths under it
    found = []
    for path in _files(item, skip=root):
        if not _is_media(path):
            continue
        if keys is not None:
            dst = root / neutral_name(keys, _full(path), media.output_suffix(path.suffix))
        else:
            dst = root / _output_name(path.relative_to(item))
        found.append(Job(path, dst, _record(audit, dst.relative_to(base))))
    if not found:
        raise PlanError(f"{show_path(item)} contains no video or photo files")
    return found


def _full(path: Path) -> str:
    """What a neutral name is made from: the input's full path, so that two inputs of one
    name never share an output, and the same file, however it is named on the command
    line, always gets the same one (a re-run resumes)."""
    return path.resolve().as_posix()


def _record(audit: Path | None, output_name: Path) -> Path | None:
    return record_path(audit, output_name) if audit is not None else None


def left_out(inputs: Sequence[Path], output: Path | None) -> list[Path]:
    """The files under the input folders that no job takes, being neither video nor photo
    (hidden files and folders, and the tool's own audit records, aside): a user who thinks
    a folder was done must hear what was not."""
    found = []
    for item in inputs:
        if item.is_dir():
            skip = output or _beside_folder(item)
            found += [
                path
                for path in _files(item, skip)
                if not _is_media(path)
                and not any(
                    part.startswith(".") or part == AUDIT_FOLDER
                    for part in path.relative_to(item).parts
                )
            ]
    return found


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_EXTENSIONS


def _files(folder: Path, skip: Path) -> Iterator[Path]:
    """The files under ``folder`` in a stable order, hidden ones aside; symlinked folders are
    not followed (no loops), and nothing inside the output folder ``skip`` is taken."""
    skip = skip.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() != skip)
        for name in sorted(filenames):
            if not name.startswith("."):
                yield here / name
