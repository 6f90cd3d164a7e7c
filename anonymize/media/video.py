"""Decode video into upright frames with their timestamps, and write it back without leaks.

The writer re-encodes only the picture. Each frame keeps the input's timestamp in the input's
time base, so variable-frame-rate phone footage stays in sync with its audio, and audio
packets are copied untouched (read by a second demuxer, muxed as the video catches up, so
memory stays flat however long the file). Nothing else of the input is written by default:
no container or stream tags, chapters, attachments, subtitles, data streams, cover art or
display rotation (frames are written upright instead).
"""

from __future__ import annotations

import contextlib
import errno
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Interpolation
from PIL import Image

from anonymize.config import Settings
from anonymize.media.info import WRITABLE_VIDEO_EXTENSIONS, MediaError, MediaInfo
from anonymize.media.probe import (
    clockwise_rotation,
    file_url,
    open_container,
    open_input,
    probe,
    video_stream,
)
from anonymize.types import Frame

__all__ = ["X264_OPTIONS", "VideoReader", "VideoWriter", "upright_bgr"]

# x264's speed settings: veryfast without its inter sub-partitions, 10-28% less of the
# encoder's CPU for files within a few percent either way (docs/tuning.md, Encoding).
X264_OPTIONS = {"preset": "veryfast", "x264-params": "partitions=i8x8,i4x4"}

# Audio may run this far ahead of the video in the output; bounds the muxer's buffering.
_AUDIO_LEAD_SECONDS = Fraction(1, 2)
_FASTSTART = {".mp4", ".mov", ".m4v"}
_AUDIO_CODECS = {".webm": {"opus", "vorbis"}, ".gif": set()}

# swscale's default conversions round towards dark (white comes back as 250); accurate
# rounding and full chroma keep a decode-encode round trip unbiased, which the tests check.
_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
# ... at ten times the cost (12.7 against 1.2 ms a 1080p frame). Where the writer encodes a
# frame's untouched pixels from its decoded planes, the picture only feeds the detectors and
# the pixels obscuring changes, so the default conversion serves (docs/tuning.md, Decoding).
_TO_RGB_FAST = Interpolation.BILINEAR
_TO_YUV = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP
# AVColorSpace codes -> swscale matrices; codes for the tags the writer sets.
_TAGGED_MATRICES = {1: "itu709", 5: "itu601", 6: "itu601", 9: "bt2020", 10: "bt2020"}
_COLOR_TAGS = {"itu709": 1, "itu601": 6, "bt2020": 9}  # BT.709 / SMPTE 170M / BT.2020 NCL
# Why the output file itself cannot be written (read-only or full folder), as opposed to a
# container that refuses a stream.
_FILE_SYSTEM_ERRORS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT}
)
_FULL_RANGE = 2
_LIMITED_RANGE = 1
_FIELD_ORDER_CODES = {"tff": 2, "bff": 3}  # FFmpeg's AV_FIELD_TT and AV_FIELD_BB


class VideoReader:
    """Iterate a video's frames, upright, as BGR ``Frame``s with their input timestamps.

    Each iteration decodes from the start, so a detection pass and a render pass can share
    one reader. A frame the decoder flags as damaged raises MediaError rather than being
    passed on: a concealed, smeared frame could hide a face from the detector.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.info = probe(self.path)
        if self.info.kind != "video":
            raise MediaError("not a video")
        self._passes: weakref.WeakSet[Generator[Frame, None, None]] = weakref.WeakSet()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop any pass still running (a consumer that broke out early) and free its file."""
        for frames in list(self._passes):
            frames.close()

    def __iter__(self) -> Iterator[Frame]:
        frames = self._frames()
        self._passes.add(frames)
        return frames

    def _frames(self) -> Generator[Frame, None, None]:
        with open_container(self.path) as container:
            stream = video_stream(container)
            # Not frame threads: with them, whether a damaged frame is flagged depends on
            # thread timing, so one pass could fail the file and the next pass it on. Slice
            # threads decode damage the same way every time (and decoding stays far cheaper
            # than detection).
            stream.thread_type = "SLICE"
            time_base = stream.time_base or Fraction(1, 1)
            step = _frame_step(self.info, time_base)
            index, pts = 0, None
            for decoded in _decode(container, stream):
                if decoded.is_corrupt:
                    raise MediaError(f"frame {index} is damaged (the decoder reported errors)")
                pts = decoded.pts if decoded.pts is not None else _next_pts(pts, step)
                yield Frame(
                    index=index,
                    time=float(pts * time_base),
                    image=upright_bgr(decoded),
                    pts=pts,
                    duration=decoded.duration or None,
                    planes=_passthrough_planes(decoded),
                )
                index += 1
            if index == 0:
                raise MediaError("no decodable video frame (the file is truncated or corrupt)")


class VideoWriter:
    """Encode obscured frames to ``path``; the extension picks container and codec.

    H.264 for mp4/mov/mkv/avi/m4v, VP9 for webm, GIF for gif. On an exception inside the
    ``with`` block, or a failure while finishing, the partial file is deleted. Its jobs are
    split three ways: :class:`_Clock` gives each frame its output timestamp, the setup
    functions below open the file and its video stream, and :class:`_AudioCopy` carries the
    input's audio across untouched.
    """

    def __init__(self, path: Path, source: MediaInfo, settings: Settings):
        self.path = Path(path)
        self._source = source
        self._settings = settings
        suffix = _writable_suffix(self.path)
        if self.path.exists() and self.path.samefile(source.path):
            raise MediaError("refusing to overwrite the input")
        self._suffix = suffix
        self._clock = _Clock(source, suffix)
        self._matrix = _writer_matrix(source)
        self._out: av.container.OutputContainer | None = None
        self._audio: _AudioCopy | None = None
        self._closed = False
        try:
            self._open()
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
        else:
            self.close()

    def write(
        self,
        frame: Frame,
        image: np.ndarray,
        changed: Sequence[tuple[int, int, int, int]] | None = None,
    ) -> None:
        """Encode ``image`` (the obscured, upright BGR picture of ``frame``) at its time.

        Where the stream encodes the frame's decoded ``planes``, only pixels ``image`` changed
        are converted from it, within the ``changed`` rectangles (x1, y1, x2, y2, ends
        excluded; None: anywhere), and the rest are encoded as decoded (cheaper, and nothing
        lost to a round trip through BGR). Otherwise the whole picture is converted."""
        if self._closed or self._out is None:
            raise MediaError("the video writer is closed")
        expected = (self._source.height, self._source.width, 3)
        if image.shape != expected or image.dtype != np.uint8:
            raise MediaError(f"frame {frame.index} has shape {image.shape}, expected {expected}")
        pts = self._clock.stamp(frame)
        if self._suffix == ".gif":
            video = _pal8_frame(image)
        elif _passes_through(frame, self._video, self._source):
            video = _patched_i420(frame.planes, frame.image, image, changed, self._matrix)
        else:
            video = _yuv_frame(image, self._video.pix_fmt, self._matrix)
        video.pts = pts
        video.time_base = self._clock.time_base
        try:
            packets = self._video.encode(video)
        except av.FFmpegError as err:  # e.g. timestamps the encoder cannot represent
            raise MediaError(f"could not encode frame {frame.index} ({_reason(err)})") from None
        self._mux(packets)
        if self._audio is not None:
            self._audio.copy(self._mux, until=pts * self._clock.time_base + _AUDIO_LEAD_SECONDS)

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio and finish the file."""
        if self._closed:
            return
        try:
            if self._clock.last is None:
                raise MediaError("no frames were written")
            self._mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.copy(self._mux, until=None)
            self._out.close()
            self._out = None
        except BaseException as err:
            self._discard()
            if isinstance(err, av.FFmpegError):
                raise MediaError(f"could not finish the video ({_reason(err)})") from None
            raise
        self._close_audio()
        self._closed = True

    def _open(self) -> None:
        """Create the file with its streams (and the input's tags when they are kept)."""
        self._out = _create(self.path, self._suffix)
        self._video = _add_video_stream(
            self._out, self._suffix, self._source, self._settings, self._clock.time_base
        )
        if self._settings.audio == "copy" and self._source.audio_streams:
            self._audio = _AudioCopy(self._source.path, self._suffix)
            self._audio.add_streams(self._out)
        if self._settings.keep_metadata:
            with open_container(self._source.path) as src:
                self._out.metadata.update(src.metadata)
        try:
            self._out.start_encoding()
        except av.FFmpegError as err:
            if err.errno in _FILE_SYSTEM_ERRORS:  # the muxer opens the file only here
                raise MediaError(f"cannot create the output ({_reason(err)})") from None
            if self._audio is not None and self._audio.streams:
                raise self._audio.refused() from None
            raise MediaError(
                f"cannot write this video as {self._suffix} ({_reason(err)})"
            ) from None

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:  # encoders drop the frame's duration; the packet carries it
            if packet.stream.index != self._video.index:
                continue
            duration = self._clock.take_duration(packet.pts)
            if duration and not packet.duration:
                packet.duration = duration
        try:
            self._out.mux(packets)
        except av.FFmpegError as err:
            raise MediaError(f"could not write the video ({_reason(err)})") from None

    def _discard(self) -> None:
        """Close everything and delete the partial output."""
        self._closed = True
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
            self._out = None
        self._close_audio()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _close_audio(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None


class _Clock:
    """The output timestamp of each frame: the input's own, in the output's time base.

    Keeping the input's timestamps keeps variable-frame-rate footage in sync with its audio.
    AVI has one frame slot per ``1/fps`` and no reordering, so there timestamps become slots.
    Each frame's duration is kept until its packet is muxed (see :meth:`take_duration`).
    """

    def __init__(self, source: MediaInfo, suffix: str) -> None:
        self.source_time_base = source.time_base or Fraction(1, 1000)
        self.time_base = self.source_time_base
        if suffix == ".avi":
            self.time_base = 1 / (_rate(source.fps, 1001) or Fraction(25))
        self.step = _frame_step(source, self.time_base)
        self.last: int | None = None
        self._durations: dict[int, int] = {}  # pts -> duration of frames not yet muxed

    def stamp(self, frame: Frame) -> int:
        """The timestamp ``frame`` is written at, after the previous frame's."""
        if frame.pts is None:
            pts = _next_pts(self.last, self.step)
        else:
            pts = round(frame.pts * self.source_time_base / self.time_base)
        if self.last is not None and pts <= self.last:
            # Encoders refuse repeated timestamps; a damaged input can carry them.
            pts = self.last + 1
        self.last = pts
        self._durations[pts] = self._duration(frame)
        return pts

    def take_duration(self, pts: int | None) -> int | None:
        """The duration of the frame stamped ``pts``, once (its packet is being muxed)."""
        return self._durations.pop(pts, None)

    def _duration(self, frame: Frame) -> int:
        """How long ``frame`` shows, in output units: its own duration when the input says
        (a GIF's frames each have theirs), else one frame at the average rate. The muxer
        ends the last frame with it, so an average there would stretch or cut it (a GIF's
        short last frame grew after a long first frame)."""
        if frame.duration:
            return max(1, round(frame.duration * self.source_time_base / self.time_base))
        return self.step


class _AudioCopy:
    """The input's audio packets, copied untouched into the output as the video catches up.

    A second demuxer reads them, and packets wait only until the video reaches their time
    (plus a short lead), so memory stays flat however long the file. Only each stream's
    language tag goes with it.
    """

    def __init__(self, source: Path, suffix: str) -> None:
        self._suffix = suffix
        self._input = open_input(source)
        self._packets: Iterator[av.Packet] = iter(())
        self._pending: av.Packet | None = None
        self.streams: dict[int, av.stream.Stream] = {}  # input stream index -> output stream

    def add_streams(self, out: av.container.OutputContainer) -> None:
        """Add an output stream for each audio stream, or refuse what ``out`` cannot carry."""
        inputs = list(self._input.streams.audio)
        allowed = _AUDIO_CODECS.get(self._suffix)
        for stream in inputs:
            name = stream.codec_context.name if stream.codec_context else "unknown"
            if allowed is not None and name not in allowed:
                raise self.refused()
            try:
                added = out.add_stream_from_template(stream)
            except ValueError:  # PyAV's "format does not support codec"
                raise self.refused() from None
            language = stream.metadata.get("language")
            added.metadata.clear()
            if language:
                added.metadata["language"] = language
            self.streams[stream.index] = added
        self._packets = self._input.demux(*inputs)

    def refused(self) -> MediaError:
        """The error for audio this output format cannot carry, naming its codecs."""
        names = ", ".join(sorted({s.codec_context.name for s in self._input.streams.audio}))
        return MediaError(
            f"{self._suffix} files cannot carry this video's {names} audio; choose another "
            "output format or drop the audio (--audio drop)"
        )

    def copy(self, mux: Callable[[list[av.Packet]], None], until: Fraction | None) -> None:
        """Hand ``mux`` the audio packets up to ``until`` seconds (all of them when None)."""
        while True:
            packet = self._pending or self._next()
            self._pending = None
            if packet is None:
                return
            if packet.dts is None and packet.pts is None:
                continue  # demuxer's end-of-stream marker
            stamp = packet.dts if packet.dts is not None else packet.pts
            if until is not None and stamp * packet.time_base > until:
                self._pending = packet
                return
            packet.stream = self.streams[packet.stream.index]
            mux([packet])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._input.close()

    def _next(self) -> av.Packet | None:
        try:
            return next(self._packets, None)
        except av.FFmpegError as err:
            raise MediaError(f"the audio cannot be read ({_reason(err)})") from None


def _create(path: Path, suffix: str) -> av.container.OutputContainer:
    """Open the output container (the muxer creates the file itself only when encoding
    starts, see ``VideoWriter._open``)."""
    options = {"movflags": "+faststart"} if suffix in _FASTSTART else {}
    try:
        return av.open(file_url(path), mode="w", options=options)
    except av.FFmpegError as err:
        raise MediaError(f"cannot create the output ({_reason(err)})") from None
    except OSError as err:
        raise MediaError(f"cannot create the output ({err.strerror})") from None


def _add_video_stream(
    out: av.container.OutputContainer,
    suffix: str,
    source: MediaInfo,
    settings: Settings,
    time_base: Fraction,
) -> av.VideoStream:
    """The output's one video stream, the input's size and rate, its colours tagged with
    the matrix the writer converts with."""
    codec, pix_fmt, options = _codec_for(suffix, source, settings)
    stream = out.add_stream(codec, options=options)
    stream.width = source.width
    stream.height = source.height
    stream.pix_fmt = pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if codec != "gif":
        # Tag the matrix explicitly so players do not guess from the frame size.
        context = stream.codec_context
        if source.wide_colour:  # phones' HDR: kept as the input was, or players show it dim
            context.colorspace = _COLOR_TAGS["bt2020"]
            context.color_primaries, context.color_trc = source.wide_colour
        else:
            tag = _COLOR_TAGS[_untagged_matrix(source.height)]
            context.colorspace = context.color_primaries = context.color_trc = tag
        context.color_range = _LIMITED_RANGE
        if source.pixel_aspect != 1:  # HDV, DV: shown wider than stored, as the input was
            context.sample_aspect_ratio = source.pixel_aspect
        if codec == "libx264" and source.field_order != "progressive":
            context.field_order = _FIELD_ORDER_CODES[source.field_order]
    rate = _rate(source.fps, 100000)
    if rate:
        stream.codec_context.framerate = rate
    return stream


def _yuv_frame(image: np.ndarray, pix_fmt: str, matrix: str) -> av.VideoFrame:
    """A BGR picture as the encoder's YUV frame, in the matrix the stream is tagged with."""
    return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(
        format=pix_fmt,
        interpolation=_TO_YUV,
        dst_colorspace=matrix,
        dst_color_range=ColorRange.MPEG,
    )


def _passes_through(frame: Frame, stream: av.VideoStream, source: MediaInfo) -> bool:
    """Whether ``frame``'s decoded planes are what ``stream`` encodes (4:2:0, same size)."""
    h, w = source.height, source.width
    return (
        frame.planes is not None
        and stream.pix_fmt == "yuv420p"
        and frame.planes.shape == (h * 3 // 2, w)
    )


def _patched_i420(
    planes: np.ndarray,
    decoded: np.ndarray,
    image: np.ndarray,
    changed: Sequence[tuple[int, int, int, int]] | None,
    matrix: str,
) -> av.VideoFrame:
    """The decoded I420 ``planes`` with the pixels of each ``changed`` rectangle (None: the
    whole picture) that ``image`` changed from the ``decoded`` picture converted anew from
    ``image``; a chroma sample (shared by 2x2 pixels in 4:2:0) when any of its pixels
    changed. Every other pixel stays as decoded, bit for bit, whatever the decoded picture's
    own rounding."""
    h, w = image.shape[:2]
    out = planes.copy()
    luma, u, v = _split_i420(out, w, h)
    to_yuv = _TO_LIMITED_YUV[matrix]
    for x1, y1, x2, y2 in [(0, 0, w, h)] if changed is None else changed:
        x1, y1 = max(0, x1 - x1 % 2), max(0, y1 - y1 % 2)
        x2, y2 = min(w, x2 + x2 % 2), min(h, y2 + y2 % 2)
        if x2 <= x1 or y2 <= y1:
            continue
        # 255 where any channel differs: the channels' differences summed, saturating.
        moved = cv2.transform(cv2.absdiff(image[y1:y2, x1:x2], decoded[y1:y2, x1:x2]), _ANY)
        _, moved = cv2.threshold(moved, 0, 255, cv2.THRESH_BINARY)
        ycc = cv2.transform(image[y1:y2, x1:x2], to_yuv)
        cv2.copyTo(cv2.extractChannel(ycc, 0), moved, luma[y1:y2, x1:x2])
        half_size = ((x2 - x1) // 2, (y2 - y1) // 2)
        half = cv2.resize(ycc, half_size, interpolation=cv2.INTER_AREA)
        shared = cv2.resize(moved, half_size, interpolation=cv2.INTER_AREA)  # > 0: any of 2x2
        for c, plane in ((1, u), (2, v)):
            cv2.copyTo(
                cv2.extractChannel(half, c), shared, plane[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2]
            )
    return av.VideoFrame.from_ndarray(out, format="yuv420p")


_ANY = np.ones((1, 3), np.float32)  # cv2.transform: a pixel's three channels summed


def _limited_yuv_matrix(kr: float, kb: float) -> np.ndarray:
    """BGR -> limited-range Y, Cb, Cr (a 3 x 4 matrix for ``cv2.transform``), by the luma
    weights of red and blue: what the encoder's own conversion computes, per pixel."""
    luma = np.array([kb, 1 - kr - kb, kr])
    cb = (np.array([1.0, 0, 0]) - luma) / (2 * (1 - kb))
    cr = (np.array([0, 0, 1.0]) - luma) / (2 * (1 - kr))
    scaled = np.stack([luma * 219, cb * 224, cr * 224]) / 255
    return np.hstack([scaled, [[16.0], [128.0], [128.0]]]).astype(np.float32)


_TO_LIMITED_YUV = {
    "itu709": _limited_yuv_matrix(0.2126, 0.0722),
    "itu601": _limited_yuv_matrix(0.299, 0.114),
    "bt2020": _limited_yuv_matrix(0.2627, 0.0593),
}


def _split_i420(i420: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a contiguous I420 picture ``w`` x ``h`` (even)."""
    flat = i420.reshape(-1)
    luma, quarter = w * h, w * h // 4
    return (
        flat[:luma].reshape(h, w),
        flat[luma : luma + quarter].reshape(h // 2, w // 2),
        flat[luma + quarter : luma + 2 * quarter].reshape(h // 2, w // 2),
    )


def _passthrough_planes(frame: av.VideoFrame) -> np.ndarray | None:
    """``frame``'s I420 picture when the writer may encode untouched pixels straight from it
    (see :func:`_passes_planes`); None when it is encoded from BGR, converted whole."""
    return frame.to_ndarray() if _passes_planes(frame) else None


def _passes_planes(frame: av.VideoFrame) -> bool:
    """Whether the writer may encode ``frame``'s untouched pixels from its decoded planes:
    8-bit 4:2:0 in limited range, even-sized, shown as stored (no rotation), in the matrix the
    writer tags its output with."""
    return not (
        frame.format.name != "yuv420p"
        or frame.width % 2
        or frame.height % 2
        or clockwise_rotation(frame)
        or frame.color_range == _FULL_RANGE
        or _matrix(frame.colorspace, frame.height) != _untagged_matrix(frame.height)
    )


def _writable_suffix(path: Path) -> str:
    """``path``'s extension, lower-cased, or the MediaError naming what the writer writes."""
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_VIDEO_EXTENSIONS:
        kinds = ", ".join(sorted(WRITABLE_VIDEO_EXTENSIONS))
        raise MediaError(f"cannot write video as {path.suffix or '(no extension)'!r} ({kinds})")
    return suffix


def _codec_for(suffix: str, source: MediaInfo, settings: Settings) -> tuple[str, str, dict]:
    """Encoder, pixel format and options for an output extension."""
    if suffix == ".gif":
        return "gif", "pal8", {}
    # 4:2:0 needs even sizes; rather than pad or crop (changing what the user sees), odd
    # sizes keep full-resolution chroma.
    even = source.width % 2 == 0 and source.height % 2 == 0
    pix_fmt = "yuv420p" if even else "yuv444p"
    if suffix == ".webm":
        # VP9's CRF scale is wider than x264's; x264 CRF 18 ~ VP9 CRF 22 (visually lossless).
        crf = min(63, round(settings.quality * 1.2))
        return (
            "libvpx-vp9",
            pix_fmt,
            {
                "crf": str(crf),
                "b": "0",
                "deadline": "good",
                "cpu-used": "5",
                "row-mt": "1",
            },
        )
    options = {"crf": str(settings.quality), **X264_OPTIONS}
    if suffix == ".avi":
        options["bf"] = "0"  # AVI stores no presentation order, so no B-frames
    if source.field_order != "progressive":  # coded as fields, so players show them so
        options["x264-params"] += f":{source.field_order}=1"
    return "libx264", pix_fmt, options


def _decode(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[av.VideoFrame]:
    count = 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                count += 1
                yield frame
    except av.FFmpegError as err:
        raise MediaError(f"decoding failed after frame {count} ({_reason(err)})") from None


def upright_bgr(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as the reader delivers it: display rotation applied, BGR uint8,
    converted without rounding bias where the writer encodes the picture whole (see
    ``_TO_RGB``), quickly where it encodes untouched pixels from the decoded planes.

    Public so other views of a video (the review page's seeking) show the same pixels.
    """
    image = frame.reformat(
        format="bgr24",
        interpolation=_TO_RGB_FAST if _passes_planes(frame) else _TO_RGB,
        src_colorspace=_matrix(frame.colorspace, frame.height),
        src_color_range=ColorRange.JPEG if frame.color_range == _FULL_RANGE else ColorRange.MPEG,
    ).to_ndarray()
    turns = clockwise_rotation(frame) // 90
    if turns:
        image = np.ascontiguousarray(np.rot90(image, k=-turns))
    return image


def _matrix(colorspace: int, height: int) -> str:
    """The YUV matrix a frame uses; untagged video gets what players assume for its size."""
    if colorspace in _TAGGED_MATRICES:
        return _TAGGED_MATRICES[colorspace]
    return _untagged_matrix(height)


def _writer_matrix(source: MediaInfo) -> str:
    """The matrix the writer converts pictures with (and tags): BT.2020's for BT.2020 video,
    otherwise what players assume for untagged video of its size."""
    return "bt2020" if source.wide_colour else _untagged_matrix(source.height)


def _untagged_matrix(height: int) -> str:
    """The matrix players assume for untagged video this tall (and the writer uses)."""
    return "itu709" if height >= 720 else "itu601"


def _pal8_frame(image: np.ndarray) -> av.VideoFrame:
    """A palette frame for GIF, with a palette fitted to this frame (not a fixed 3-3-2)."""
    quantized = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])).quantize(256)
    rgb = np.zeros((256, 3), np.uint8)
    palette = np.asarray(quantized.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    rgb[: len(palette)] = palette
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), rgb], axis=1)
    return av.VideoFrame.from_ndarray((np.asarray(quantized), argb), format="pal8")


def _frame_step(info: MediaInfo, time_base: Fraction) -> int:
    """One frame's duration in time-base units (1 when the rate is unknown)."""
    rate = _rate(info.fps, 100000)
    if rate is None or time_base <= 0:
        return 1
    return max(1, round(1 / (rate * time_base)))


def _rate(fps: float | None, max_denominator: int) -> Fraction | None:
    """The frame rate as a fraction, or None when unknown or too small to express (a damaged
    header can claim one frame in eleven days)."""
    rate = Fraction(fps).limit_denominator(max_denominator) if fps else Fraction(0)
    return rate if rate > 0 else None


def _next_pts(last: int | None, step: int) -> int:
    return 0 if last is None else last + step


def _reason(err: av.FFmpegError) -> str:
    return (err.strerror or type(err).__name__).rstrip(".")
