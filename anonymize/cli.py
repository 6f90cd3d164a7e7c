"""The ``anonymize`` command: parses, validates and reports; the work lives in api.py.

``anonymize FILE...`` is the one-shot job (the hidden default command ``run``); ``detect``,
``render`` and ``eval`` are the steps and tools around it. Errors are one sentence naming the
file: exit code 2 for usage errors, 1 when any file failed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import click
from tqdm import tqdm

from anonymize import __version__, media
from anonymize.api import AnalysisError, Anonymizer, Progress
from anonymize.batch import ENGINES, BatchError, Job, anonymize_job, run_jobs, skip_existing
from anonymize.config import MODES, SENSITIVITIES, SHAPES, TARGETS, Settings
from anonymize.media.atomic import remove_leftovers
from anonymize.regions import RegionsError
from anonymize.regions import load as load_regions
from anonymize.regions import save as save_regions

__all__ = ["main"]

_MEDIA = media.VIDEO_EXTENSIONS | media.IMAGE_EXTENSIONS
_FAILURES = (media.MediaError, AnalysisError, RegionsError, OSError)
# Failures that every later output would meet too.
_NO_SPACE = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


class _DefaultCommandGroup(click.Group):
    """A group whose first argument, when it is not a command, goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="anonymize")
def main() -> None:
    """Obscure faces and licence plates in videos and photos before publishing them.

    \b
      anonymize clip.mp4                 writes clip_anonymized.mp4 beside it
      anonymize footage/ -o safe/        every file under footage/, mirrored in safe/
      anonymize detect clip.mp4          writes the regions file for review
      anonymize render clip.mp4 --regions clip.regions.json -o out.mp4
      anonymize batch archive/ -o safe/  many files at once (--engine ray for a cluster)

    Automatic detection can miss faces: review the output before publishing it.
    """


def _settings_options(func):
    """The options that decide what a run produces, shared by run, detect and render."""
    options = [
        click.option(
            "--targets",
            default=",".join(TARGETS),
            show_default=True,
            callback=_parse_targets,
            help="What to obscure: faces, plates or both.",
        ),
        click.option(
            "--sensitivity",
            type=click.Choice(SENSITIVITIES),
            default="standard",
            show_default=True,
            help="'high' finds more faces at the cost of more false ones; 'lean' changes "
            "less of the picture around faces and misses a few more of them.",
        ),
        click.option(
            "--mode",
            type=click.Choice(MODES),
            default="blur",
            show_default=True,
            help="How faces are obscured; every mode is irreversible.",
        ),
        click.option(
            "--plate-mode",
            type=click.Choice(MODES),
            default=Settings.plate_mode,
            show_default=True,
            help="How licence plates are obscured.",
        ),
        click.option(
            "--shape",
            type=click.Choice(SHAPES),
            default=Settings.shape,
            show_default=True,
            help="Shape of face masks: rounded (a squircle), ellipse or box; plates are "
            "always boxes.",
        ),
        click.option(
            "--padding",
            type=click.FloatRange(0, 2),
            default=Settings.padding,
            show_default=True,
            help="Grow each box by this fraction of its size per side (half of it for boxes "
            "100 px or taller in photos).",
        ),
        click.option(
            "--audio",
            type=click.Choice(["copy", "drop"]),
            default="copy",
            show_default=True,
            help="Copy audio streams bit-exact, or drop them.",
        ),
        click.option(
            "--keep-metadata",
            is_flag=True,
            help="Keep container tags (creation time, location, device). Off by default.",
        ),
        click.option(
            "--quality",
            type=click.IntRange(0, 51),
            default=Settings.quality,
            show_default=True,
            help="Video quality as x264 CRF: lower is better and larger.",
        ),
        click.option(
            "--keyframes",
            type=click.IntRange(min=1),
            default=Settings.keyframes,
            show_default=True,
            help="Run the full detectors on every Nth video frame and at scene cuts, quick ones "
            "between (1: full on every frame, slowest and most thorough).",
        ),
        click.option(
            "--on-error",
            type=click.Choice(["fail", "obscure-frame"]),
            default="fail",
            show_default=True,
            help="A frame that cannot be analysed fails the file, or is obscured whole.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _parse_targets(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    targets = tuple(t.strip() for t in value.split(",") if t.strip())
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise click.BadParameter(f"choose from {', '.join(TARGETS)} (got {value!r})")
    return targets


def _settings(**kw) -> Settings:
    if kw["keep_metadata"]:
        click.echo(
            "warning: --keep-metadata keeps creation time, location and device tags", err=True
        )
    return Settings(**kw)


@main.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (one input) or folder (several inputs or a folder).",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--no-report", is_flag=True, help="Do not write the JSON sidecar beside each output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@_settings_options
def run(
    inputs: tuple[Path, ...],
    output: Path | None,
    overwrite: bool,
    no_report: bool,
    quiet: bool,
    as_json: bool,
    **settings_kw,
) -> None:
    """Obscure every face and plate in INPUTS (files or folders)."""
    jobs = _plan(inputs, output)
    anonymizer = Anonymizer(_settings(**settings_kw))
    results = []
    overall = tqdm(total=len(jobs), unit="file", disable=quiet or len(jobs) < 2, position=0)
    interrupted = _watch_interrupts()
    for position, job in enumerate(jobs):
        remove_leftovers(job.dst)  # of a run killed before it could tidy up
        result = skip_existing(job, overwrite) or anonymize_job(
            anonymizer, job, not no_report, watch=lambda src: _frame_progress(src, quiet)
        )
        if interrupted.is_set():
            raise KeyboardInterrupt  # the file's own work was undone; stop the run
        _report_failure(result)
        results.append(result)
        overall.update(1)
        blocked = result["status"] == "failed" and _unwritable(job.dst.parent, result["error"])
        if blocked:
            rest = jobs[position + 1 :]
            _error(job.dst.parent, f"outputs cannot be written there ({blocked}); run stopped")
            reason = f"not attempted: the run stopped ({blocked})"
            results.extend(_not_attempted(later, reason) for later in rest)
            break
    overall.close()
    _summarise(results, as_json)


def _watch_interrupts() -> threading.Event:
    """An event set by Ctrl+C (SIGINT), which still raises KeyboardInterrupt as usual.

    FFmpeg's libraries can turn an interrupt that lands inside them into an ordinary error of
    the file at hand; the event lets the run stop anyway instead of going on to the next file.
    """
    interrupted = threading.Event()

    def handler(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    return interrupted


@contextlib.contextmanager
def _frame_progress(src: Path, quiet: bool) -> Iterator[Progress]:
    with _frame_bar(src, quiet) as bar:
        yield bar.update


def _unwritable(folder: Path, error: str) -> str | None:
    """Why no more outputs can be written in ``folder`` (disk full, read-only), or None.

    Asked after a file fails, so that a run into a full or read-only folder stops at the
    first failure instead of failing every remaining file the same way.
    """
    for cause in _NO_SPACE:
        if cause in error:
            return cause
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent  # the folder could not even be created: ask its parent
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        return err.strerror or str(err)
    return None


def _not_attempted(job: Job, reason: str) -> dict:
    return {"input": str(job.src), "output": str(job.dst), "status": "skipped", "reason": reason}


def _report_failure(result: dict) -> None:
    if result["status"] == "failed":
        _error(Path(result["input"]), result["error"])


def _frame_bar(src: Path, quiet: bool) -> tqdm:
    """A per-file progress bar over the frames of a video."""
    info = media.probe(src)
    total = (info.frame_count or 0) if info.kind == "video" else None
    return tqdm(
        total=total,
        unit="frame",
        desc=src.name,
        leave=False,
        position=1,
        disable=quiet or total is None,
    )


def _summarise(results: list[dict], as_json: bool) -> None:
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("done", "skipped", "failed")}
    if as_json:
        click.echo(json.dumps({"files": results, **counts}, indent=1))
    else:
        for r in results:
            if r["status"] == "skipped":
                click.echo(f"skipped {_show(Path(r['input']))}: {r['reason']}", err=True)
        click.echo(
            f"{counts['done']} anonymized, {counts['skipped']} skipped, {counts['failed']} failed",
            err=True,
        )
    if counts["failed"]:
        sys.exit(1)


@main.command("detect")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Regions file to write [default: SRC.regions.json beside the input].",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_settings_options
def detect(src: Path, output: Path | None, quiet: bool, **settings_kw) -> None:
    """Find faces and plates in SRC and write the regions file, without rendering."""
    output = output or src.with_name(src.name + ".regions.json")
    try:
        with _frame_bar(src, quiet) as bar:
            regions = Anonymizer(_settings(**settings_kw)).detect(src, progress=bar.update)
        save_regions(regions, output)
    except _FAILURES as err:
        _fail(src, err)
    click.echo(
        f"{len(regions.tracks)} tracks in {regions.input.frame_count} frames -> {_show(output)}",
        err=True,
    )


@main.command("render")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--regions",
    "regions_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Regions file from 'anonymize detect' (possibly edited).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file [default: SRC_anonymized.EXT beside the input].",
)
@click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@_settings_options
def render(
    src: Path,
    regions_path: Path,
    output: Path | None,
    overwrite: bool,
    quiet: bool,
    **settings_kw,
) -> None:
    """Render SRC with exactly the regions in the regions file obscured."""
    output = output or _beside(src)
    if output.exists() and not overwrite:
        raise click.UsageError(f"{_show(output)} exists (use --overwrite)")
    anonymizer = Anonymizer(_settings(**settings_kw), detectors=[])
    try:
        regions = load_regions(regions_path)
        with _frame_bar(src, quiet) as bar:
            anonymizer.render(src, output, regions, progress=bar.update, report=True)
    except _FAILURES as err:
        _fail(src, err)
    click.echo(f"wrote {_show(output)}", err=True)


@main.command("batch")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder the inputs are mirrored into.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="A process pool here, or an existing Ray cluster (pip install 'anonymize[ray]').",
)
@click.option(
    "--address",
    help="Ray cluster to join, HOST:PORT [default: RAY_ADDRESS, or the one 'ray start' runs here].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Files processed at once [default: this machine's cores, or the cluster's CPUs].",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="How often a file is retried after its worker process died.",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--no-report", is_flag=True, help="Do not write the JSON sidecar beside each output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@_settings_options
def batch(
    inputs: tuple[Path, ...],
    output: Path,
    engine: str,
    address: str | None,
    workers: int | None,
    retries: int,
    overwrite: bool,
    no_report: bool,
    quiet: bool,
    as_json: bool,
    **settings_kw,
) -> None:
    """Obscure every face and plate in INPUTS, many files at once, on this machine or a Ray
    cluster (whose workers must see the same paths, e.g. a shared file system)."""
    if address and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    jobs = _plan(inputs, output)
    settings = _settings(**settings_kw)
    order = {(str(job.src), str(job.dst)): i for i, job in enumerate(jobs)}
    results = []
    with tqdm(total=len(jobs), unit="file", disable=quiet) as overall:
        try:
            for result in run_jobs(
                jobs,
                settings,
                engine,
                overwrite=overwrite,
                report=not no_report,
                workers=workers,
                address=address,
                max_retries=retries,
            ):
                _report_failure(result)
                results.append(result)
                overall.update(1)
        except BatchError as err:
            raise click.ClickException(str(err)) from err
    _summarise(sorted(results, key=lambda r: order[r["input"], r["output"]]), as_json)


@main.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@_settings_options
def evaluate(folder: Path, as_json: bool, **settings_kw) -> None:
    """Measure how much of FOLDER's annotated boxes (gt.json) the real pipeline obscures."""
    from anonymize import eval as evaluation

    if not (folder / "gt.json").is_file():
        raise click.UsageError(f"{_show(folder)} has no gt.json (see the README for its format)")
    result = evaluation.evaluate(folder, _settings(**settings_kw))
    click.echo(
        json.dumps(result.to_dict(), indent=1) if as_json else evaluation.format_report(result)
    )


def _plan(inputs: tuple[Path, ...], output: Path | None) -> list[Job]:
    """Pair each input file with its output path; folders are walked and mirrored."""
    single_file = len(inputs) == 1 and inputs[0].is_file()
    if (
        single_file
        and output is not None
        and output.suffix.lower() in _MEDIA
        and not output.is_dir()
    ):
        return [Job(inputs[0], output)]
    jobs = []
    for item in inputs:
        if item.is_file():
            jobs.append(Job(item, output / item.name if output else _beside(item)))
            continue
        root = output or item.with_name(item.name + "_anonymized")
        if output and len(inputs) > 1:
            root = output / item.resolve().name
        found = [Job(f, root / f.relative_to(item)) for f in _walk(item, skip=root)]
        if not found:
            raise click.UsageError(f"{_show(item)} contains no video or photo files")
        jobs.extend(found)
    return jobs


def _walk(folder: Path, skip: Path) -> Iterator[Path]:
    """Media files under ``folder`` in a stable order; symlinked folders are not followed
    (no loops), and nothing inside the output folder is taken as input."""
    skip = skip.resolve()
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() != skip)
        for name in sorted(filenames):
            path = here / name
            if path.suffix.lower() in _MEDIA and not name.startswith("."):
                yield path


def _beside(src: Path) -> Path:
    return src.with_name(f"{src.stem}_anonymized{src.suffix}")


def _one_line(err: object) -> str:
    return " ".join(str(err).split())


def _show(path: Path) -> str:
    """A path on one line: control characters (a newline in a name) are escaped."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _error(src: Path, err: object) -> None:
    click.echo(f"error: {_show(src)}: {_one_line(err)}", err=True)


def _fail(src: Path, err: object) -> None:
    _error(src, err)
    sys.exit(1)


@main.command("review")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 [default: any free port].",
)
@click.option("--no-browser", is_flag=True, help="Print the page's address without opening it.")
@_settings_options
def review(src: Path, port: int, no_browser: bool, **settings_kw) -> None:
    """Check, correct and render SRC in a local page (detects first if SRC.regions.json is
    missing). Edits are saved to the regions file as you make them; Ctrl+C stops."""
    from anonymize.review import ReviewError, serve

    bar = tqdm(unit="frame", desc=f"detecting in {src.name}", leave=False, delay=1)

    def announce(url: str) -> None:
        bar.close()
        click.echo(f"review page (this address is the only way in): {url}", err=True)
        click.echo("press Ctrl+C to stop", err=True)

    try:
        serve(
            src,
            _settings(**settings_kw),
            port=port,
            open_browser=not no_browser,
            announce=announce,
            progress=bar.update,
        )
    except (*_FAILURES, ReviewError) as err:
        bar.close()
        _fail(src, err)
