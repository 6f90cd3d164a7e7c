"""Is the whole file there? Compare the size a container declares for itself with the disk.

Demuxers read a cut-off Matroska, AVI or GIF file up to the cut and stop without an error,
so a truncated download would become a shorter output that looks finished. Each of these
formats says in its own structure where it ends (an MP4 box size, the Matroska segment size,
the RIFF size, the GIF trailer), which is checked here with plain reads before any decoding.
A cut that falls exactly between two self-contained pieces (fragments of a streamed MP4 or
WebM) and files that never declare their end (MPEG-TS) cannot be told from complete ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

__all__ = ["missing_bytes"]

# A hostile MP4 can hold millions of tiny boxes; past this many the walk stops (unjudged).
_MAX_BOXES = 100_000
_EBML_HEADER = 0x1A45DFA3
_SEGMENT = 0x18538067


def missing_bytes(path: Path, container: str) -> int:
    """How many bytes ``path`` lacks by its own declaration (0: complete or cannot tell).

    ``container`` is FFmpeg's demuxer name (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"matroska,webm"``,
    ``"avi"``, ``"gif"``, ...). A GIF that ends before its trailer counts as one byte short.
    """
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        if container.startswith("mov"):
            end = _mp4_end(f, size)
        elif container.startswith("matroska"):
            end = _matroska_end(f, size)
        elif container == "avi":
            end = _riff_end(f)
        elif container == "gif":
            end = _gif_end(f, size)
        else:
            end = None
    return max(0, (end or 0) - size)


def _mp4_end(f: BinaryIO, size: int) -> int | None:
    """Where the last top-level box ends (a box may say "to the end of the file")."""
    position = 0
    for _ in range(_MAX_BOXES):
        if position == size:
            return position
        header = f.read(8)
        if len(header) < 8:
            return position + 8  # a cut inside a box header
        if not all(0x20 <= c < 0x7F or c == 0xA9 for c in header[4:]):
            return None  # not a box type: data some devices append, which FFmpeg ignores
        length = int.from_bytes(header[:4], "big")
        if length == 1:
            large = f.read(8)
            if len(large) < 8:
                return position + 16
            length = int.from_bytes(large, "big")
        elif length == 0:
            return size
        if length < 8:
            return None  # not a box structure we can judge; FFmpeg decides
        position += length
        if position > size:
            return position
        f.seek(position)
    return None


def _matroska_end(f: BinaryIO, size: int) -> int | None:
    """Where the first Segment ends; for a segment of unknown size (a live recording), where
    its last element of known size (a Cluster, say) ends."""
    element, length = _ebml_element(f)
    if element != _EBML_HEADER or length is None:
        return None
    f.seek(length, 1)
    element, length = _ebml_element(f)
    if element != _SEGMENT:
        return None
    if length is not None:
        return f.tell() + length
    position = f.tell()
    for _ in range(_MAX_BOXES):
        if position >= size:
            return position
        element, length = _ebml_element(f)
        if f.tell() >= size:
            return size + 1  # a cut inside an element's header
        if element is None or length is None:
            return None  # an element of unknown size: the stream cannot be judged
        position = f.seek(length, 1)
    return None


def _ebml_element(f: BinaryIO) -> tuple[int | None, int | None]:
    """An element's ID and data size; size None when unknown (all ones) or unreadable."""
    element = _vint(f, keep_marker=True)
    size = _vint(f, keep_marker=False)
    return element, size


def _vint(f: BinaryIO, keep_marker: bool) -> int | None:
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = int.from_bytes(first + rest, "big")
    if keep_marker:
        return value
    data_bits = 7 * length
    value &= (1 << data_bits) - 1
    return None if value == (1 << data_bits) - 1 else value


def _riff_end(f: BinaryIO) -> int | None:
    """Where the first RIFF chunk ends (an OpenDML file's later chunks follow it)."""
    header = f.read(12)
    if len(header) < 12 or header[:4] != b"RIFF":
        return None
    return 8 + int.from_bytes(header[4:8], "little")


def _gif_end(f: BinaryIO, size: int) -> int | None:
    """Just past the trailer, walking the blocks (a trailer byte can occur inside image data);
    one byte past the file when the blocks run out before the trailer."""
    header = f.read(13)
    if len(header) < 13 or not header.startswith(b"GIF"):
        return None
    if header[10] & 0x80:  # global colour table
        f.read(3 << ((header[10] & 7) + 1))
    while True:
        block = f.read(1)
        if block == b";":
            return f.tell()
        if block == b"!":
            f.read(1)  # extension label
        elif block == b",":
            descriptor = f.read(9)
            if len(descriptor) < 9:
                return size + 1
            if descriptor[8] & 0x80:  # local colour table
                f.read(3 << ((descriptor[8] & 7) + 1))
            f.read(1)  # LZW minimum code size
        elif not block:
            return size + 1
        else:
            return None  # not a block we know; FFmpeg decides
        if not _skip_sub_blocks(f):
            return size + 1


def _skip_sub_blocks(f: BinaryIO) -> bool:
    """Skip data sub-blocks up to their terminator; False when the file ends first."""
    while True:
        length = f.read(1)
        if not length:
            return False
        if length[0] == 0:
            return True
        if len(f.read(length[0])) < length[0]:
            return False
