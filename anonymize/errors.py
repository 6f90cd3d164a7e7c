"""The failures a user sees, under one base, and how each is put in one line.

A bad file, a refused edit or an engine that cannot start is the user's to fix, not a bug:
it is caught where a file's work ends (or at the command), printed as one sentence after
the file's name, and the run goes on or stops. Everything else is a bug and says so.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FILE_FAILURES", "UserError", "internal", "one_line", "show_path"]


class UserError(Exception):
    """A failure whose message is one sentence a user can act on; never a traceback."""


# What fails one file without being a bug: the user's errors, and what the disk says.
FILE_FAILURES = (UserError, OSError)


def one_line(err: object) -> str:
    """``err``'s message on one line: every failure is one line naming its file."""
    return " ".join(str(err).split())


def internal(err: BaseException) -> str:
    """A bug as one line: it ends one file (or one render) as failed, not the whole run."""
    return f"internal error: {type(err).__name__}: {one_line(err)}"


def show_path(path: Path) -> str:
    """A path on one line: control characters (a newline in a name) are escaped."""
    text = str(path)
    return text if text.isprintable() else repr(text)
