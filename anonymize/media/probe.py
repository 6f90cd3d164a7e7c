"""Look at a file before any work is done: is it media we can read, and what shape is it?

``probe`` says no early and in one line (missing, empty, not media, no picture, undecodable)
so a folder run can report the file and move on. For video it decodes the first frame,
because a header can promise a codec the file does not deliver, and because the rotation a
phone records is only visible on decoded frames in this FFmpeg.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

from anonymize.media.image import probe_image
from anonymize.media.info import (
    IMAGE_EXTENSIONS,
    MAX_IMAGE_PIXELS,
    VIDEO_EXTENSIONS,
    MediaError,
    MediaInfo,
)
from anonymize.media.layout import missing_bytes

__all__ = [
    "clockwise_rotation",
    "file_url",
    "open_container",
    "open_input",
    "probe",
    "video_stream",
]

# The demuxers behind VIDEO_EXTENSIONS (MPEG-TS also for .mp4 files that hold it), no others.
_SAFE_INPUT = {
    "protocol_whitelist": "file",
    "format_whitelist": "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,gif,mpegts",
}

_MAX_PIXEL_ASPECT = 4
# FFmpeg's AVFieldOrder (TT, BB, TB, BT), by the field a player shows first.
_FIELD_ORDERS: dict[int, Literal["tff", "bff"]] = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}
_BT2020_MATRICES = (9, 10)  # FFmpeg's AVCOL_SPC_BT2020_NCL and _CL


def probe(path: Path) -> MediaInfo:
    """Describe ``path`` or raise MediaError naming why it cannot be processed."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return probe_image(path)
    if suffix in VIDEO_EXTENSIONS:
        return _probe_video(path)
    raise MediaError(f"unsupported file type {path.suffix or '(no extension)'!r}")


def file_url(path: Path) -> str:
    """An explicit local-file URL, so a name like ``concat:a|b`` or ``http:x`` stays a name."""
    return "file:" + os.path.abspath(path)


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for demuxing with only local files and our formats' demuxers allowed.

    A crafted file cannot then act as a playlist or concat script that makes FFmpeg read
    other files or fetch URLs. FFmpeg's refusals become MediaError.
    """
    try:
        # Tags in another encoding, or bytes of a damaged file, must not stop the pictures
        # being read (nor crash in PyAV's decoding of them).
        return av.open(file_url(path), mode="r", options=_SAFE_INPUT, metadata_errors="replace")
    except EOFError:
        raise MediaError("the file ends before its header does (truncated?)") from None
    except av.FFmpegError as err:
        raise MediaError(f"not a readable video ({_reason(err)})") from None


@contextlib.contextmanager
def open_container(path: Path) -> Iterator[av.container.InputContainer]:
    """``open_input`` as a context manager."""
    container = open_input(path)
    try:
        yield container
    finally:
        container.close()


def video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The picture stream to anonymise: the first real video stream, never cover art."""
    streams = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not streams:
        raise MediaError("no video stream in the file")
    stream = streams[0]
    if stream.codec_context is None:
        raise MediaError("the video stream names no codec we can decode (damaged header?)")
    return stream


def clockwise_rotation(frame: av.VideoFrame) -> int:
    """The display rotation a frame carries, as a clockwise multiple of 90 degrees."""
    # FFmpeg reports the display matrix counter-clockwise in [-180, 180].
    return int(round(-frame.rotation / 90)) * 90 % 360


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError("file not found")
    if path.is_dir():
        raise MediaError("is a folder, not a file")
    try:
        status = path.stat()
    except OSError as err:
        raise MediaError(f"cannot read the file ({err.strerror})") from None
    if not stat.S_ISREG(status.st_mode):  # reading a pipe or a device could block forever
        raise MediaError("not a regular file (a pipe, socket or device)")
    size = status.st_size
    if size == 0:
        raise MediaError("empty file (0 bytes)")


def _probe_video(path: Path) -> MediaInfo:
    with open_container(path) as container:
        stream = video_stream(container)
        _check_complete(container, path)
        # Checked on the header first so a crafted size is refused before any allocation.
        _check_size(stream.codec_context.width, stream.codec_context.height)
        first = _first_frame(container, stream)
        if first.width <= 0 or first.height <= 0:
            raise MediaError("the video has zero width or height")
        _check_size(first.width, first.height)
        rotation = clockwise_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        time_base = stream.time_base or Fraction(1, 1)
        rate = stream.average_rate or stream.guessed_rate
        return MediaInfo(
            path=path,
            kind="video",
            width=width,
            height=height,
            rotation=rotation,
            frame_count=stream.frames or None,
            fps=float(rate) if rate else None,
            duration=_duration(container, stream),
            audio_streams=len(container.streams.audio),
            container=container.format.name,
            time_base=time_base,
            codec=stream.codec_context.name,
            pixel_aspect=_pixel_aspect(stream, rotation),
            field_order=_field_order(stream, rotation),
            wide_colour=_wide_colour(first),
        )


def _pixel_aspect(stream: av.VideoStream, rotation: int) -> Fraction:
    """How much wider than tall a player shows a pixel of the upright frame.

    The container's tag first, then the codec's, as FFmpeg's players take them. A turned
    picture turns its pixels too. A tag past 4:1 either way is no camera's: taken as square,
    so a crafted file cannot make the detectors' views enormous.
    """
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or not 1 / _MAX_PIXEL_ASPECT <= sar <= _MAX_PIXEL_ASPECT:
        return Fraction(1)
    return 1 / Fraction(sar) if rotation in (90, 270) else Fraction(sar)


def _field_order(stream: av.VideoStream, rotation: int) -> Literal["progressive", "tff", "bff"]:
    """Which field of an interlaced picture a player shows first, in the upright frame.

    FFmpeg's decoder says it once the first frame is decoded. A picture turned upside down
    swaps its fields; one turned on its side has them as columns, which no encoder keeps, so
    it is taken as progressive (as it was before).
    """
    order = _FIELD_ORDERS.get(stream.codec_context.field_order, "progressive")
    if order == "progressive" or rotation in (90, 270):
        return "progressive"
    if rotation == 180:
        return "bff" if order == "tff" else "tff"
    return order


def _wide_colour(frame: av.VideoFrame) -> tuple[int, int] | None:
    """The colour primaries and transfer of a frame in BT.2020's YUV (phones' HDR: HLG or
    PQ), which the writer must keep; None for the BT.709 and BT.601 of most video."""
    if frame.colorspace not in _BT2020_MATRICES:
        return None
    return frame.color_primaries, frame.color_trc


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaError(
            f"video frames too large ({width}x{height}, over "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
        )


def _check_complete(container: av.container.InputContainer, path: Path) -> None:
    """Refuse a file whose index or own structure reaches past its end (a cut-off download
    or copy).

    Demuxers stop quietly at the cut, so without this a truncated file would be processed
    into a shorter output that looks finished.
    """
    missing = missing_bytes(path, container.format.name)
    if missing:
        unit = "byte" if missing == 1 else "bytes"
        raise MediaError(f"the file is truncated (at least {missing} {unit} missing)")
    size = path.stat().st_size
    for stream in container.streams:
        end = max((entry.pos + entry.size for entry in stream.index_entries), default=0)
        if end > size:
            raise MediaError(f"the file is truncated ({end - size} bytes of media data missing)")


def _first_frame(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame:
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return frame
    except av.FFmpegError as err:
        raise MediaError(f"the video cannot be decoded ({_reason(err)})") from None
    raise MediaError("no decodable video frame (the file is truncated or corrupt)")


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _reason(err: av.FFmpegError) -> str:
    """FFmpeg's own short explanation, without the file name it appends."""
    return (err.strerror or type(err).__name__).rstrip(".")
