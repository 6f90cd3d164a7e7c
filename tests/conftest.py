"""Shared fixtures: generated samples (made once per session, in a temp dir) and real data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with street.mp4, portrait.jpg and faces.json from samples/make_samples.py."""
    spec = importlib.util.spec_from_file_location(
        "make_samples", REPO / "samples" / "make_samples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outdir = tmp_path_factory.mktemp("samples")
    module.make_samples(outdir)
    return outdir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real evaluation data beside the repo (../shared/data); CI provides it."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI provides it)")
    return SHARED_DATA
