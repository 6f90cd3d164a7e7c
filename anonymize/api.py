"""The Python entry points the CLI calls: detect regions, render from regions, or both.

A video is analysed in one pass: a decoder thread reads ahead, the detectors run (in full on
keyframes, quick passes in between), the tracker makes each frame's regions final a bounded
number of frames later, and an encoder thread obscures and writes the frames made final. Only
those few frames wait in memory, so memory stays flat on long files. ``detect`` is the same
pass without the writing and ``render`` draws exactly a regions file, so the one-shot command
writes what ``detect`` followed by ``render`` writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from threadpoolctl import threadpool_limits

from anonymize import media
from anonymize.analysis import Analysis, AnalysisError, StageTimes
from anonymize.audit import default_record
from anonymize.background import Ordered, prefetch
from anonymize.config import RENDERED, Settings
from anonymize.detect import build_detectors
from anonymize.detect.base import Detector
from anonymize.media import MediaInfo, VideoReader, VideoWriter, atomic_output
from anonymize.obscure import obscure, pixel_bounds
from anonymize.regions import FileInfo, RegionsFile, save, sha256_file, summarise_tracks
from anonymize.types import Box, Frame, Region

__all__ = ["AnalysisError", "Anonymizer", "Progress", "Report", "report_path"]

Progress = Callable[[int], None]  # called with the number of frames just processed
_BACKLOG = 4  # frames decoded ahead, and frames waiting for the encoder


def _one_blas_thread():
    """numpy's and scipy's OpenBLAS keep a thread per core that spins (``sched_yield``) after
    every matrix product, and the tracker makes thousands of tiny ones: those threads took the
    cores from the detectors and the encoder, a sixth of a run's CPU went to the kernel.
    One thread each while a file is processed (docs/tuning.md, Threads)."""
    return threadpool_limits(1, user_api="blas")


def report_path(output: Path) -> Path:
    """Where the JSON sidecar of ``output`` goes: beside it, same name plus ``.json``."""
    return output.with_name(output.name + ".json")


# Where a report goes: True in the audit folder beside the input, as the CLI's default puts
# it (``audit.default_record``), a path there, False nowhere. Never beside the output unless
# asked for by path (``report_path``): it names and hashes the input.
Report = bool | Path


class Anonymizer:
    """Loads the detectors once and runs files through detect and render.

    The analysis side (detectors, tracker, the regions file) lives here; obscuring and
    encoding the frames is :class:`_Encoder`'s job, and writing the report
    :func:`_record_output`'s.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        detectors: Sequence[Detector] | None = None,
        serial: bool = False,
    ):
        self.settings = settings or Settings()
        self._detectors = list(detectors) if detectors is not None else None
        # CPU seconds by stage, over every file this one ran. ``serial`` runs one stage at a
        # time, so the process's clock can charge each stage the work libraries hand to
        # threads of their own (see StageTimes): for measuring, not for speed.
        self._backlog = 0 if serial else _BACKLOG
        self.stages = StageTimes(time.process_time if serial else time.thread_time)
        self._encoder = _Encoder(self.settings, self.stages, self._backlog)

    @property
    def detectors(self) -> list[Detector]:
        if self._detectors is None:
            self._detectors = build_detectors(self.settings)
        return self._detectors

    @property
    def engines(self) -> dict[str, str]:
        """Where each network runs (backend and precision), for the report and ``--verbose``;
        a detector without networks of its own (a test's stand-in) has no entry."""
        return {k: v for d in self.detectors for k, v in getattr(d, "engines", {}).items()}

    def anonymize_file(
        self, src: Path, dst: Path, report: Report = True, progress: Progress | None = None
    ) -> RegionsFile:
        """Detect and render ``src`` into ``dst``, and write the report where ``report`` says:
        in ``anonymize-audit/`` beside ``src`` (True), at a path, or not at all (False)."""
        src, dst = Path(src), Path(dst)
        _refuse_overwriting_input(src, dst)
        info = media.probe(src)
        if info.kind == "image":
            return self.render(src, dst, self.detect(src), progress, report=report)
        with _one_blas_thread(), atomic_output(dst) as tmp:
            found = _Found(src, info)
            self._encoder.video(tmp, info, found.recording(self._analysed(src, info, progress)))
            regions = self._regions_file(found)
            _record_output(
                regions, tmp, dst, info, regions.input.frame_count, _target(report, src, dst)
            )
        return regions

    def detect(self, src: Path, progress: Progress | None = None) -> RegionsFile:
        """Find and track everything to obscure in ``src``; nothing is written."""
        src = Path(src)
        info = media.probe(src)
        found = _Found(src, info)
        with _one_blas_thread():
            for _ in found.recording(self._analysed(src, info, progress)):
                pass
        return self._regions_file(found)

    def render(
        self,
        src: Path,
        dst: Path,
        regions: RegionsFile,
        progress: Progress | None = None,
        report: Report = False,
    ) -> RegionsFile:
        """Write ``dst`` with exactly the regions in ``regions`` obscured; return it with hashes.

        With ``report`` (as in ``anonymize_file``) the report is written too, before the
        output takes its final name: a finished output never lacks its report (a re-run
        skips finished outputs)."""
        src, dst = Path(src), Path(dst)
        _refuse_overwriting_input(src, dst)
        if sha256_file(src) != regions.input.sha256:
            raise AnalysisError(f"the regions were made for another file ({regions.input.name})")
        info = media.probe(src)
        with atomic_output(dst) as tmp:
            if info.kind == "image":
                self._encoder.image(src, tmp, info, regions)
                count = 1
            else:
                to_render = _to_render(self._decoded(src, info), regions, progress)
                count = self._encoder.video(tmp, info, to_render)
            if count != regions.input.frame_count:
                raise AnalysisError(
                    f"decoded {count} frames but the regions cover {regions.input.frame_count}"
                )
            drawn = {k: v for k, v in self.settings.to_dict().items() if k in RENDERED}
            regions.settings = {**regions.settings, **drawn}
            _record_output(regions, tmp, dst, info, count, _target(report, src, dst))
        return regions

    def _decoded(self, src: Path, info: MediaInfo) -> Iterator[Frame]:
        """The frames of ``src``, decoded ahead on a thread of their own."""
        return prefetch(self.stages.timed("decode", _frames(src, info)), self._backlog, "decode")

    def _analysed(
        self, src: Path, info: MediaInfo, progress: Progress | None
    ) -> Iterator[tuple[Frame, list[Region]]]:
        """Every frame in order with its final, padded regions (see :mod:`anonymize.analysis`)."""
        analysis = Analysis(
            self.detectors,
            (info.width, info.height),
            every=self.settings.keyframes if info.kind == "video" else 1,
            video=info.kind == "video",
            obscure_failed=self.settings.on_error == "obscure-frame",
            stages=self.stages,
            pixel_aspect=info.pixel_aspect,
            interlaced=info.field_order != "progressive",
        )
        with closing(self._decoded(src, info)) as frames:
            for frame, regions in analysis.run(_counted(frames, progress)):
                yield frame, _padded(regions, info, self.settings)

    def _regions_file(self, found: _Found) -> RegionsFile:
        if not found.times:
            raise AnalysisError("no frames could be decoded")
        return RegionsFile(
            input=_file_info(found.src, found.info, frame_count=len(found.times)),
            frames=found.frames,
            tracks=summarise_tracks(found.frames),
            settings=self.settings.to_dict(),
            models=[d.name for d in self.detectors],
            runtime=self.engines,
            times=found.times if found.info.kind == "video" else {},
        )


class _Encoder:
    """Obscures frames and encodes them, on a thread of its own ``backlog`` frames behind
    the caller (at once with ``backlog`` 0), charging ``stages`` the time of each."""

    def __init__(self, settings: Settings, stages: StageTimes, backlog: int) -> None:
        self.settings = settings
        self.stages = stages
        self.backlog = backlog

    def video(
        self, tmp: Path, info: MediaInfo, frames: Iterator[tuple[Frame, list[Region]]]
    ) -> int:
        """Write each of ``frames`` with its regions obscured to ``tmp``; return how many.
        ``frames`` is closed on the way out, so whatever feeds it stops with the writer."""
        count = 0
        with (
            VideoWriter(tmp, info, self.settings) as writer,
            Ordered(self.backlog, "encode") as out,
            closing(frames),
        ):
            for frame, regions in frames:
                out.submit(self._write, writer, frame, regions)
                count += 1
        return count

    def image(self, src: Path, tmp: Path, info: MediaInfo, regions: RegionsFile) -> None:
        """Write the photo ``src`` to ``tmp`` with ``regions`` obscured."""
        frame = next(iter(_frames(src, info)))
        todo = regions.regions_to_render(frame.index, frame.time)
        media.write_image(tmp, obscure(frame.image, todo, self.settings), src, self.settings)

    def _write(self, writer: VideoWriter, frame: Frame, regions: list[Region]) -> None:
        with self.stages.measure("obscure"):
            image = obscure(frame.image, regions, self.settings)
            height, width = image.shape[:2]
            changed = [pixel_bounds(r.box, width, height) for r in regions]
        with self.stages.measure("encode"):
            writer.write(frame, image, changed)


def _target(report: Report, src: Path, dst: Path) -> Path | None:
    """The file ``report`` names for the record of ``src`` rendered to ``dst``, if any."""
    if report is False:
        return None
    return default_record(src, dst) if report is True else Path(report)


def _record_output(
    regions: RegionsFile, tmp: Path, dst: Path, info: MediaInfo, count: int, target: Path | None
) -> None:
    """Record the finished output (still under its temporary name) and write the report to
    ``target`` (none: no report)."""
    regions.output = replace(_file_info(tmp, info, frame_count=count), name=dst.name)
    if target is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    save(regions, target)


def _padded(regions: Sequence[Region], info: MediaInfo, settings: Settings) -> list[Region]:
    """Pad and clip tracker output into the boxes the regions file records, at the
    precision it records them, so a one-shot run draws what detect + render would."""
    out = []
    for region in regions:
        box = region.box.padded(settings.padding).clipped(info.width, info.height)
        box = Box(*box.as_list())
        if box.area > 0:
            out.append(Region(box, region.label, region.score, region.track, region.detected))
    return out


def _to_render(
    frames: Iterator[Frame], regions: RegionsFile, progress: Progress | None
) -> Iterator[tuple[Frame, list[Region]]]:
    """Each of ``frames`` with the regions of ``regions`` to draw in it, reporting each one
    to ``progress`` once it is handed on."""
    with closing(frames):
        for frame in frames:
            yield frame, regions.regions_to_render(frame.index, frame.time)
            if progress:
                progress(1)


@dataclass
class _Found:
    """What the analysis pass records of a file: regions and time of every frame."""

    src: Path
    info: MediaInfo
    frames: dict[int, list[Region]] = field(default_factory=dict)
    times: dict[int, float] = field(default_factory=dict)

    def add(self, frame: Frame, regions: list[Region]) -> None:
        self.times[frame.index] = frame.time
        if regions:
            self.frames[frame.index] = regions

    def recording(
        self, analysed: Iterator[tuple[Frame, list[Region]]]
    ) -> Iterator[tuple[Frame, list[Region]]]:
        """``analysed``, passed on as each frame is recorded; closing this closes it."""
        with closing(analysed):
            for frame, regions in analysed:
                self.add(frame, regions)
                yield frame, regions


def _counted(frames: Iterator[Frame], progress: Progress | None) -> Iterator[Frame]:
    """``frames``, reporting each one to ``progress`` as the analysis takes it."""
    for frame in frames:
        yield frame
        if progress:
            progress(1)


def _frames(src: Path, info: MediaInfo) -> Iterator[Frame]:
    """Frames of a video, or the single frame of a photo, all upright BGR."""
    if info.kind == "image":
        yield Frame(index=0, time=0.0, image=media.read_image(src))
        return
    with VideoReader(src) as reader:
        yield from reader


def _file_info(path: Path, info: MediaInfo, frame_count: int) -> FileInfo:
    return FileInfo(
        name=path.name,
        sha256=sha256_file(path),
        kind=info.kind,
        width=info.width,
        height=info.height,
        frame_count=frame_count,
        fps=info.fps,
    )


def _refuse_overwriting_input(src: Path, dst: Path) -> None:
    if src.resolve() == dst.resolve() or (dst.exists() and dst.samefile(src)):
        raise AnalysisError("the output would overwrite the input")
