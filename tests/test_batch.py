"""Many files over a local process pool and a local Ray instance: same outputs as one process,
dead workers retried without lost, duplicated or half-written outputs, and the CLI's summary.

The workers use a cheap detector (the bright square drawn into every test picture is "a face")
built by a module-level factory, which is how a detector reaches another process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from anonymize.api import Anonymizer, report_path
from anonymize.batch import Job, JobResult, plan, run_jobs
from anonymize.cli import main
from anonymize.config import Settings
from anonymize.media import VideoWriter, read_image
from anonymize.media.atomic import PARTIAL_MARKER
from anonymize.types import Box, Detection

HERE = Path(__file__).resolve().parent
SETTINGS = Settings(targets=("faces",), audio="drop")


class _BrightSquare:
    """Finds the one bright square the test media carry; costs nothing to build or run."""

    name = "bright-square"
    labels = ("face",)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        ys, xs = np.nonzero(frame.min(axis=2) > 200)
        if not len(xs):
            return []
        box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return [Detection(box, 0.9, "face", self.name)]


def bright_squares(settings: Settings) -> list[_BrightSquare]:
    return [_BrightSquare()]


def recording(folder: Path, settings: Settings) -> list[_BrightSquare]:
    """Like bright_squares, and the worker records a hash of every frame it hands the video
    encoder (x264 here does not encode the same frames to the same bytes twice)."""
    write = VideoWriter.write

    def write_and_record(self, frame, image, changed=None) -> None:
        record = folder / self._source.path.name
        hashes = json.loads(record.read_text()) if record.exists() else []
        record.write_text(json.dumps([*hashes, hashlib.sha256(image.tobytes()).hexdigest()]))
        write(self, frame, image, changed)

    VideoWriter.write = write_and_record
    return [_BrightSquare()]


def crash(markers: Path, times: int, settings: Settings) -> list[_BrightSquare]:
    """Like bright_squares, but the worker kills itself halfway through writing a video, the
    first ``times`` times it meets it; the marker lists the half-written files of each crash."""
    write = VideoWriter.write

    def write_then_die(self, frame, image, changed=None) -> None:
        write(self, frame, image, changed)
        marker = markers / self._source.path.name
        crashes = json.loads(marker.read_text()) if marker.exists() else []
        if frame.index == 5 and len(crashes) < times:
            partials = [p.name for p in self.path.parent.iterdir() if PARTIAL_MARKER in p.name]
            # Whole or not at all: when one worker dies the pool stops the others, and one
            # stopped between truncating its marker and writing it left an empty file that
            # its retry could not read (a failed job, seen once in CI).
            written = markers.parent / f"{marker.name}.writing"  # beside the markers, not among
            written.write_text(json.dumps([*crashes, partials]))
            os.replace(written, marker)
            os._exit(1)

    VideoWriter.write = write_then_die
    return [_BrightSquare()]


def _square(rng: np.random.Generator, w: int, h: int, x: int, y: int) -> np.ndarray:
    image = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
    image[y : y + 16, x : x + 16] = 255
    image[y + 4 : y + 12, x + 4 : x + 12] = (0, 0, 255)  # detail the blur must remove
    return image


def _clip(path: Path, frames: int = 12, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(frames):
            image = _square(rng, 96, 64, 8 + 4 * i, 20)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode())


def _photo(path: Path, seed: int) -> None:
    from PIL import Image

    image = _square(np.random.default_rng(seed), 80, 60, 10 + seed, 20)
    Image.fromarray(image[:, :, ::-1]).save(path)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Two clips and three photos in nested folders."""
    root = tmp_path / "archive"
    (root / "day1").mkdir(parents=True)
    (root / "day2" / "cam").mkdir(parents=True)
    _clip(root / "day1" / "a.mp4", seed=1)
    _clip(root / "day2" / "cam" / "b.mp4", seed=2)
    for i, name in enumerate(["day1/p.png", "day2/q.jpg", "r.png"]):
        _photo(root / name, seed=i)
    return root


def _decoded(path: Path) -> list[np.ndarray]:
    if path.suffix != ".mp4":
        return [read_image(path)]
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def _sidecar(path: Path) -> dict:
    report = json.loads(path.with_name(path.name + ".json").read_text())
    return {"frames": report["frames"], "tracks": report["tracks"], "output": report["output"]}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _expected_files(archive: Path) -> list[str]:
    media = _files(archive)
    return sorted(media + [m + ".json" for m in media])


def _batch(archive: Path, out: Path, **kw) -> dict[str, JobResult]:
    """Run the archive into ``out``; what the workers render is recorded in ``out``.frames."""
    jobs = plan((archive,), out)
    record = out.with_suffix(".frames")
    record.mkdir()
    factory = functools.partial(recording, record)
    results = list(run_jobs(jobs, SETTINGS, detectors=factory, **kw))
    assert len(results) == len(jobs)
    return {str(r.job.src): r for r in results}


def _assert_same_outputs(archive: Path, a: Path, b: Path) -> None:
    """Same files, same regions, same pictures: photos decode to the same pixels; videos had
    the same frames encoded (the encoder's bytes vary from run to run even in one process)."""
    assert _files(a) == _files(b) == _expected_files(archive)
    for name in _files(archive):
        assert _sidecar(a / name)["frames"] == _sidecar(b / name)["frames"], name
        assert _sidecar(a / name)["tracks"] == _sidecar(b / name)["tracks"], name
        pictures = list(zip(_decoded(a / name), _decoded(b / name), strict=True))
        if name.endswith(".mp4"):
            rendered = [p.with_suffix(".frames") / Path(name).name for p in (a, b)]
            assert len(json.loads(rendered[0].read_text())) == len(pictures) == 12, name
            assert rendered[0].read_text() == rendered[1].read_text(), name
        else:
            assert all(np.array_equal(x, y) for x, y in pictures), name


def test_local_pool_writes_what_one_process_writes(archive, tmp_path, monkeypatch):
    results = _batch(archive, tmp_path / "pool", workers=2)
    assert {r.status for r in results.values()} == {"done"}
    monkeypatch.setattr(VideoWriter, "write", VideoWriter.write)  # undo recording() after
    (tmp_path / "one.frames").mkdir()
    anonymizer = Anonymizer(SETTINGS, detectors=recording(tmp_path / "one.frames", SETTINGS))
    for job in plan((archive,), tmp_path / "one"):
        job.dst.parent.mkdir(parents=True, exist_ok=True)
        anonymizer.anonymize_file(job.src, job.dst, report=report_path(job.dst))  # as the pool
        source, result = _decoded(job.src)[0], _decoded(job.dst)[0]
        assert np.abs(source.astype(int) - result).max() > 100  # the square's detail is gone
    _assert_same_outputs(archive, tmp_path / "pool", tmp_path / "one")


def test_existing_outputs_are_skipped_and_shared_outputs_refused(tmp_path):
    a, b = tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"
    for i, path in enumerate((a, b)):
        path.parent.mkdir()
        _photo(path, seed=i)
    done = tmp_path / "out" / "done.png"
    done.parent.mkdir()
    done.write_bytes(b"earlier run")
    jobs = [Job(a, tmp_path / "out" / "x.png"), Job(b, tmp_path / "out" / "x.png")]
    results = list(run_jobs([*jobs, Job(a, done)], SETTINGS, detectors=bright_squares))
    status = {(str(r.job.src), str(r.job.dst)): r.status for r in results}
    assert status == {
        (str(a), str(jobs[0].dst)): "done",
        (str(b), str(jobs[0].dst)): "failed",
        (str(a), str(done)): "skipped",
    }
    assert done.read_bytes() == b"earlier run"


def _assert_crashed_and_recovered(archive: Path, out: Path, markers: Path, results: dict):
    assert {r.status for r in results.values()} == {"done"}, results
    crashed = {p.name: json.loads(p.read_text()) for p in markers.iterdir()}
    assert set(crashed) == {"a.mp4", "b.mp4"}
    assert all(len(c) == 1 and c[0] for c in crashed.values()), "a half-written file each"
    # every output exactly once, complete, and nothing temporary left anywhere
    assert _files(out) == _expected_files(archive)
    for clip in ("day1/a.mp4", "day2/cam/b.mp4"):
        assert len(_decoded(out / clip)) == 12
        assert _sidecar(out / clip)["output"]["frame_count"] == 12


def test_local_pool_retries_files_whose_worker_died(archive, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    jobs = plan((archive,), tmp_path / "out")
    factory = functools.partial(crash, markers, 1)
    results = {str(r.job.src): r for r in run_jobs(jobs, SETTINGS, workers=2, detectors=factory)}
    _assert_crashed_and_recovered(archive, tmp_path / "out", markers, results)


def test_local_pool_gives_up_on_a_file_that_always_kills_its_worker(tmp_path):
    clip, photo = tmp_path / "in" / "c.mp4", tmp_path / "in" / "p.png"
    clip.parent.mkdir()
    _clip(clip)
    _photo(photo, seed=0)
    markers = tmp_path / "markers"
    markers.mkdir()
    jobs = plan((tmp_path / "in",), tmp_path / "out")
    factory = functools.partial(crash, markers, 99)
    results = {
        r.job.src.name: r
        for r in run_jobs(jobs, SETTINGS, workers=1, max_retries=1, detectors=factory)
    }
    assert results["p.png"].status == "done"
    assert results["c.mp4"].status == "failed"
    assert "died on each of 2 attempts" in results["c.mp4"].error
    assert len(json.loads((markers / "c.mp4").read_text())) == 2
    assert _files(tmp_path / "out") == ["p.png", "p.png.json"]


def _cli(*args: str):
    return CliRunner().invoke(main, ["batch", *args, "--quiet"], catch_exceptions=False)


def _broken_archive(archive: Path) -> None:
    (archive / "day1" / "broken.mp4").write_text("not a video")


def _check_cli_summary(archive: Path, out: Path, *engine: str) -> None:
    result = _cli(str(archive), "-o", str(out), *engine)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0]
    assert "5 anonymized, 0 skipped, 1 failed" in result.stderr
    media = [f for f in _files(archive) if "broken" not in f]
    assert _files(out) == media  # the audit records go beside the archive, not into out
    assert _files(archive.parent / "anonymize-audit") == [f"{m}.json" for m in media]
    again = json.loads(_cli(str(archive), "-o", str(out), "--json", *engine).stdout)
    assert (again["done"], again["skipped"], again["failed"]) == (0, 5, 1)
    planned = [str(job.src) for job in plan((archive,), out)]
    assert [f["input"] for f in again["files"]] == planned  # in plan order


def test_cli_batch_summary_and_exit_code(archive, tmp_path):
    _broken_archive(archive)
    _check_cli_summary(archive, tmp_path / "out", "--workers", "2")


def test_cli_refuses_an_address_without_ray(archive, tmp_path):
    result = _cli(str(archive), "-o", str(tmp_path / "out"), "--address", "127.0.0.1:1")
    assert result.exit_code == 2 and "--engine ray" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_names_a_ray_address_where_nothing_answers(archive, tmp_path):
    address = f"127.0.0.1:{_free_port()}"
    out = str(tmp_path / "out")
    result = _cli(str(archive), "-o", out, "--engine", "ray", "--address", address)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no Ray cluster answers at {address} (Connection refused)"
    ]
    assert not (tmp_path / "out").exists()


# --- Ray: a local instance on 127.0.0.1, started and stopped by these tests ---------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address():
    """A one-node Ray cluster on 127.0.0.1, joined by address as a user's cluster would be."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'anonymize[ray]')")
    # Ray reads these when it is imported, so nothing may import it before this fixture.
    assert "ray" not in sys.modules, "ray was imported before its environment was set"
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # its socket paths must be short
    log = temp / "start.log"
    port = _free_port()
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    command += ["--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    command += ["--include-dashboard=false", "--disable-usage-stats"]
    with pytest.MonkeyPatch.context() as patch:
        # Its own token (Ray's default token auth, without touching ~/.ray) and its own
        # session folder, where the driver finds the node it runs on.
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        patch.setenv("RAY_TMPDIR", str(temp))
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        # Workers import this module to unpickle the test's detector factories.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
        with log.open("wb") as sink:
            head = subprocess.Popen(
                command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 180
            while "Ray runtime started" not in log.read_text(errors="replace"):
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ray start failed:\n{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
            yield f"127.0.0.1:{port}"
        finally:
            _stop(head)
            shutil.rmtree(temp, ignore_errors=True)


def _stop(head: subprocess.Popen) -> None:
    """Let the head stop what it started, then kill whatever is left of its own process
    group (and nothing else)."""
    head.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()


def test_ray_writes_what_the_local_pool_writes(archive, tmp_path, ray_address):
    local = _batch(archive, tmp_path / "local", workers=2)
    remote = _batch(archive, tmp_path / "ray", engine="ray", address=ray_address)
    assert {r.status for r in remote.values()} == {"done"}
    _assert_same_outputs(archive, tmp_path / "local", tmp_path / "ray")
    strip = ("input", "output", "record")
    assert [{k: v for k, v in r.to_dict().items() if k not in strip} for r in local.values()] == [
        {k: v for k, v in remote[i].to_dict().items() if k not in strip} for i in local
    ]


def test_ray_retries_files_whose_worker_died(archive, tmp_path, ray_address):
    markers = tmp_path / "markers"
    markers.mkdir()
    jobs = plan((archive,), tmp_path / "out")
    factory = functools.partial(crash, markers, 1)
    results = {
        str(r.job.src): r
        for r in run_jobs(jobs, SETTINGS, "ray", address=ray_address, detectors=factory)
    }
    _assert_crashed_and_recovered(archive, tmp_path / "out", markers, results)


def test_cli_batch_on_ray_summary_and_exit_code(archive, tmp_path, ray_address):
    _broken_archive(archive)
    _check_cli_summary(archive, tmp_path / "out", "--engine", "ray", "--address", ray_address)
