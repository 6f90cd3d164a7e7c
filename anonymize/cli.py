"""The ``anonymize`` command: parses, validates and reports; the work lives in api.py.

``anonymize FILE...`` is the one-shot job (the hidden default command ``run``); ``detect``,
``render``, ``review``, ``batch`` and ``eval`` are the steps and tools around it. Each command
lists only the options it uses. Errors are one sentence naming the file: exit code 2 for usage
errors, 1 when any file failed.
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
from dataclasses import dataclass
from pathlib import Path

import click

from anonymize import __version__, media, progress
from anonymize.api import AnalysisError, Anonymizer, Progress
from anonymize.audit import AUDIT_FOLDER, inside, neutral_name, record_path
from anonymize.audit import default_folder as default_audit_folder
from anonymize.batch import ENGINES, BatchError, Job, anonymize_job, run_jobs, skip_existing
from anonymize.config import MODES, SENSITIVITIES, SHAPES, TARGETS, Settings
from anonymize.media.atomic import remove_leftovers
from anonymize.regions import RegionsError
from anonymize.regions import load as load_regions
from anonymize.regions import save as save_regions
from anonymize.runtime import BACKENDS

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
      anonymize footage/ -o safe/ --neutral-names
      anonymize detect clip.mp4          writes clip.mp4.regions.json beside it
      anonymize review clip.mp4          check and correct it in a local page, then render
      anonymize render clip.mp4 --regions clip.mp4.regions.json -o out.mp4
      anonymize batch footage/ -o safe/  many files at once (--engine ray for a cluster)

    Each output's audit record (the input's name and hash, settings, regions) goes to
    anonymize-audit/ beside the inputs, never among the outputs: it must not be published.

    Automatic detection can miss faces: review the output before publishing it.
    """


def _settings_options(*names: str):
    """The options that decide what a run produces, those of ``names`` only: each command
    lists just the settings it uses (a setting that does nothing there would mislead)."""
    unknown = set(names) - set(_SETTING_OPTIONS)
    if unknown:
        raise ValueError(f"no such setting option: {sorted(unknown)}")

    def decorate(func):
        for name in reversed(_SETTING_OPTIONS):
            if name in names:
                func = _SETTING_OPTIONS[name](func)
        return func

    return decorate


def _parse_targets(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    """``faces``, ``plates``, ``both``, or a comma-separated list of the first two."""
    if value.strip() == "both":
        return TARGETS
    targets = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise click.BadParameter(f"choose faces, plates or both (got {value!r})")
    return targets


_SETTING_OPTIONS = {
    "targets": click.option(
        "--targets",
        default="both",
        show_default=True,
        callback=_parse_targets,
        help="What to obscure: faces, plates or both.",
    ),
    "sensitivity": click.option(
        "--sensitivity",
        type=click.Choice(SENSITIVITIES),
        default="standard",
        show_default=True,
        help="'high' finds more faces at the cost of more false ones; 'lean' changes "
        "less of the picture around faces and misses a few more of them.",
    ),
    "mode": click.option(
        "--mode",
        type=click.Choice(MODES),
        default="blur",
        show_default=True,
        help="How faces are obscured; every mode is irreversible.",
    ),
    "plate_mode": click.option(
        "--plate-mode",
        type=click.Choice(MODES),
        default=Settings.plate_mode,
        show_default=True,
        help="How licence plates are obscured.",
    ),
    "shape": click.option(
        "--shape",
        type=click.Choice(SHAPES),
        default=Settings.shape,
        show_default=True,
        help="Shape of face masks: rounded (a squircle), ellipse or box; plates are always boxes.",
    ),
    "padding": click.option(
        "--padding",
        type=click.FloatRange(0, 2),
        default=Settings.padding,
        show_default=True,
        help="Grow each box by this fraction of its size per side (half of it for boxes "
        "100 px or taller in photos).",
    ),
    "audio": click.option(
        "--audio",
        type=click.Choice(["copy", "drop"]),
        default="copy",
        show_default=True,
        help="Copy audio streams bit-exact, or drop them.",
    ),
    "keep_metadata": click.option(
        "--keep-metadata",
        is_flag=True,
        help="Keep container tags (creation time, location, device). Off by default.",
    ),
    "quality": click.option(
        "--quality",
        type=click.IntRange(0, 51),
        default=Settings.quality,
        show_default=True,
        help="Video quality as x264 CRF: lower is better and larger.",
    ),
    "keyframes": click.option(
        "--keyframes",
        type=click.IntRange(min=1),
        default=Settings.keyframes,
        show_default=True,
        help="Longest run of video frames between full detector passes while the scene is "
        "still; a moving camera or people get one every 2 frames, a scene cut at once, quick "
        "passes run between (1: full on every frame, slowest and most thorough).",
    ),
    "backend": click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=Settings.backend,
        show_default=True,
        help="Where the networks run: auto takes the fastest this machine has (OpenVINO, "
        "else onnxruntime); --verbose says which it took.",
    ),
    "on_error": click.option(
        "--on-error",
        type=click.Choice(["fail", "obscure-frame"]),
        default="fail",
        show_default=True,
        help="A frame that cannot be analysed fails the file, or is obscured whole.",
    ),
}
# What each command uses: finding regions, drawing them, writing a file.
_FIND = ("targets", "sensitivity", "keyframes", "padding", "backend")
_DRAW = ("mode", "shape")
_WRITE = ("plate_mode", "audio", "keep_metadata", "quality")
_ONE_SHOT = (*_FIND, *_DRAW, *_WRITE, "on_error")


_VERBOSE = click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Say where each network ran and where the time went, stage by stage.",
)


def _settings(**kw) -> Settings:
    """The run's settings from the options its command has; the rest keep their defaults."""
    if kw.get("keep_metadata"):
        click.echo(
            "warning: --keep-metadata keeps creation time, location and device tags", err=True
        )
    return Settings(**kw)


def _record_options(func):
    """Where the audit record of each output goes: the audit folder, beside it, or nowhere."""
    options = [
        click.option(
            "--audit",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for the audit records (input name and hash, settings, regions) "
            f"[default: {AUDIT_FOLDER}/ beside the inputs]. Never inside the output folder.",
        ),
        click.option(
            "--sidecar",
            is_flag=True,
            help="Write each audit record beside its output instead (OUTPUT.json). It names "
            "and hashes the original: do not publish it.",
        ),
        click.option("--no-report", is_flag=True, help="Write no audit record."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_NEUTRAL_NAMES = click.option(
    "--neutral-names",
    is_flag=True,
    help="Name outputs by a keyed hash instead of after their inputs, all in the output "
    "folder; only the audit record says which input each came from.",
)


@dataclass(frozen=True)
class _Records:
    """Where this run's audit records go: ``folder``, beside each output (``sidecar``), or
    nowhere (``write`` off)."""

    write: bool
    folder: Path | None = None

    @property
    def sidecar(self) -> bool:
        return self.write and self.folder is None

    def describe(self) -> str:
        if not self.write:
            return "none written (--no-report)"
        if self.folder is None:
            return "beside each output (--sidecar); they name the originals: do not publish them"
        return _show(self.folder)


def _records(
    first_input: Path,
    audit: Path | None,
    sidecar: bool,
    no_report: bool,
    neutral: bool = False,
    output: Path | None = None,
) -> _Records:
    """Check the record options against each other and against the output folder (``output``
    when it names one), and settle where the records go."""
    if no_report and (sidecar or audit or neutral):
        other = "--sidecar" if sidecar else "--audit" if audit else "--neutral-names"
        hint = " (the audit record is where the names are kept)" if neutral else ""
        raise click.UsageError(f"--no-report and {other} cannot go together{hint}")
    if sidecar and (audit or neutral):
        other = "--audit" if audit else "--neutral-names"
        raise click.UsageError(f"--sidecar and {other} cannot go together")
    if no_report:
        return _Records(write=False)
    if sidecar:
        click.echo("warning: --sidecar puts each input's name and hash beside its output", err=True)
        return _Records(write=True)
    folder = audit or default_audit_folder(first_input)
    if output is not None and output.suffix.lower() not in _MEDIA and inside(folder, output):
        raise click.UsageError(
            f"the audit folder {_show(folder)} is inside the output folder; "
            "name one outside it with --audit"
        )
    try:  # checked now, not after the first file's work (raw footage may be read-only)
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise click.UsageError(
            f"cannot write audit records in {_show(folder)} ({err.strerror or err}); "
            "name a folder for them with --audit DIR"
        ) from None
    return _Records(write=True, folder=folder)


@main.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file (one input) or folder (several inputs or a folder).",
)
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@_record_options
@_NEUTRAL_NAMES
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_VERBOSE
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@_settings_options(*_ONE_SHOT)
def run(
    inputs: tuple[Path, ...],
    output: Path | None,
    overwrite: bool,
    audit: Path | None,
    sidecar: bool,
    no_report: bool,
    neutral_names: bool,
    quiet: bool,
    verbose: bool,
    as_json: bool,
    **settings_kw,
) -> None:
    """Obscure every face and plate in INPUTS (files or folders)."""
    records = _records(inputs[0], audit, sidecar, no_report, neutral_names, output)
    jobs = _plan(inputs, output, records.folder, neutral_names)
    anonymizer = Anonymizer(_settings(**settings_kw))
    results = []
    overall = progress.bar(len(jobs), "files", "file", quiet=quiet or len(jobs) < 2)
    interrupted = _watch_interrupts()
    for position, job in enumerate(jobs):
        remove_leftovers(job.dst)  # of a run killed before it could tidy up
        result = skip_existing(job, overwrite) or anonymize_job(
            anonymizer, job, records.write, watch=lambda src: _frame_progress(src, quiet)
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
    if verbose:
        _explain(anonymizer)
    _summarise(results, as_json, _outputs_where(jobs, output), records)


def _explain(anonymizer: Anonymizer) -> None:
    """Where the networks ran and the CPU time of each stage (stages that ran in threads of
    their own overlap, so the wall time is less than the sum)."""
    if anonymizer.engines:
        networks = ", ".join(f"{name} on {engine}" for name, engine in anonymizer.engines.items())
        click.echo(f"networks: {networks}", err=True)
    seconds = sorted(anonymizer.stages.seconds.items(), key=lambda kv: -kv[1])
    if seconds:
        click.echo(
            "CPU seconds by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds), err=True
        )


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
    bar = _frame_bar(src, quiet, nested=True)
    try:
        yield bar.update
    finally:
        bar.close()


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


def _frame_bar(
    src: Path, quiet: bool, nested: bool = False, desc: str = "", delay: float = 0.0
) -> progress.Bar:
    """A per-file progress display over the frames of a video (none for a photo), with the
    frame count the container declares as its total."""
    info = media.probe(src)
    if info.kind != "video":
        return progress.bar(None, src.name, "frame", quiet=True)
    total = info.frame_count or None
    return progress.bar(total, desc or src.name, "frame", quiet=quiet, nested=nested, delay=delay)


def _outputs_where(jobs: list[Job], output: Path | None) -> str:
    """Where the outputs of a run went, for its closing lines."""
    if output is not None:
        return _show(output)
    if len(jobs) == 1:
        return _show(jobs[0].dst)
    folders = sorted({str(job.dst.parent) for job in jobs})
    return _show(Path(folders[0])) if len(folders) == 1 else "beside each input"


def _summarise(results: list[dict], as_json: bool, outputs: str, records: _Records) -> None:
    """Close the run by saying what it did, where the outputs went and where the audit
    records went; exit 1 when any file failed."""
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("done", "skipped", "failed")}
    if as_json:
        summary = {"files": results, **counts, "outputs": outputs}
        summary["audit"] = str(records.folder) if records.folder else records.describe()
        click.echo(json.dumps(summary, indent=1))
    else:
        for r in results:
            if r["status"] == "skipped":
                click.echo(f"skipped {_show(Path(r['input']))}: {r['reason']}", err=True)
        click.echo(
            f"{counts['done']} anonymized, {counts['skipped']} skipped, {counts['failed']} failed",
            err=True,
        )
        click.echo(f"outputs: {outputs}", err=True)
        click.echo(f"audit records: {records.describe()}", err=True)
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
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_settings_options(*_FIND)
def detect(src: Path, output: Path | None, quiet: bool, **settings_kw) -> None:
    """Find faces and plates in SRC and write the regions file, without rendering.

    The regions file names and hashes SRC: keep it with the footage, not with what you
    publish."""
    output = output or src.with_name(src.name + ".regions.json")
    try:
        bar = _frame_bar(src, quiet)
        try:
            regions = Anonymizer(_settings(**settings_kw)).detect(src, progress=bar.update)
        finally:
            bar.close()
        save_regions(regions, output)
    except _FAILURES as err:
        _fail(src, err)
    click.echo(
        f"{len(regions.tracks)} tracks in {regions.input.frame_count} frames; "
        f"wrote {_show(output)}",
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
@_record_options
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_settings_options(*_DRAW, *_WRITE)
def render(
    src: Path,
    regions_path: Path,
    output: Path | None,
    overwrite: bool,
    audit: Path | None,
    sidecar: bool,
    no_report: bool,
    quiet: bool,
    **settings_kw,
) -> None:
    """Render SRC with exactly the regions in the regions file obscured."""
    output = output or _beside(src)
    if output.exists() and not overwrite:
        raise click.UsageError(f"{_show(output)} exists (use --overwrite)")
    records = _records(src, audit, sidecar, no_report)
    record = record_path(records.folder, Path(output.name)) if records.folder else None
    anonymizer = Anonymizer(_settings(**settings_kw), detectors=[])
    try:
        regions = load_regions(regions_path)
        output.parent.mkdir(parents=True, exist_ok=True)
        bar = _frame_bar(src, quiet)
        try:
            anonymizer.render(
                src, output, regions, progress=bar.update, report=record or records.write
            )
        finally:
            bar.close()
    except _FAILURES as err:
        _fail(src, err)
    click.echo(f"wrote {_show(output)}", err=True)
    where = _show(record) if record else records.describe()
    click.echo(f"audit record: {where}", err=True)


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
@_record_options
@_NEUTRAL_NAMES
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@_settings_options(*_ONE_SHOT)
def batch(
    inputs: tuple[Path, ...],
    output: Path,
    engine: str,
    address: str | None,
    workers: int | None,
    retries: int,
    overwrite: bool,
    audit: Path | None,
    sidecar: bool,
    no_report: bool,
    neutral_names: bool,
    quiet: bool,
    as_json: bool,
    **settings_kw,
) -> None:
    """Obscure every face and plate in INPUTS, many files at once, on this machine or a Ray
    cluster (whose workers must see the same paths, e.g. a shared file system)."""
    if address and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    records = _records(inputs[0], audit, sidecar, no_report, neutral_names, output)
    jobs = _plan(inputs, output, records.folder, neutral_names)
    settings = _settings(**settings_kw)
    order = {(str(job.src), str(job.dst)): i for i, job in enumerate(jobs)}
    results = []
    overall = progress.bar(len(jobs), "files", "file", quiet=quiet)
    try:
        for result in run_jobs(
            jobs,
            settings,
            engine,
            overwrite=overwrite,
            report=records.write,
            workers=workers,
            address=address,
            max_retries=retries,
        ):
            _report_failure(result)
            results.append(result)
            overall.update(1)
    except BatchError as err:
        raise click.ClickException(str(err)) from err
    finally:
        overall.close()
    ordered = sorted(results, key=lambda r: order[r["input"], r["output"]])
    _summarise(ordered, as_json, _outputs_where(jobs, output), records)


@main.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@_settings_options("targets", "sensitivity", "padding", *_DRAW)
def evaluate(folder: Path, as_json: bool, **settings_kw) -> None:
    """Measure how much of FOLDER's annotated boxes (gt.json) the real pipeline obscures."""
    from anonymize import eval as evaluation

    if not (folder / "gt.json").is_file():
        raise click.UsageError(f"{_show(folder)} has no gt.json (see the README for its format)")
    result = evaluation.evaluate(folder, _settings(**settings_kw))
    click.echo(
        json.dumps(result.to_dict(), indent=1) if as_json else evaluation.format_report(result)
    )


def _plan(
    inputs: tuple[Path, ...],
    output: Path | None,
    audit: Path | None = None,
    neutral: bool = False,
) -> list[Job]:
    """Pair each input file with its output path, and with its audit record in ``audit``
    when there is one; folders are walked and mirrored. With ``neutral`` names, outputs are
    named by ``neutral_name`` and not mirrored: a folder's name can say as much as a file's.
    """
    if neutral and audit is None:
        raise ValueError("neutral names need an audit folder to keep their key and mapping")
    single_file = len(inputs) == 1 and inputs[0].is_file()
    if (
        single_file
        and output is not None
        and output.suffix.lower() in _MEDIA
        and not output.is_dir()
    ):
        return [Job(inputs[0], output, _record(audit, Path(output.name)))]
    jobs = []
    for item in inputs:
        if item.is_file():
            if neutral:
                name = neutral_name(audit, item.name, item.suffix)
            else:
                name = item.name if output else _beside(item).name
            jobs.append(Job(item, (output or item.parent) / name, _record(audit, Path(name))))
            continue
        root = output or item.with_name(item.name + "_anonymized")
        if output and len(inputs) > 1 and not neutral:
            root = output / item.resolve().name
        base = output or root.parent  # record paths mirror the outputs' paths under it
        found = []
        for path in _walk(item, skip=root):
            if neutral:
                source = path.relative_to(item.parent).as_posix()
                dst = root / neutral_name(audit, source, path.suffix)
            else:
                dst = root / path.relative_to(item)
            found.append(Job(path, dst, _record(audit, dst.relative_to(base))))
        if not found:
            raise click.UsageError(f"{_show(item)} contains no video or photo files")
        jobs.extend(found)
    return jobs


def _record(audit: Path | None, output_name: Path) -> Path | None:
    return record_path(audit, output_name) if audit is not None else None


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
@_settings_options(*_FIND, *_DRAW)
def review(src: Path, port: int, no_browser: bool, **settings_kw) -> None:
    """Check, correct and render SRC in a local page (detects first if SRC.regions.json is
    missing). Edits are saved to the regions file as you make them; Ctrl+C stops."""
    from anonymize.review import ReviewError, output_path, record_path, serve

    bar = progress.bar(None, "", "frame", quiet=True)

    def announce(url: str) -> None:
        bar.close()
        click.echo(f"review page (this address is the only way in): {url}", err=True)
        click.echo(
            f"its render writes {_show(output_path(src))}, and the audit record "
            f"{_show(record_path(src))}",
            err=True,
        )
        click.echo("press Ctrl+C to stop", err=True)

    try:
        bar = _frame_bar(src, False, desc=f"detecting in {src.name}", delay=1)
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
