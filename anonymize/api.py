"""The Python entry points the CLI calls: detect regions, render from regions, or both.

A video is analysed in one pass: a decoder thread reads ahead, the detectors run (in full on
keyframes, quick passes in between), the tracker settles each frame's regions a bounded number
of frames later, and an encoder thread obscures and writes the frames it has settled. Only
those few frames wait in memory, so memory stays flat on long files. ``detect`` is the same
pass without the writing and ``render`` draws exactly a regions file, so the one-shot command
writes what ``detect`` followed by ``render`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from anonymize import media
from anonymize.background import Ordered, prefetch
from anonymize.config import Settings
from anonymize.detect import build_detectors
from anonymize.detect.base import Detector, NearDetector, QuickDetector
from anonymize.media import MediaInfo, VideoReader, VideoWriter, atomic_output
from anonymize.motion import CameraMotion
from anonymize.obscure import obscure, whole_frame
from anonymize.regions import FileInfo, RegionsFile, save, sha256_file, summarise_tracks
from anonymize.track import Keyframes, Tracker, TrackerConfig, is_scene_cut
from anonymize.types import Box, Detection, Frame, Region

__all__ = ["AnalysisError", "Anonymizer", "Progress", "report_path"]

Progress = Callable[[int], None]  # called with the number of frames just processed
_BACKLOG = 4  # frames decoded ahead, and frames waiting for the encoder


class AnalysisError(Exception):
    """A file could not be analysed or rendered safely; the message names the cause."""


def report_path(output: Path) -> Path:
    """Where the JSON sidecar of ``output`` goes: beside it, same name plus ``.json``."""
    return output.with_name(output.name + ".json")


class Anonymizer:
    """Loads the detectors once and runs files through detect and render."""

    def __init__(
        self, settings: Settings | None = None, detectors: Sequence[Detector] | None = None
    ):
        self.settings = settings or Settings()
        self._detectors = list(detectors) if detectors is not None else None

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
        self, src: Path, dst: Path, report: bool = True, progress: Progress | None = None
    ) -> RegionsFile:
        """Detect and render ``src`` into ``dst``; write the sidecar unless ``report`` is off."""
        src, dst = Path(src), Path(dst)
        _refuse_overwriting_input(src, dst)
        info = media.probe(src)
        if info.kind == "image":
            return self.render(src, dst, self.detect(src), progress, report=report)
        with atomic_output(dst) as tmp:
            regions = self._anonymize_video(src, tmp, info, progress)
            self._finish(regions, tmp, dst, info, regions.input.frame_count, report)
        return regions

    def detect(self, src: Path, progress: Progress | None = None) -> RegionsFile:
        """Find and track everything to obscure in ``src``; nothing is written."""
        src = Path(src)
        info = media.probe(src)
        found = _Found(src, info)
        with closing(self._analysed(src, info, progress)) as analysed:
            for frame, regions in analysed:
                found.add(frame, regions)
        return self._regions_file(found)

    def _anonymize_video(
        self, src: Path, tmp: Path, info: MediaInfo, progress: Progress | None
    ) -> RegionsFile:
        found = _Found(src, info)
        with (
            VideoWriter(tmp, info, self.settings) as writer,
            Ordered(_BACKLOG, "encode") as out,
            closing(self._analysed(src, info, progress)) as analysed,
        ):
            for frame, regions in analysed:
                found.add(frame, regions)
                out.submit(self._write, writer, frame, regions)
        return self._regions_file(found)

    def _write(self, writer: VideoWriter, frame: Frame, regions: list[Region]) -> None:
        writer.write(frame, obscure(frame.image, regions, self.settings))

    def _analysed(
        self, src: Path, info: MediaInfo, progress: Progress | None
    ) -> Iterator[tuple[Frame, list[Region]]]:
        """Every frame in order with its final, padded regions.

        A frame waits here only until the tracker has settled it (the tracker's lag), so at
        most that many decoded frames are held, whatever the length of the file. The camera's
        motion goes to the tracker too, so boxes it carries move with the picture.
        """
        every = self.settings.keyframes if info.kind == "video" else 1
        tracker = Tracker(TrackerConfig().spanning(every), frame_size=(info.width, info.height))
        keyframes = Keyframes(every)
        camera = CameraMotion()
        # Between keyframes these labels come from quick passes, which miss more.
        quick = [
            label for d in self.detectors if isinstance(d, QuickDetector) for label in d.labels
        ]
        waiting: dict[int, tuple[Frame, list[Region]]] = {}
        previous: np.ndarray | None = None
        with closing(prefetch(_frames(src, info), _BACKLOG, "decode")) as frames:
            for frame in frames:
                cut = previous is not None and is_scene_cut(previous, frame.image)
                full = keyframes.is_key(frame.index, cut)
                motion = camera.update(frame.image)
                detections = self._analyse(
                    frame,
                    full=full,
                    expected=lambda found, m=motion, c=cut: tracker.expected(m, c, found),
                )
                own = []
                if detections is None:
                    own, detections = [whole_frame(info.width, info.height)], []
                waiting[frame.index] = (frame, own)
                for index, regions in tracker.update(
                    frame.index,
                    detections,
                    scene_cut=cut,
                    motion=motion,
                    quick=() if full else quick,
                ):
                    settled, own = waiting.pop(index)
                    yield settled, own + self._finalise(regions, info)
                previous = frame.image
                if progress:
                    progress(1)
        for index, regions in tracker.finish():
            settled, own = waiting.pop(index)
            yield settled, own + self._finalise(regions, info)

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

    def render(
        self,
        src: Path,
        dst: Path,
        regions: RegionsFile,
        progress: Progress | None = None,
        report: bool = False,
    ) -> RegionsFile:
        """Write ``dst`` with exactly the regions in ``regions`` obscured; return it with hashes.

        With ``report`` the sidecar is written too, before the output takes its final name:
        a finished output never lacks its report (a re-run skips finished outputs)."""
        src, dst = Path(src), Path(dst)
        _refuse_overwriting_input(src, dst)
        if sha256_file(src) != regions.input.sha256:
            raise AnalysisError(f"the regions were made for another file ({regions.input.name})")
        info = media.probe(src)
        with atomic_output(dst) as tmp:
            if info.kind == "image":
                frame = next(iter(_frames(src, info)))
                media.write_image(tmp, self._obscured(frame, regions), src, self.settings)
                count = 1
            else:
                count = self._render_video(src, tmp, info, regions, progress)
            if count != regions.input.frame_count:
                raise AnalysisError(
                    f"decoded {count} frames but the regions cover {regions.input.frame_count}"
                )
            self._finish(regions, tmp, dst, info, count, report)
        return regions

    @staticmethod
    def _finish(
        regions: RegionsFile, tmp: Path, dst: Path, info: MediaInfo, count: int, report: bool
    ) -> None:
        """Record the finished output (still under its temporary name) and write the sidecar."""
        regions.output = replace(_file_info(tmp, info, frame_count=count), name=dst.name)
        if report:
            save(regions, report_path(dst))

    def _render_video(
        self, src: Path, tmp: Path, info: MediaInfo, regions: RegionsFile, progress: Progress | None
    ) -> int:
        count = 0
        with (
            VideoWriter(tmp, info, self.settings) as writer,
            Ordered(_BACKLOG, "encode") as out,
            closing(prefetch(_frames(src, info), _BACKLOG, "decode")) as frames,
        ):
            for frame in frames:
                todo = regions.regions_to_render(frame.index, frame.time)
                out.submit(self._write, writer, frame, todo)
                count += 1
                if progress:
                    progress(1)
        return count

    def _obscured(self, frame: Frame, regions: RegionsFile) -> np.ndarray:
        return obscure(
            frame.image, regions.regions_to_render(frame.index, frame.time), self.settings
        )

    def _analyse(
        self,
        frame: Frame,
        full: bool = True,
        expected: Callable[[list[Detection]], list[Region]] | None = None,
    ) -> list[Detection] | None:
        """Detections for one frame, or None when the frame must be obscured whole.

        ``full`` is False between keyframes: detectors with a quick pass run only that, and
        those that can look closely (``NearDetector``) also look where ``expected`` says the
        tracks their quick pass did not find should be.
        """
        try:
            found = []
            for detector in self.detectors:
                if full or not isinstance(detector, QuickDetector):
                    found += detector.detect(frame.image)
                    continue
                quick = detector.detect_quick(frame.image)
                if isinstance(detector, NearDetector) and expected is not None:
                    near = [r.box for r in expected(quick) if r.label in detector.labels]
                    if near:
                        quick += detector.detect_near(frame.image, near)
                found += quick
            return found
        except Exception as err:  # any detector failure: fail closed, never pass the frame
            if self.settings.on_error == "obscure-frame":
                return None
            raise AnalysisError(f"frame {frame.index} could not be analysed: {err}") from err

    def _finalise(self, regions: Sequence[Region], info: MediaInfo) -> list[Region]:
        """Pad and clip tracker output into the boxes the regions file records, at the
        precision it records them, so a one-shot run draws what detect + render would."""
        out = []
        for region in regions:
            pad = self.settings.padding_for(region.box.height, still=info.kind == "image")
            box = region.box.padded(pad).clipped(info.width, info.height)
            box = Box(*box.as_list())
            if box.area > 0:
                out.append(Region(box, region.label, region.score, region.track, region.detected))
        return out


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
