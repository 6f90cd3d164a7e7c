"""The ``anonymize`` command: turns options into calls and prints what they did.

``anonymize FILE...`` is the one-shot job (the hidden default command ``run``); ``detect``,
``render``, ``review``, ``batch`` and ``eval`` are the steps and tools around it. Each command
lists only the options it uses, and takes every default from ``Settings``. The work lives in
``api`` (one file) and ``batch`` (planning and running many). A user's error is one line:
exit code 2 for usage errors, 1 when any file failed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn, get_args, get_origin, get_type_hints

import click

from anonymize import __version__, media, progress
from anonymize.api import Anonymizer, Progress, report_path
from anonymize.audit import AUDIT_FOLDER, claim_record, inside, record_path
from anonymize.audit import default_folder as default_audit_folder
from anonymize.batch import (
    ENGINES,
    MEDIA_EXTENSIONS,
    Job,
    JobResult,
    PlanError,
    beside,
    left_out,
    plan,
    run_jobs,
    run_serial,
)
from anonymize.config import TARGETS, Settings
from anonymize.errors import FILE_FAILURES, UserError, one_line, show_path
from anonymize.regions import load as load_regions
from anonymize.regions import save as save_regions

__all__ = ["main"]


class _DefaultCommandGroup(click.Group):
    """A group whose first argument, when it is not a command, goes to ``run``; a user's
    error that reaches it is one line (a plan that makes no run is a usage error)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PlanError as err:
            raise click.UsageError(str(err)) from err
        except UserError as err:
            raise click.ClickException(str(err)) from err


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

    A command's options: anonymize run --help (what the first lines run), anonymize
    review --help, and so on.

    Each output's audit record (the input's name and hash, settings, regions) goes to
    anonymize-audit/ beside the inputs, never among the outputs: it must not be published.

    Automatic detection can miss faces: review the output before publishing it.
    """


def _settings_options(*names: str) -> Callable[[Callable], Callable]:
    """The options that decide what a run produces, those of ``names`` only: each command
    lists just the settings it uses (a setting that does nothing there would mislead)."""
    unknown = set(names) - set(_SETTING_OPTIONS)
    if unknown:
        raise ValueError(f"no such setting option: {sorted(unknown)}")

    def decorate(func: Callable) -> Callable:
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


_FIELD_TYPES = get_type_hints(Settings)


def _setting(flag: str, help: str, **kw) -> Callable:
    """The option for the ``Settings`` field of the same name, with its default from there
    (what the command line leaves out is what Python callers get) and, for a closed set of
    values, its choices from the field's type."""
    name = flag.removeprefix("--").replace("-", "_")
    if get_origin(_FIELD_TYPES[name]) is Literal:
        kw.setdefault("type", click.Choice(get_args(_FIELD_TYPES[name])))
    return click.option(flag, default=getattr(Settings, name), show_default=True, help=help, **kw)


def _targets_text(targets: tuple[str, ...]) -> str:
    return "both" if set(targets) == set(TARGETS) else ",".join(targets)


_SETTING_OPTIONS = {
    "targets": click.option(
        "--targets",
        default=_targets_text(Settings.targets),
        show_default=True,
        callback=_parse_targets,
        help="What to obscure: faces, plates or both.",
    ),
    "sensitivity": _setting(
        "--sensitivity",
        "'high' finds more faces at the cost of more false ones; 'lean' changes "
        "less of the picture around faces and misses a few more of them.",
    ),
    "mode": _setting("--mode", "How faces are obscured; every mode is irreversible."),
    "plate_mode": _setting("--plate-mode", "How licence plates are obscured."),
    "shape": _setting(
        "--shape",
        "Shape of face masks: rounded (a squircle), ellipse or box; plates are always boxes.",
    ),
    "padding": _setting(
        "--padding",
        "Grow each box by this fraction of its size per side, in photos and video alike.",
        type=click.FloatRange(0, 2),
    ),
    "audio": _setting("--audio", "Copy audio streams bit-exact, or drop them."),
    "keep_metadata": click.option(
        "--keep-metadata",
        is_flag=True,
        default=Settings.keep_metadata,
        help="Keep container tags (creation time, location, device). Off by default.",
    ),
    "quality": _setting(
        "--quality",
        "Video quality as x264 CRF: lower is better and larger.",
        type=click.IntRange(0, 51),
    ),
    "keyframes": _setting(
        "--keyframes",
        "Longest run of video frames between full detector passes while the scene is "
        "still; a moving camera or people get one every 2 frames, a scene cut at once, quick "
        "passes run between (1: full on every frame, slowest and most thorough).",
        type=click.IntRange(min=1),
    ),
    "backend": _setting(
        "--backend",
        "Where the networks run: auto takes the fastest this machine has (OpenVINO, "
        "else onnxruntime); --verbose says which it took.",
    ),
    "on_error": _setting(
        "--on-error",
        "A frame that cannot be analysed fails the file, or is obscured whole.",
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


def _record_options(func: Callable) -> Callable:
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


@dataclass(frozen=True)
class _Records:
    """Where this run's audit records go: ``folder``, beside each output (``sidecar``), or
    nowhere (``write`` off)."""

    write: bool
    folder: Path | None = None

    def describe(self) -> str:
        if not self.write:
            return "none written (--no-report)"
        if self.folder is None:
            return "beside each output (--sidecar); they name the originals: do not publish them"
        return show_path(self.folder)


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
    if (
        output is not None
        and output.suffix.lower() not in MEDIA_EXTENSIONS
        and inside(folder, output)
    ):
        raise click.UsageError(
            f"the audit folder {show_path(folder)} is inside the output folder; "
            "name one outside it with --audit"
        )
    try:  # checked now, not after the first file's work (raw footage may be read-only)
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise click.UsageError(
            f"cannot write audit records in {show_path(folder)} ({err.strerror or err}); "
            "name a folder for them with --audit DIR"
        ) from None
    return _Records(write=True, folder=folder)


@dataclass(frozen=True)
class _Many:
    """What a run over many files was asked (``run`` and ``batch`` alike): the inputs,
    where outputs and audit records go, and how it reports."""

    inputs: tuple[Path, ...]
    output: Path | None
    overwrite: bool
    audit: Path | None
    sidecar: bool
    no_report: bool
    neutral_names: bool
    quiet: bool
    as_json: bool

    @contextlib.contextmanager
    def planned(self) -> Iterator[tuple[_Records, list[Job]]]:
        """The run's records and jobs (``plan``). The output and audit folders the run makes
        are removed when it ends if it wrote nothing there (every file failed, or Ctrl+C): a
        folder of nothing looks like a finished run's."""
        made = [_highest_missing(folder) for folder in self._folders() if not folder.exists()]
        try:
            yield self.plan()
        finally:
            for folder in made:
                _remove_empty(folder)

    def _folders(self) -> list[Path]:
        """The output folder and the audit folder this run names (none for a file's name,
        nor for records beside the outputs or none)."""
        folders = []
        if self.output is not None and self.output.suffix.lower() not in MEDIA_EXTENSIONS:
            folders.append(self.output)
        if not (self.sidecar or self.no_report):
            folders.append(self.audit or default_audit_folder(self.inputs[0]))
        return folders

    def plan(self) -> tuple[_Records, list[Job]]:
        """Where the records go (checked now, before any work) and the run's jobs."""
        records = _records(
            self.inputs[0],
            self.audit,
            self.sidecar,
            self.no_report,
            self.neutral_names,
            self.output,
        )
        jobs = plan(self.inputs, self.output, records.folder, self.neutral_names)
        _say_left_out(left_out(self.inputs, self.output))
        return records, jobs

    def finish(self, results: list[JobResult], jobs: list[Job], records: _Records) -> None:
        _summarise(results, jobs, self.as_json, _outputs_where(jobs, self.output), records)


def _highest_missing(folder: Path) -> Path:
    """Of the folders a missing ``folder`` needs, the outermost: making it makes them all."""
    folder = Path(os.path.abspath(folder))
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def _remove_empty(folder: Path) -> None:
    """Remove ``folder`` and the folders in it, as far as they are empty."""
    for path, _, _ in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _many_options(output: Callable) -> Callable:
    """The options of a run over many files, handed to the command as one ``_Many``;
    ``output`` is the command's own ``-o``."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def command(**kw) -> None:
            fields = {name: kw.pop(name) for name in _Many.__dataclass_fields__}
            func(_Many(**fields), **kw)

        options = [
            click.argument(
                "inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
            ),
            output,
            click.option("--overwrite", is_flag=True, help="Replace outputs that already exist."),
            _record_options,
            click.option(
                "--neutral-names",
                is_flag=True,
                help="Name outputs by a keyed hash instead of after their inputs, all in the "
                "output folder; only the audit record says which input each came from.",
            ),
            click.option("-q", "--quiet", is_flag=True, help="No progress display."),
            click.option(
                "--json", "as_json", is_flag=True, help="Print a machine-readable summary."
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@main.command("run")
@_many_options(
    click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path),
        help="Output file (one input) or folder (several inputs or a folder).",
    )
)
@_VERBOSE
@_settings_options(*_ONE_SHOT)
def run(many: _Many, verbose: bool, **settings_kw) -> None:
    """Obscure every face and plate in INPUTS (files or folders)."""
    with many.planned() as (records, jobs):
        anonymizer = Anonymizer(_settings(**settings_kw))
        interrupted = _watch_interrupts()
        watch = functools.partial(_frame_progress, quiet=many.quiet, nested=True)
        results = run_serial(
            jobs, anonymizer, overwrite=many.overwrite, report=records.write, watch=watch
        )
        finished = _follow(results, len(jobs), many.quiet or len(jobs) < 2, interrupted)
        if verbose:
            _explain(anonymizer)
        many.finish(finished, jobs, records)


def _follow(
    results: Iterable[JobResult],
    total: int,
    quiet: bool,
    interrupted: threading.Event | None = None,
) -> list[JobResult]:
    """Show the run's progress over files and each failure as it comes; the results."""
    finished: list[JobResult] = []
    try:
        with contextlib.closing(progress.bar(total, "files", "file", quiet=quiet)) as overall:
            for result in results:
                if interrupted is not None and interrupted.is_set():
                    raise KeyboardInterrupt  # the file's own work was undone; stop the run
                if result.status == "failed":
                    _error(result.job.src, result.error)
                if result.stopped:
                    why = f"outputs cannot be written there ({result.stopped}); run stopped"
                    _error(result.job.dst.parent, why)
                finished.append(result)
                overall.update(1)
    except KeyboardInterrupt:
        _stop_interrupted(finished, total)
    return finished


def _stop_interrupted(finished: list[JobResult], total: int) -> NoReturn:
    """After Ctrl+C: what is finished, that no unfinished output was left under its name, and
    how to go on; the shell's exit status for an interrupt."""
    done = sum(result.status == "done" for result in finished)
    click.echo(
        f"interrupted: {done} of {total} anonymized; nothing unfinished was written. "
        "Run the same command again to go on: without --overwrite it skips finished outputs.",
        err=True,
    )
    sys.exit(130)


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
def _frame_progress(src: Path, quiet: bool, nested: bool = False) -> Iterator[Progress]:
    """A file's progress over its frames, for as long as the block runs."""
    with contextlib.closing(_frame_bar(src, quiet, nested=nested)) as bar:
        yield bar.update


@contextlib.contextmanager
def _failing(src: Path) -> Iterator[None]:
    """A user's error in the block ends the command with one line naming ``src``."""
    try:
        yield
    except FILE_FAILURES as err:
        _error(src, err)
        sys.exit(1)


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


def _say_left_out(paths: list[Path], shown: int = 5) -> None:
    """Name the files in the input folders that the run leaves alone (not media)."""
    if not paths:
        return
    names = ", ".join(show_path(p) for p in paths[:shown])
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    click.echo(f"left out, not a video or photo: {names}{more}", err=True)


def _outputs_where(jobs: list[Job], output: Path | None) -> str:
    """Where the outputs of a run went, for its closing lines."""
    if output is not None:
        return show_path(output)
    if len(jobs) == 1:
        return show_path(jobs[0].dst)
    folders = sorted({str(job.dst.parent) for job in jobs})
    return show_path(Path(folders[0])) if len(folders) == 1 else "beside each input"


def _summarise(
    results: list[JobResult], jobs: list[Job], as_json: bool, outputs: str, records: _Records
) -> None:
    """Close the run by saying what it did (in plan order), where the outputs went and
    where the audit records went; exit 1 when any file failed."""
    order = {job: position for position, job in enumerate(jobs)}
    results = sorted(results, key=lambda result: order[result.job])
    counts = {s: sum(1 for r in results if r.status == s) for s in ("done", "skipped", "failed")}
    if as_json:
        summary = {"files": [r.to_dict() for r in results], **counts, "outputs": outputs}
        summary["audit"] = str(records.folder) if records.folder else records.describe()
        click.echo(json.dumps(summary, indent=1))
    else:
        for r in results:
            if r.status == "skipped":
                click.echo(f"skipped {show_path(r.job.src)}: {r.reason}", err=True)
        click.echo(
            f"{counts['done']} anonymized, {counts['skipped']} skipped, {counts['failed']} failed",
            err=True,
        )
        # Skipped as finished, an output is there; skipped as not attempted, it is not.
        if any(
            r.status == "done" or (r.status == "skipped" and r.job.dst.exists()) for r in results
        ):
            click.echo(f"outputs: {outputs}", err=True)
            click.echo(f"audit records: {records.describe()}", err=True)
        else:  # naming the file a failed run would have written sends the user looking for it
            click.echo("outputs: none written", err=True)
            click.echo("audit records: none written", err=True)
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
@click.option(
    "--overwrite", is_flag=True, help="Replace the regions file if it exists (and its edits)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@_settings_options(*_FIND)
def detect(src: Path, output: Path | None, overwrite: bool, quiet: bool, **settings_kw) -> None:
    """Find faces and plates in SRC and write the regions file, without rendering.

    The regions file names and hashes SRC: keep it with the footage, not with what you
    publish."""
    output = output or src.with_name(src.name + ".regions.json")
    if output.exists() and not overwrite:
        raise click.UsageError(
            f"{show_path(output)} exists and may hold a review's corrections "
            "(use --overwrite to detect again)"
        )
    with _failing(src):
        with _frame_progress(src, quiet) as frames_done:
            regions = Anonymizer(_settings(**settings_kw)).detect(src, progress=frames_done)
        save_regions(regions, output)
    click.echo(
        f"{len(regions.tracks)} tracks in {regions.input.frame_count} frames; "
        f"wrote {show_path(output)}",
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
    output = output or beside(src)
    if output.exists() and not overwrite:
        raise click.UsageError(f"{show_path(output)} exists (use --overwrite)")
    records = _records(src, audit, sidecar, no_report)
    record = (
        claim_record(record_path(records.folder, Path(output.name)), output)
        if records.folder
        else None
    )
    anonymizer = Anonymizer(_settings(**settings_kw), detectors=[])
    with _failing(regions_path):  # a broken regions file is named, not the footage
        regions = load_regions(regions_path)
    with _failing(src):
        output.parent.mkdir(parents=True, exist_ok=True)
        with _frame_progress(src, quiet) as frames_done:
            anonymizer.render(
                src,
                output,
                regions,
                progress=frames_done,
                report=record or (records.write and report_path(output)),
            )
    click.echo(f"wrote {show_path(output)}", err=True)
    where = show_path(record) if record else records.describe()
    click.echo(f"audit record: {where}", err=True)


@main.command("batch")
@_many_options(
    click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(path_type=Path),
        help="Folder the inputs are mirrored into.",
    )
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
@_settings_options(*_ONE_SHOT)
def batch(
    many: _Many,
    engine: str,
    address: str | None,
    workers: int | None,
    retries: int,
    **settings_kw,
) -> None:
    """Obscure every face and plate in INPUTS, many files at once, on this machine or a Ray
    cluster (whose workers must see the same paths, e.g. a shared file system)."""
    if address and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    with many.planned() as (records, jobs):
        results = run_jobs(
            jobs,
            _settings(**settings_kw),
            engine,
            overwrite=many.overwrite,
            report=records.write,
            workers=workers,
            address=address,
            max_retries=retries,
        )
        many.finish(_follow(results, len(jobs), many.quiet), jobs, records)


@main.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@_settings_options("targets", "sensitivity", "padding", "backend", *_DRAW)
def evaluate(folder: Path, as_json: bool, **settings_kw) -> None:
    """Measure how much of FOLDER's annotated boxes (gt.json) the real pipeline obscures."""
    from anonymize import eval as evaluation

    if not (folder / "gt.json").is_file():
        raise click.UsageError(
            f"{show_path(folder)} has no gt.json (see the README for its format)"
        )
    result = evaluation.evaluate(folder, _settings(**settings_kw))
    click.echo(
        json.dumps(result.to_dict(), indent=1) if as_json else evaluation.format_report(result)
    )


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
    from anonymize.review import regions_path, serve

    saved = regions_path(src)
    if saved.exists():  # found and edited before: what this run's finding options would change
        click.echo(
            f"reviewing {show_path(saved)} as saved, earlier edits kept; options that find "
            "(--targets, --sensitivity, --padding, --keyframes) apply only when it is made: "
            f"'anonymize detect {show_path(src)} --overwrite' detects again",
            err=True,
        )
    with _failing(src):
        with contextlib.closing(
            _frame_bar(src, False, desc=f"detecting in {src.name}", delay=1)
        ) as bar:
            serve(
                src,
                _settings(**settings_kw),
                port=port,
                open_browser=not no_browser,
                announce=functools.partial(_announce, src, bar),
                progress=bar.update,
            )
    click.echo(f"review stopped; every edit is saved in {show_path(saved)}", err=True)


def _announce(src: Path, bar: progress.Bar, url: str) -> None:
    """Say where the review page is, once it is ready (detecting, if it had to, is done)."""
    from anonymize.review import output_path, record_path

    bar.close()
    click.echo(f"review page (this address is the only way in): {url}", err=True)
    click.echo(
        f"its render writes {show_path(output_path(src))}, and the audit record "
        f"{show_path(record_path(src))}",
        err=True,
    )
    click.echo("press Ctrl+C to stop", err=True)


def _error(src: Path, err: object) -> None:
    click.echo(f"error: {show_path(src)}: {one_line(err)}", err=True)
