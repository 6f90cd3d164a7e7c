"""Fuzzing the two parsers that read files from elsewhere: media probing and regions files.

What comes out of ``probe``/``VideoReader``/``read_image`` is a description and frames that
agree with it, or a one-line MediaError (OSError where the disk says no); what comes out of
``regions.load`` is a file whose every box can be drawn, or a RegionsError. Any other
exception is a bug, and so is a cut-off file read as if it were whole.

By default each property runs a few dozen derandomized examples (seconds, the same every CI
run). For a longer hunt with fresh random examples:

    ANONYMIZE_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py -x

Failures found there are replayed by hypothesis from .hypothesis/ on the next run.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from anonymize.config import Settings
from anonymize.media import MediaError, VideoReader, VideoWriter, atomic_output, probe, read_image
from anonymize.media.atomic import PARTIAL_MARKER
from anonymize.obscure import obscure
from anonymize.regions import FileInfo, RegionsError, RegionsFile, load, save, summarise_tracks
from anonymize.types import Box, Region

_LONG = int(os.environ.get("ANONYMIZE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_LONG or 30,
    deadline=None,
    derandomize=not _LONG,
    database=None if not _LONG else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_FRAMES = 8
_W, _H = 48, 32


# -- seed files -------------------------------------------------------------------------


def _clip(path: Path, codec: str = "libx264", pix_fmt: str = "yuv420p", **options) -> Path:
    """A tiny clip of blocky noise (so every frame costs real bytes), ``_FRAMES`` long."""
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = _W, _H, pix_fmt
        for index in range(_FRAMES):
            coarse = rng.integers(0, 256, (_H // 8, _W // 8, 3), dtype=np.uint8)
            image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _photo(path: Path, **params) -> Path:
    rng = np.random.default_rng(8)
    coarse = rng.integers(0, 256, (_H // 8, _W // 8, 3), dtype=np.uint8)
    image = Image.fromarray(np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1))
    image.save(path, **params)
    return path


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


@dataclass(frozen=True)
class Seed:
    path: Path
    data: bytes
    frames: int  # frames a complete read yields (1 for photos)
    pixels: np.ndarray  # the first frame, as read from the complete file


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seed]:
    """One small valid file per container and photo format, and what reading it gives."""
    folder = tmp_path_factory.mktemp("seeds")
    made = [
        _clip(folder / "plain.mp4"),  # index after the data, as cameras write
        _clip(folder / "faststart.mp4", movflags="+faststart"),
        _clip(folder / "clip.mov"),
        _clip(folder / "clip.mkv"),
        _clip(folder / "clip.webm", codec="libvpx-vp9"),
        _clip(folder / "clip.avi", codec="mpeg4"),
        _clip(folder / "clip.gif", codec="gif", pix_fmt="rgb8"),
        _photo(folder / "photo.jpg", quality=90, exif=_exif_orientation(6)),
        _photo(folder / "photo.png"),
        _photo(folder / "photo.webp", quality=90),
        _photo(folder / "photo.tiff"),
        _photo(folder / "photo.bmp"),
    ]
    found = {}
    for path in made:
        kind, frames, pixels = _read(path)
        assert kind == "ok", (path.name, frames)
        found[path.name] = Seed(path, path.read_bytes(), frames, pixels)
    return found


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzzed")


def _read(path: Path) -> tuple[str, int | str, np.ndarray | None]:
    """("ok", frames, first frame) or ("refused", message, None).

    Only MediaError and OSError may escape the media layer; any other exception propagates
    and fails the test. A successful read must agree with what probe promised.
    """
    try:
        info = probe(path)
        if info.kind == "image":
            images = [read_image(path)]
        else:
            images = [frame.image for frame in VideoReader(path)]
    except (MediaError, OSError) as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)
        return "refused", message, None
    for image in images:
        assert image.dtype == np.uint8 and image.shape == (info.height, info.width, 3)
    return "ok", len(images), images[0]


def _write(scratch: Path, name: str, data: bytes) -> Path:
    path = scratch / name
    path.write_bytes(data)
    return path


SEED_NAMES = [
    "plain.mp4",
    "faststart.mp4",
    "clip.mov",
    "clip.mkv",
    "clip.webm",
    "clip.avi",
    "clip.gif",
    "photo.jpg",
    "photo.png",
    "photo.webp",
    "photo.tiff",
    "photo.bmp",
]


# -- media: cut points ------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(SEED_NAMES), where=st.floats(0, 1, exclude_max=True))
def test_a_cut_file_is_refused_or_reads_whole(seeds, scratch, name, where):
    """However a file is cut (mid-header, mid-index, mid-frame), it is refused, or every
    frame comes back exactly as from the whole file: never a shorter "finished" read."""
    seed = seeds[name]
    cut = max(1, int(len(seed.data) * where))
    kind, frames, pixels = _read(_write(scratch, name, seed.data[:cut]))
    if kind == "ok":
        assert frames == seed.frames, f"cut at {cut} of {len(seed.data)} read {frames} frames"
        assert np.array_equal(pixels, seed.pixels)


@pytest.mark.parametrize("name", SEED_NAMES[:7])
def test_every_cut_in_the_last_kilobyte_is_refused(seeds, scratch, name):
    """The end of a file (the index of a camera MP4, a GIF's last frame, Matroska cues) is
    where a copy is most often cut; each of those cut points is refused."""
    seed = seeds[name]
    for cut in range(max(1, len(seed.data) - 1024), len(seed.data), 7):
        kind, frames, _ = _read(_write(scratch, name, seed.data[:cut]))
        assert kind == "refused", f"{name} cut at {cut} of {len(seed.data)}: {frames} frames"


# -- media: damaged bytes and header fields ---------------------------------------------


@FUZZ
@given(
    name=st.sampled_from(SEED_NAMES),
    changes=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8
    ),
)
def test_damaged_bytes_are_refused_or_read_consistently(seeds, scratch, name, changes):
    """Bytes changed anywhere: a clean refusal, or frames that match probe's description,
    and the same outcome on every pass. A damaged frame flagged on one pass but not the
    next would let a render pass write what the detection pass refused (found here: frame
    threads made the decoder's damage flag depend on timing)."""
    data = bytearray(seeds[name].data)
    for where, value in changes:
        data[int(len(data) * where)] = value
    path = _write(scratch, name, bytes(data))
    outcomes = {_fingerprint(path) for _ in range(3)}
    assert len(outcomes) == 1, outcomes


def _fingerprint(path: Path) -> tuple:
    """What one full read of ``path`` gives: the refusal, or a digest of every frame."""
    kind, message, _ = _read(path)
    if kind == "refused":
        return kind, message
    if probe(path).kind == "image":
        return kind, read_image(path).tobytes()
    return kind, tuple(hash(frame.image.tobytes()) for frame in VideoReader(path))


@FUZZ
@given(
    name=st.sampled_from(SEED_NAMES),
    offset=st.integers(0, 511),
    value=st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
    width=st.sampled_from([1, 2, 4]),
)
def test_header_fields_overwritten_are_refused_or_read_consistently(
    seeds, scratch, name, offset, value, width
):
    """Sizes, counts and flags in the first 512 bytes (box and element sizes, dimensions,
    codec parameters) set to edge values."""
    data = bytearray(seeds[name].data)
    offset = min(offset, len(data) - width)
    data[offset : offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "big")
    _read(_write(scratch, name, bytes(data)))


@FUZZ
@given(
    name=st.sampled_from(SEED_NAMES[:7]),
    offset=st.integers(0, 511),
    value=st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
    width=st.sampled_from([1, 2, 4]),
    suffix=st.sampled_from([".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif"]),
)
def test_what_is_read_is_written_whole_or_refused(
    seeds, scratch, name, offset, value, width, suffix
):
    """A damaged header the reader accepts (an absurd frame rate or time base, say) is
    written with every frame, or refused with MediaError and nothing left behind (found
    here: a rate of one frame in eleven days divided by zero)."""
    data = bytearray(seeds[name].data)
    offset = min(offset, len(data) - width)
    data[offset : offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "big")
    path = _write(scratch, name, bytes(data))
    kind, frames, _ = _read(path)
    if kind == "refused":
        return
    out = scratch / f"written{suffix}"
    out.unlink(missing_ok=True)
    try:
        with VideoReader(path) as reader, atomic_output(out) as temp:
            with VideoWriter(temp, reader.info, Settings()) as writer:
                for frame in reader:
                    writer.write(frame, frame.image)
    except MediaError as err:
        assert "\n" not in str(err)
        assert not out.exists()
    else:
        assert sum(1 for _ in VideoReader(out)) == frames
    assert not [p.name for p in scratch.iterdir() if PARTIAL_MARKER in p.name]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif"])
def test_a_frame_every_eleven_days_is_written_or_refused(seeds, scratch, suffix):
    """The case the property above found, kept: an AVI whose stream header says one frame
    per million seconds. Written whole, or refused with MediaError (never ZeroDivisionError
    or FFmpeg's own exception out of the encoder)."""
    data = bytearray(seeds["clip.avi"].data)
    struct.pack_into("<II", data, data.find(b"strh") + 28, 1_000_000, 1)  # dwScale, dwRate
    path = _write(scratch, "slow.avi", bytes(data))
    assert probe(path).fps == pytest.approx(1e-6)
    out = scratch / f"slow-out{suffix}"
    try:
        with VideoReader(path) as reader, atomic_output(out) as temp:
            with VideoWriter(temp, reader.info, Settings()) as writer:
                for frame in reader:
                    writer.write(frame, frame.image)
    except MediaError:
        assert not out.exists()
    else:
        assert sum(1 for _ in VideoReader(out)) == _FRAMES


def _png(width: int, height: int, depth: int, colour: int, interlace: int) -> bytes:
    """The seed PNG with its IHDR fields replaced and the checksum made right again."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:29] = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


_SIDES = st.one_of(st.sampled_from([0, 1, 7, 8, 9, 4096, 10_001, 50_000]), st.integers(0, 2**31))


@FUZZ
@given(
    width=_SIDES,
    height=_SIDES,
    depth=st.sampled_from([0, 1, 2, 4, 8, 16, 3, 255]),
    colour=st.integers(0, 7),
    interlace=st.integers(0, 2),
)
def test_png_header_fields(scratch, width, height, depth, colour, interlace):
    """Every IHDR combination, with a valid checksum so the fields themselves are judged:
    refused, or read at exactly the size the header promised (never past the pixel limit)."""
    path = _write(scratch, "header.png", _png(width, height, depth, colour, interlace))
    kind, _, _ = _read(path)
    if kind == "ok":
        assert width * height <= 100_000_000


@FUZZ
@given(
    name=st.sampled_from(["photo.jpg", "photo.bmp", "clip.gif"]),
    width=_SIDES,
    height=_SIDES,
)
def test_claimed_dimensions(seeds, scratch, name, width, height):
    """The size fields of a JPEG frame header, a BMP header and a GIF screen, set to any
    value: refused, or read at the size probe reports."""
    data = bytearray(seeds[name].data)
    if name.endswith(".jpg"):
        at = data.find(b"\xff\xc0") + 5
        data[at : at + 4] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    elif name.endswith(".bmp"):
        data[18:26] = struct.pack("<ii", width % 2**31, height % 2**31)
    else:
        data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    _read(_write(scratch, name, bytes(data)))


@FUZZ
@given(
    suffix=st.sampled_from([".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif", ".jpg", ".png"]),
    data=st.binary(min_size=1, max_size=4096),
    magic=st.sampled_from(
        [b"", b"\x1aE\xdf\xa3", b"RIFF", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]
    ),
)
def test_random_bytes_are_refused(scratch, suffix, data, magic):
    """Noise behind a real format's signature (so the demuxer or decoder is really tried)."""
    kind, message, _ = _read(_write(scratch, f"noise{suffix}", magic + data))
    assert kind == "refused", message


# -- regions files ----------------------------------------------------------------------

_INPUT = FileInfo("clip.mp4", "ab" * 32, "video", 640, 360, 10, 25.0)


def _valid_regions() -> dict:
    frames = {
        0: [Region(Box(10, 10, 50, 60), "face", 0.9, track=1, detected=True)],
        3: [
            Region(Box(12, 10, 52, 60), "face", 0.8, track=1, detected=False),
            Region(Box(300, 200, 360, 220), "plate", 0.7, track=2, detected=True),
        ],
    }
    regions = RegionsFile(_INPUT, frames, summarise_tracks(frames), {"mode": "blur"}, ["m"])
    with tempfile.TemporaryDirectory() as folder:  # exactly what save() writes
        path = Path(folder) / "r.json"
        save(regions, path)
        return json.loads(path.read_text(encoding="utf-8"))


VALID = _valid_regions()
VALID["manual"] = [
    {
        "id": "m1",
        "label": "area",
        "start": 0.0,
        "end": 0.3,
        "keyframes": [{"time": 0.0, "box": [0, 0, 64, 36]}, {"time": 0.3, "box": [8, 8, 72, 44]}],
    }
]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value, as a key path."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


_PLACES = _paths(VALID)[1:]


@st.composite
def _mutated(draw: st.DrawFn) -> object:
    """The valid file with a few places replaced by any JSON value, deleted or duplicated."""
    data = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        place = draw(st.sampled_from(_PLACES))
        parent = data
        try:
            for key in place[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
            if action == "replace":
                parent[place[-1]] = draw(_JSON)
            elif action == "delete":
                del parent[place[-1]]
            elif isinstance(parent, list):
                parent.append(json.loads(json.dumps(parent[place[-1]])))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or retyped this place
    return data


def _text(value: object) -> str:
    return json.dumps(value, allow_nan=True)


_DOCUMENTS = st.one_of(
    _mutated().map(_text),
    _JSON.map(_text),
    st.text(max_size=200),
    st.sampled_from(
        [
            "[" * 100_000,
            '{"a":' * 50_000 + "1" + "}" * 50_000,
            "1" * 10_000,
            '{"format": "anonymize-regions", "version": 1e999}',
            "\ufeff" + _text(VALID),
        ]
    ),
)


def _check_loaded(regions: RegionsFile) -> None:
    """A file load accepted can be drawn: finite boxes inside the frame, on any frame."""
    info = regions.input
    image = np.zeros((8, 8, 3), np.uint8)
    times = [0.0, 0.1, 0.3, 1e6, *regions.times.values()]
    for index in [*regions.frames, 0, info.frame_count - 1]:
        for time in times:
            for region in regions.regions_to_render(index, time):
                box = region.box
                coordinates = (box.x1, box.y1, box.x2, box.y2)
                assert all(math.isfinite(v) for v in coordinates), box
                assert 0 <= box.x1 <= box.x2 <= info.width and 0 <= box.y1 <= box.y2 <= info.height
            obscure(image, regions.regions_to_render(index, time), Settings())


@FUZZ
@given(document=_DOCUMENTS)
def test_regions_files_are_loaded_whole_or_refused(scratch, document):
    path = scratch / "regions.json"
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    try:
        regions = load(path)
    except RegionsError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))
        return
    _check_loaded(regions)


@FUZZ
@given(data=st.binary(max_size=300))
def test_regions_files_of_any_bytes(scratch, data):
    path = scratch / "regions.json"
    path.write_bytes(data)
    with pytest.raises(RegionsError):
        load(path)


def test_the_valid_document_loads(scratch):
    """The base the mutations start from is itself accepted (or they would test nothing)."""
    path = scratch / "regions.json"
    path.write_text(_text(VALID))
    _check_loaded(load(path))
