"""Where each output's audit record goes, and neutral names for outputs.

The audit record (the JSON report: input name and SHA-256, settings, models, every region)
is the chain of custody of a safe copy, and it is exactly what must not be published with
it: the name may be a witness's, and the hash proves which raw file a safe copy came from.
So it never goes into the folder of outputs unless the user asks (``--sidecar``). By
default it goes to an ``anonymize-audit/`` folder beside the inputs, where the raw footage
already is and which nobody publishes; ``--audit DIR`` names another folder.

Neutral names hide what the input's name says. They are keyed hashes of the input's path:
the key is made once per audit folder and kept there, so the same input gets the same name
on every run (a re-run still skips finished outputs), while nobody without the audit folder
can check a guessed name against an output's.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
from pathlib import Path

from anonymize.regions import sha256_file

__all__ = [
    "AUDIT_FOLDER",
    "claim_record",
    "default_folder",
    "default_record",
    "inside",
    "neutral_name",
    "record_path",
]

AUDIT_FOLDER = "anonymize-audit"
_KEY_FILE = ".neutral-names.key"
_NAME_CHARS = 16  # hex characters: 64 bits, no collision among any realistic archive


def default_folder(first_input: Path) -> Path:
    """``anonymize-audit/`` in the folder that holds ``first_input`` (a file or a folder)."""
    return Path(os.path.abspath(first_input)).parent / AUDIT_FOLDER


def record_path(folder: Path, output_name: Path) -> Path:
    """The record of the output whose path, relative to its output folder, is
    ``output_name``: the same relative path in ``folder`` plus ``.json``."""
    return folder / output_name.with_name(output_name.name + ".json")


def default_record(src: Path, output: Path) -> Path:
    """Where the record of ``src`` made into ``output`` goes when no folder is named: the
    audit folder beside ``src``, under ``output``'s name (``claim_record``)."""
    output = Path(output)
    return claim_record(record_path(default_folder(src), Path(output.name)), output)


def claim_record(path: Path, output: Path) -> Path:
    """Where the record of a new safe copy about to be written to ``output`` goes: ``path``,
    unless it holds the record of another safe copy than the one now at ``output`` (one of
    the same name in another folder), then the first of ``NAME.2.json``, ``NAME.3.json``...
    that is free or holds that one's. A re-run replaces its own record and never another's:
    each is the only link from a safe copy back to its raw file."""
    stem = path.name.removesuffix(".json")
    names = (path.with_name(f"{stem}.{n}.json") for n in itertools.count(2))
    return next(
        p for p in itertools.chain([path], names) if not p.exists() or _describes(p, output)
    )


def _describes(record: Path, output: Path) -> bool:
    """Whether ``record`` is the record of the file now at ``output`` (by its SHA-256). A
    record that cannot be read is nobody's to replace."""
    try:
        recorded = json.loads(record.read_text())["output"]["sha256"]
        return output.is_file() and sha256_file(output) == recorded
    except (OSError, ValueError, KeyError, TypeError):
        return False


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (after resolving both)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def neutral_name(folder: Path, source: str, suffix: str) -> str:
    """A name for the output of input ``source`` (its full path) that says nothing about
    it: the first characters of an HMAC of ``source`` with the audit folder's key, plus the
    input's ``suffix``."""
    digest = hmac.new(_key(folder), source.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return digest.hexdigest()[:_NAME_CHARS] + suffix.lower()


def _key(folder: Path) -> bytes:
    """The audit folder's key for neutral names, made on first use (readable by the owner
    only: with it, a guessed input name can be checked against an output's name)."""
    path = folder / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another run: use that one
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key
