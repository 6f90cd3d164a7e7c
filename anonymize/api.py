"""The Python entry points the CLI calls: detect regions, render from regions, or both.

A run is two passes over the frames. The detect pass decodes, detects, tracks and records the
final regions of every frame; the render pass decodes again and obscures exactly those regions.
Decoding twice costs far less than detection, keeps no frames buffered (memory stays flat on
long files), and makes the one-shot command the same thing as ``detect`` followed by ``render``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from anonymize import media
from anonymize.config import Settings
from anonymize.detect import build_detectors
from anonymize.detect.base import Detector
from anonymize.media import MediaInfo, VideoReader, VideoWriter, atomic_output
from anonymize.obscure import obscure, whole_frame
from anonymize.regions import FileInfo, RegionsFile, save, sha256_file, summarise_tracks
from anonymize.track import Tracker, is_scene_cut
from anonymize.types import Box, Detection, Frame, Region

__all__ = ["AnalysisError", "Anonymizer", "Progress", "report_path"]

Progress = Callable[[int], None]  # called with the number of frames just processed


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

    def anonymize_file(
        self, src: Path, dst: Path, report: bool = True, progress: Progress | None = None
    ) -> RegionsFile:
        """Detect and render ``src`` into ``dst``; write the sidecar unless ``report`` is off."""
        regions = self.detect(src, progress)
        regions = self.render(src, dst, regions, progress)
        if report:
            save(regions, report_path(dst))
        return regions

    def detect(self, src: Path, progress: Progress | None = None) -> RegionsFile:
        """Find and track everything to obscure in ``src``; nothing is written."""
        src = Path(src)
        info = media.probe(src)
        tracker = Tracker(frame_size=(info.width, info.height))
        frames: dict[int, list[Region]] = {}
        times: dict[int, float] = {}
        previous: np.ndarray | None = None
        for frame in _frames(src, info):
            detections = self._analyse(frame)
            if detections is None:
                frames.setdefault(frame.index, []).append(whole_frame(info.width, info.height))
                detections = []
            cut = previous is not None and is_scene_cut(previous, frame.image)
            for index, regions in tracker.update(frame.index, detections, scene_cut=cut):
                frames.setdefault(index, []).extend(self._finalise(regions, info))
            times[frame.index] = frame.time
            previous = frame.image
            if progress:
                progress(1)
        for index, regions in tracker.finish():
            frames.setdefault(index, []).extend(self._finalise(regions, info))
        if not times:
            raise AnalysisError("no frames could be decoded")
        frames = {i: r for i, r in frames.items() if r}
        return RegionsFile(
            input=_file_info(src, info, frame_count=len(times)),
            frames=frames,
            tracks=summarise_tracks(frames),
            settings=self.settings.to_dict(),
            models=[d.name for d in self.detectors],
            times=times if info.kind == "video" else {},
        )

    def render(
        self, src: Path, dst: Path, regions: RegionsFile, progress: Progress | None = None
    ) -> RegionsFile:
        """Write ``dst`` with exactly the regions in ``regions`` obscured; return it with hashes."""
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
        regions.output = _file_info(dst, info, frame_count=count)
        return regions

    def _render_video(
        self, src: Path, tmp: Path, info: MediaInfo, regions: RegionsFile, progress: Progress | None
    ) -> int:
        count = 0
        with VideoReader(src) as reader, VideoWriter(tmp, info, self.settings) as writer:
            for frame in reader:
                writer.write(frame, self._obscured(frame, regions))
                count += 1
                if progress:
                    progress(1)
        return count

    def _obscured(self, frame: Frame, regions: RegionsFile) -> np.ndarray:
        return obscure(
            frame.image, regions.regions_to_render(frame.index, frame.time), self.settings
        )

    def _analyse(self, frame: Frame) -> list[Detection] | None:
        """Detections for one frame, or None when the frame must be obscured whole."""
        try:
            return [d for detector in self.detectors for d in detector.detect(frame.image)]
        except Exception as err:  # any detector failure: fail closed, never pass the frame
            if self.settings.on_error == "obscure-frame":
                return None
            raise AnalysisError(f"frame {frame.index} could not be analysed: {err}") from err

    def _finalise(self, regions: Sequence[Region], info: MediaInfo) -> list[Region]:
        """Pad and clip tracker output into the boxes the regions file records, at the
        precision it records them, so a one-shot run draws what detect + render would."""
        out = []
        for region in regions:
            box = region.box.padded(self.settings.padding).clipped(info.width, info.height)
            box = Box(*box.as_list())
            if box.area > 0:
                out.append(Region(box, region.label, region.score, region.track, region.detected))
        return out


def _frames(src: Path, info: MediaInfo):
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
