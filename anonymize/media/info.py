"""What the media layer tells the rest of the pipeline about a file, and how it says no."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from anonymize.errors import UserError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_IMAGE_PIXELS",
    "MediaError",
    "MediaInfo",
    "VIDEO_EXTENSIONS",
    "WRITABLE_VIDEO_EXTENSIONS",
    "output_suffix",
]

# What the writer writes, and what it reads besides: phone (3GPP) and camcorder or broadcast
# (MPEG transport stream) footage, whose containers the demuxers already allowed read
# (probe.py), becomes MP4.
WRITABLE_VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif", ".m4v"})
VIDEO_EXTENSIONS = WRITABLE_VIDEO_EXTENSIONS | {".3gp", ".3g2", ".mts", ".m2ts", ".ts"}
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif", ".bmp"}
)


def output_suffix(suffix: str) -> str:
    """The extension an input's output gets when none is named: its own, unless it is a
    video container the writer does not write (then ``.mp4``)."""
    lower = suffix.lower()
    return ".mp4" if lower in VIDEO_EXTENSIONS - WRITABLE_VIDEO_EXTENSIONS else suffix


# A decoded 100-megapixel BGR frame is 300 MB; anything larger is refused from its header,
# before a single pixel is decoded, so a crafted header cannot exhaust memory.
MAX_IMAGE_PIXELS = 100_000_000


class MediaError(UserError):
    """A file the media layer cannot read or write; the message is one user-readable line.

    The CLI prints ``f"{path}: {err}"``, so messages name the cause, not the file.
    """


@dataclass(frozen=True)
class MediaInfo:
    """The facts about one input that later stages need.

    ``width``/``height`` are upright (after rotation), because every frame is delivered
    upright. ``rotation`` is the clockwise turn a player applies to the stored picture (what a
    phone's ``rotate`` tag says: 90 for a portrait clip from most phones). ``frame_count``
    and ``duration`` come from the container header: good for progress bars, but a damaged or
    crafted file can lie, so nothing should depend on them. ``time_base`` is the video
    stream's, the unit of ``Frame.pts``. ``pixel_aspect`` is how much wider than tall a
    player shows one pixel of the upright frame: 1 for most footage, 4/3 for HDV's 1440 x
    1080 shown as 16:9, 64/45 for widescreen PAL DV. ``field_order`` says whether a video
    is interlaced (each frame two fields filmed apart in time), and which field a player
    shows first: ``"tff"`` (top), ``"bff"`` (bottom) or ``"progressive"``. ``wide_colour``
    holds the colour tags (primaries, transfer) of BT.2020 video, the HDR of phones (HLG,
    PQ): the writer tags its output alike, so players show it as they showed the input.
    """

    path: Path
    kind: Literal["video", "image"]
    width: int
    height: int
    rotation: int
    frame_count: int | None
    fps: float | None
    duration: float | None
    audio_streams: int
    container: str
    time_base: Fraction | None = None
    codec: str = ""
    pixel_aspect: Fraction = Fraction(1)
    field_order: Literal["progressive", "tff", "bff"] = "progressive"
    wide_colour: tuple[int, int] | None = None
