"""Random access to a file's upright frames by index, for scrubbing.

The pipeline's VideoReader decodes from the start, which is right for a pass over the whole
file but far too slow when an editor jumps back and forth. Here a table of presentation
timestamps (from demuxing, no decoding) turns an index into a seek to the keyframe before it,
and a decoder kept open makes stepping forward cheap. The pixels are the reader's: same
colour conversion, same rotation, so what the editor checks is what render obscures.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from anonymize import media
from anonymize.media import MediaError, MediaInfo
from anonymize.media.probe import open_container, video_stream

# The reader's own conversion, so the review shows the pixels render works on.
from anonymize.media.video import upright_bgr

__all__ = ["FrameSource"]

_CACHE_FRAMES = 8  # decoded frames kept: the frame on screen, its thumbnails, a step or two
_STEP_AHEAD = 48  # decode forward rather than seek when the target is this close ahead


class FrameSource:
    """Upright BGR frames of a video or photo by index; thread-safe."""

    def __init__(self, path: Path, info: MediaInfo):
        self.path = Path(path)
        self.info = info
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._container: av.container.InputContainer | None = None
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._next_index = 0
        if info.kind == "image":
            self._pts: list[int] = []
            self.times = [0.0]
        else:
            self._pts, self.times = _timestamps(self.path)
        self._index_of = {pts: i for i, pts in enumerate(self._pts)}

    def __len__(self) -> int:
        return len(self.times)

    def close(self) -> None:
        with self._lock:
            self._close_decoder()

    def image(self, index: int) -> np.ndarray:
        """The frame at ``index`` (IndexError outside the file). Do not modify it."""
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} is outside the file's {len(self)} frames")
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            image = media.read_image(self.path) if self.info.kind == "image" else self._video(index)
            self._cache[index] = image
            if len(self._cache) > _CACHE_FRAMES:
                self._cache.popitem(last=False)
            return image

    def _video(self, index: int) -> np.ndarray:
        try:
            return self._decode_to(index)
        except av.FFmpegError as err:
            self._close_decoder()
            raise MediaError(f"frame {index} could not be decoded ({err.strerror})") from None

    def _decode_to(self, index: int) -> np.ndarray:
        ahead = self._decoded is not None and self._next_index <= index < (
            self._next_index + _STEP_AHEAD
        )
        if not ahead:
            self._seek(index)
        for frame in self._decoded:
            current = self._locate(frame)
            self._next_index = current + 1
            if current == index:
                return upright_bgr(frame)
            if current > index:
                break  # the seek landed past the frame: decode from the start instead
        if index < self._next_index:
            self._seek(index, from_start=True)
            for frame in self._decoded:
                current = self._locate(frame)
                self._next_index = current + 1
                if current == index:
                    return upright_bgr(frame)
        raise MediaError(f"frame {index} could not be decoded")

    def _locate(self, frame: av.VideoFrame) -> int:
        if frame.is_corrupt:
            raise MediaError("a frame is damaged (the decoder reported errors)")
        try:
            return self._index_of[frame.pts]
        except KeyError:
            raise MediaError(f"a decoded frame has an unknown timestamp {frame.pts}") from None

    def _seek(self, index: int, from_start: bool = False) -> None:
        self._close_decoder()
        container = av.open(str(self.path), mode="r")
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        if not from_start and index > 0:
            container.seek(self._pts[index], stream=stream, backward=True, any_frame=False)
        self._container = container
        self._decoded = (f for packet in container.demux(stream) for f in packet.decode())
        self._next_index = 0

    def _close_decoder(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._decoded = None


def _timestamps(path: Path) -> tuple[list[int], list[float]]:
    """Each frame's presentation timestamp and time, in display order, from packets only."""
    with open_container(path) as container:
        stream = video_stream(container)
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0)
        time_base = stream.time_base
    if not pts or time_base is None:
        raise MediaError("the video has no timestamps to seek by")
    if len(set(pts)) != len(pts):
        raise MediaError("the video repeats timestamps; it cannot be scrubbed")
    return pts, [float(p * time_base) for p in pts]
