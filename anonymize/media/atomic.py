"""Write outputs under a temporary name and rename them only when complete.

An interrupted run must never leave a file at the final name that looks finished: a newsroom
would publish it. The temporary file lives in the same folder (so the rename is atomic on one
file system), is hidden, and keeps the final extension so muxers and Pillow pick the format
from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from anonymize.media.info import MediaError

__all__ = ["PARTIAL_MARKER", "atomic_output", "partial_name", "remove_leftovers"]

# Every temporary name contains this, so a later run can recognise leftovers of a killed one.
PARTIAL_MARKER = ".partial-"


def partial_name(final: Path) -> Path:
    """A fresh hidden temporary path beside ``final`` with the same extension."""
    return final.with_name(f".{final.stem}{PARTIAL_MARKER}{secrets.token_hex(4)}{final.suffix}")


def remove_leftovers(*finals: Path) -> int:
    """Delete the temporary files that killed runs left beside each of ``finals``; how many.

    A run killed outright cannot remove its own; they never hold a finished output, and a
    photo's are nested (the pipeline's temporary name, then the image writer's). Each folder
    is read once, however many of ``finals`` it holds.
    """
    patterns: dict[Path, dict[tuple[str, str], re.Pattern]] = {}
    for final in finals:
        pattern = re.compile(
            rf"\.+{re.escape(final.stem)}(?:{re.escape(PARTIAL_MARKER)}[0-9a-f]{{8}})+"
            rf"{re.escape(final.suffix)}"
        )
        patterns.setdefault(final.parent, {})[(final.stem, final.suffix)] = pattern
    return sum(_remove_in(folder, wanted) for folder, wanted in patterns.items())


def _remove_in(folder: Path, wanted: dict[tuple[str, str], re.Pattern]) -> int:
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            stem, marker, _ = entry.name.lstrip(".").partition(PARTIAL_MARKER)
            pattern = wanted.get((stem, os.path.splitext(entry.name)[1])) if marker else None
            if pattern and pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temporary path; rename it onto ``final`` only if the block succeeds.

    On any exception, KeyboardInterrupt included, the temporary file is removed and
    ``final`` is left as it was. The data is flushed to disk before the rename so a power
    cut cannot leave a complete-looking name over an empty file.
    """
    final = Path(final)
    temp = partial_name(final)
    try:
        yield temp
        if not temp.exists():
            raise MediaError("no output was written")
        _fsync(temp)
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(final.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; some file systems refuse fsync on folders, harmlessly.
    with contextlib.suppress(OSError):
        _fsync(folder)
