"""Hostile and broken input through the command: never a crash, never a leak, never a half file.

Every file here is made by the test itself (no committed media): broken, lying and odd media
made with PyAV (and the ffmpeg binary from imageio-ffmpeg where only it can make the file),
hostile names, an output folder that is full or read-only, runs killed part way and a run
without network. Outcomes are checked the way a newsroom would meet them: the exit code, the
one error line naming the file, what is (and is not) left in the output folder, and the
inputs' hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from click.testing import CliRunner
from clips import first_frames
from PIL import Image

import anonymize
from anonymize.api import Anonymizer
from anonymize.cli import main
from anonymize.config import Settings
from anonymize.media import MediaError, VideoReader, probe, read_image
from anonymize.media.atomic import PARTIAL_MARKER
from anonymize.regions import load as load_regions

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FACES = ("--targets", "faces")  # media handling does not need the slower plate models

# -- making media -----------------------------------------------------------------------


def _clip(
    path: Path,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: str | None = None,
    codec_options: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    **options: str,
) -> Path:
    """A clip of blocky noise (every frame costs real bytes) at 25 fps; alpha varies too.
    ``options`` go to the muxer."""
    width, height = size
    rng = np.random.default_rng(len(path.name))
    with av.open(str(path), "w", options=options) as out:
        out.metadata.update(tags or {})
        stream = out.add_stream(codec, rate=25, options=codec_options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        sound = out.add_stream(audio, rate=48000, layout="mono") if audio else None
        for index in range(frames):
            coarse = rng.integers(0, 256, (max(1, height // 8), max(1, width // 8), 4), np.uint8)
            image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width]
            image = np.ascontiguousarray(np.pad(image, ((0, height - len(image)), (0, 0), (0, 0))))
            frame = av.VideoFrame.from_ndarray(image, format="bgra")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            _add_silence(out, sound, seconds=frames / 25)
    return path


def _add_silence(out: av.container.OutputContainer, sound: av.AudioStream, seconds: float) -> None:
    step = sound.codec_context.frame_size or 1024
    fmt = sound.codec_context.format.name
    dtype = np.float32 if fmt.startswith("flt") else np.int16
    for start in range(0, int(seconds * 48000), step):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, step), dtype), format=fmt, layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def _audio_only(path: Path, codec: str) -> Path:
    with av.open(str(path), "w") as out:
        _add_silence(out, out.add_stream(codec, rate=48000, layout="mono"), seconds=0.5)
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True)


def _photo(path: Path, size: tuple[int, int] = (40, 30), mode: str = "RGB", **params) -> Path:
    rng = np.random.default_rng(len(path.name))
    bands = len(Image.new(mode, (1, 1)).getbands())
    pixels = rng.integers(0, 256, (size[1], size[0], bands), np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if bands == 1 else pixels, "L" if bands == 1 else None)
    image.convert(mode).save(path, **params)
    return path


def _frame_count(path: Path) -> int:
    with av.open(str(path), metadata_errors="replace") as container:
        return sum(1 for _ in container.decode(video=0))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): _sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _files(folder: Path) -> list[str]:
    """Every file (not folder) under ``folder``, hidden ones included."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def _show(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() else repr(text)


def _run(*args: str):
    """The command in this process; an exception escaping it fails the test (no traceback
    may ever reach a user)."""
    return CliRunner().invoke(main, [*args, "--quiet"], catch_exceptions=False)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- broken files -----------------------------------------------------------------------

VIDEO_SUFFIXES = [".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif"]
PHOTO_SUFFIXES = [".jpg", ".png", ".webp", ".tiff", ".bmp", ".heic"]
_CUT = r"truncated|not a readable video|no video stream|no decodable|ends before|codec"


def _cuts(data: bytes, marks: dict[str, int]) -> dict[str, bytes]:
    return {name: data[:at] for name, at in marks.items()}


def _cut_files(folder: Path) -> dict[str, bytes]:
    """Each container cut where copies break: in the header, in the index, in a frame, and
    one byte short."""
    seeds = folder / "seeds"
    seeds.mkdir()
    plain = _clip(seeds / "plain.mp4", audio="aac").read_bytes()  # index at the end
    fast = _clip(seeds / "fast.mp4", movflags="+faststart").read_bytes()  # index first
    mov = _clip(seeds / "clip.mov").read_bytes()
    mkv = _clip(seeds / "clip.mkv", audio="aac").read_bytes()
    webm = _clip(seeds / "clip.webm", codec="libvpx-vp9").read_bytes()
    avi = _clip(seeds / "clip.avi", codec="mpeg4").read_bytes()
    gif = _clip(seeds / "clip.gif", codec="gif", pix_fmt="rgb8").read_bytes()
    moov, mdat = plain.rfind(b"moov"), plain.find(b"mdat")
    fast_moov, fast_mdat = fast.find(b"moov"), fast.find(b"mdat")
    cluster, cues = mkv.find(b"\x1f\x43\xb6\x75"), mkv.rfind(b"\x1c\x53\xbb\x6b")
    movi, idx1 = avi.find(b"movi"), avi.rfind(b"idx1")
    assert mdat < moov and fast_moov < fast_mdat and 0 < cluster < cues and movi < idx1
    cuts = {}
    for name, data, marks in [
        ("plain", plain, {"header": 20, "frame": (mdat + moov) // 2, "index": moov + 200}),
        ("fast", fast, {"index": fast_moov + 100, "frame": (fast_mdat + len(fast)) // 2}),
        ("mov", mov, {"frame": len(mov) // 3, "short": len(mov) - 1}),
        ("mkv", mkv, {"header": 30, "frame": (cluster + cues) // 2, "cues": cues + 8}),
        ("webm", webm, {"frame": len(webm) // 2, "short": len(webm) - 1}),
        ("avi", avi, {"frame": (movi + idx1) // 2, "index": idx1 + 40, "short": len(avi) - 1}),
        ("gif", gif, {"frame": len(gif) // 2, "short": len(gif) - 1}),
    ]:
        suffix = {"plain": ".mp4", "fast": ".mp4"}.get(name, "." + name)
        for mark, cut in _cuts(data, marks).items():
            cuts[f"cut-{name}-{mark}{suffix}"] = cut
    shutil.rmtree(seeds)
    return cuts


def _png_claiming(width: int, height: int) -> bytes:
    buffer = bytearray(_encoded(Image.new("L", (8, 8)), "PNG"))
    buffer[16:24] = struct.pack(">II", width, height)
    buffer[29:33] = zlib.crc32(bytes(buffer[12:29])).to_bytes(4, "big")
    return bytes(buffer)


def _encoded(image: Image.Image, fmt: str, **params) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _huge_headers() -> dict[str, bytes]:
    """Photos whose headers claim 50000x50000 pixels (2.5 gigapixels, 7.5 GB decoded)."""
    small = Image.new("RGB", (16, 16))
    jpeg = bytearray(_encoded(small, "JPEG"))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 50_000, 50_000)
    bmp = bytearray(_encoded(small, "BMP"))
    bmp[18:26] = struct.pack("<ii", 50_000, 50_000)
    webp = bytearray(_encoded(small, "WEBP", lossless=True))  # VP8L: 14-bit sides, max 16384
    at = webp.find(b"VP8L") + 9
    bits = int.from_bytes(webp[at : at + 4], "little") & ~((1 << 28) - 1)
    webp[at : at + 4] = (bits | 16383 | 16383 << 14).to_bytes(4, "little")
    gif = bytearray(_encoded(Image.new("P", (16, 16)), "GIF"))
    gif[6:10] = struct.pack("<HH", 50_000, 50_000)
    tiff = _tiff_claiming(50_000, 50_000)
    return {
        "huge.png": _png_claiming(50_000, 50_000),
        "huge.jpg": bytes(jpeg),
        "huge.bmp": bytes(bmp),
        "huge.webp": bytes(webp),
        "huge.tiff": tiff,
        "huge.gif": bytes(gif),
    }


def _tiff_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encoded(Image.new("RGB", (4, 4)), "TIFF"))
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<H" if kind == 3 else "<I", data, at + 8, value)
    return bytes(data)


def _damaged(folder: Path) -> bytes:
    """A clip with a frame the decoder reports as damaged (found by trying a few patterns
    of overwritten bytes, since encoder output varies from run to run)."""
    clean = _clip(
        folder / "clean.mp4", frames=24, size=(96, 64), codec_options={"g": "6"}
    ).read_bytes()
    start, end = clean.find(b"mdat") + 8, clean.find(b"moov")
    rng = np.random.default_rng(5)
    for _ in range(40):
        data = bytearray(clean)
        spot = int(rng.integers(start + 2000, end - 400))
        data[spot : spot + 300 : 3] = rng.integers(0, 256, 100, np.uint8).tobytes()
        path = folder / "candidate.mp4"
        path.write_bytes(bytes(data))
        try:
            for _ in VideoReader(path):
                pass
        except MediaError as err:
            if "damaged" in str(err):
                (folder / "clean.mp4").unlink()
                path.unlink()
                return bytes(data)
    raise AssertionError("no damaged-frame pattern found")


def _mp4_with_lying_timescale(folder: Path) -> bytes:
    data = bytearray(_clip(folder / "timescale.mp4").read_bytes())
    (folder / "timescale.mp4").unlink()
    mdhd = data.find(b"mdhd")
    struct.pack_into(">I", data, mdhd + 16, 0)  # the video track's clock ticks 0 times/s
    return bytes(data)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder of broken files and, for each, what its error must say."""
    folder = tmp_path_factory.mktemp("broken")
    expected: dict[str, str] = {}

    def add(name: str, data: bytes, cause: str) -> None:
        (folder / name).write_bytes(data)
        expected[name] = cause

    noise = np.random.default_rng(0)
    for suffix in VIDEO_SUFFIXES + PHOTO_SUFFIXES:
        add(f"empty{suffix}", b"", "empty file")
        kind = "video" if suffix in VIDEO_SUFFIXES else "image"
        add(f"noise{suffix}", noise.bytes(20_000), f"not a readable {kind}|ends before its header")
    for name, data in _cut_files(folder).items():
        add(name, data, _CUT)
    for name, data in _huge_headers().items():
        # FFmpeg itself refuses a 2.5-gigapixel GIF screen before it allocates anything
        add(name, data, "too large|cannot be decoded" if name.endswith(".gif") else "too large")
    add("damaged-frame.mp4", _damaged(folder), "damaged|decoding failed")
    add("zero-timescale.mp4", _mp4_with_lying_timescale(folder), "no decodable video frame")
    slow = bytearray(_clip(folder / "slow.avi", codec="mpeg4").read_bytes())
    struct.pack_into("<II", slow, slow.find(b"strh") + 28, 1_000_000, 1)  # a frame per 11 days
    add("slow.avi", bytes(slow), "could not write the video")
    add("playlist.mp4", b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/leak.ts\n", "not a readable")
    add("voice.mp4", _audio_only(folder / "voice.mp4", "aac").read_bytes(), "no video stream")
    add("voice.mkv", _audio_only(folder / "voice.mkv", "flac").read_bytes(), "no video stream")
    cover = _photo(folder / "cover.png", (32, 32))
    voice = folder / "voice.mp4"
    _ffmpeg(
        *("-i", str(voice), "-i", str(cover), "-map", "0", "-map", "1", "-c", "copy"),
        *("-disposition:v", "attached_pic", str(folder / "cover-art-only.mp4")),
    )
    cover.unlink()
    expected["cover-art-only.mp4"] = "no video stream"
    os.mkfifo(folder / "pipe.mp4")
    expected["pipe.mp4"] = "not a regular file"
    (folder / "device.mp4").symlink_to("/dev/zero")
    expected["device.mp4"] = "not a regular file"
    (folder / "dangling.jpg").symlink_to(folder / "gone.jpg")
    expected["dangling.jpg"] = "file not found"
    return folder, expected


def test_broken_files_each_fail_alone_with_one_line_and_leave_nothing(broken, tmp_path):
    folder, expected = broken
    before = _hashes(folder)
    out = tmp_path / "out"
    result = _run(str(folder), "-o", str(out), *FACES)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = _errors(result.stderr)
    problems = []
    for name, cause in expected.items():
        prefix = f"error: {_show(folder / name)}: "
        lines = [line for line in errors if line.startswith(prefix)]
        if len(lines) != 1 or not re.search(cause, lines[0]):
            problems.append((name, cause, lines))
    assert problems == [], "\n".join(map(str, problems))
    assert len(errors) == len(expected)  # and no "run stopped": bad inputs are not bad disks
    assert f"0 anonymized, 0 skipped, {len(expected)} failed" in result.stderr
    assert _files(out) == []
    assert _hashes(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


_BOUNDED = """
import re, resource, sys
from pathlib import Path
from anonymize.media import MediaError, probe, read_image

# Everything is imported; from here on the process may grow by 256 MB at most.
size = int(re.search(r"VmSize:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (256 << 20), resource.RLIM_INFINITY))
for path in map(Path, sys.argv[1:]):
    for step in (probe, read_image):
        try:
            step(path)
        except MediaError as err:  # a MemoryError inside a decoder would say "cannot decode"
            print(f"{path.name}: {err}")
            continue
        sys.exit(f"{path.name}: {step.__name__} did not refuse it")
"""


def test_huge_headers_are_refused_in_bounded_memory(broken):
    """2.5 gigapixels would be 7.5 GB decoded; they are refused with 256 MB to spare (an
    allocation past that fails, and MemoryError is not a refusal)."""
    folder, _ = broken
    huge = sorted(str(p) for p in folder.glob("huge.*"))
    assert len(huge) == 6
    run = subprocess.run(
        [sys.executable, "-c", _BOUNDED, *huge], env=_env(), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    refusals = run.stdout.splitlines()
    assert len(refusals) == 12
    for line in refusals:  # refused for their size, or (the GIF) by FFmpeg before allocating
        assert re.fullmatch(r"huge\.\w+: image too large .*|huge\.gif: .*Invalid argument\)", line)


def test_a_damaged_frame_fails_the_file_whatever_on_error_says(broken, tmp_path):
    folder, _ = broken
    for on_error in ("fail", "obscure-frame"):
        out = tmp_path / on_error / "out.mp4"
        src = folder / "damaged-frame.mp4"
        result = _run(str(src), "-o", str(out), "--on-error", on_error, *FACES)
        assert result.exit_code == 1
        [line] = _errors(result.stderr)
        assert line.startswith(f"error: {src}: ") and "damaged" in line
        assert _files(out.parent) == []


# -- odd but valid media ----------------------------------------------------------------


def _with_bad_tags(path: Path) -> None:
    """Replace a tag's text with bytes that are not UTF-8 (PyAV used to crash on them)."""
    data = path.read_bytes()
    assert data.count(b"TAGTAGTAG") == 1
    path.write_bytes(data.replace(b"TAGTAGTAG", b"\xff\xfe\xc3(\x80\xe9\xa0\xff\x00"))


def _animated(path: Path, frames: int) -> Path:
    images = [Image.new("RGB", (16, 12), (index % 256, 40, 90)) for index in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=20, loop=0)
    return path


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Valid files at the edges: tiny and odd sizes, 10-bit, 4:4:4, alpha, grey, 16-bit,
    CMYK, palettes with transparency, thousands of animation frames."""
    folder = tmp_path_factory.mktemp("odd")
    videos = [
        ("1x1.mp4", {"size": (1, 1), "pix_fmt": "yuv444p"}),
        ("2x2.mp4", {"size": (2, 2)}),
        ("33x17.mp4", {"size": (33, 17), "pix_fmt": "yuv444p"}),
        ("31x15-ffv1-420.mkv", {"size": (31, 15), "codec": "ffv1"}),
        ("10bit.mp4", {"pix_fmt": "yuv420p10le"}),
        ("444.mp4", {"pix_fmt": "yuv444p"}),
        ("444-10bit.mkv", {"pix_fmt": "yuv444p10le"}),
        ("alpha-vp9.webm", {"codec": "libvpx-vp9", "pix_fmt": "yuva420p"}),
        ("alpha-png.mov", {"codec": "png", "pix_fmt": "rgba"}),
        ("alpha-qtrle.mov", {"codec": "qtrle", "pix_fmt": "argb"}),
        ("alpha-prores4444.mov", {"codec": "prores_ks", "pix_fmt": "yuva444p10le"}),
        ("grey.mkv", {"codec": "ffv1", "pix_fmt": "gray"}),
        ("grey16.mkv", {"codec": "ffv1", "pix_fmt": "gray16le"}),
        ("mjpeg.avi", {"codec": "mjpeg", "pix_fmt": "yuvj420p"}),
    ]
    for name, options in videos:
        _clip(folder / name, **options)
    _with_bad_tags(_clip(folder / "tags-not-utf8.mp4", tags={"title": "TAGTAGTAG"}))
    _photo(folder / "1x1.png", (1, 1))
    _photo(folder / "1x1.jpg", (1, 1))
    _photo(folder / "3x1.bmp", (3, 1))
    _photo(folder / "odd-33x17.webp", (33, 17))
    _photo(folder / "rgba.png", mode="RGBA")
    _photo(folder / "grey-alpha.png", mode="LA")
    _photo(folder / "palette-transparent.png", mode="P", transparency=0)
    _photo(folder / "16bit.png", mode="I;16")
    _photo(folder / "cmyk.jpg", mode="CMYK")
    _photo(folder / "rgba.webp", mode="RGBA")
    _photo(folder / "rgba.tiff", mode="RGBA")
    _photo(folder / "1bit.bmp", mode="1")
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _photo(folder / "rgba.heic", mode="RGBA")
    _animated(folder / "animated-2000.png", 2000)
    _animated(folder / "animated-2000.webp", 2000)
    return folder


def test_odd_but_valid_media_is_anonymized_whole(odd, tmp_path):
    before = _hashes(odd)
    out = tmp_path / "out"
    result = _run(str(odd), "-o", str(out), *FACES)
    assert result.exit_code == 0, _errors(result.stderr)
    assert _hashes(odd) == before
    for src in sorted(odd.iterdir()):
        dst = out / src.name
        assert (odd.parent / "anonymize-audit" / f"{src.name}.json").is_file(), src.name
        info_in, info_out = probe(src), probe(dst)
        assert (info_out.width, info_out.height) == (info_in.width, info_in.height), src.name
        if info_in.kind == "video":
            assert _frame_count(dst) == _frame_count(src) == 12, src.name
        else:
            with Image.open(dst) as image:  # an animation's other frames are never written
                assert getattr(image, "n_frames", 1) == 1, src.name
            assert read_image(dst).shape == (info_in.height, info_in.width, 3)
    assert not [name for name in _files(out) if PARTIAL_MARKER in name]


def test_thousands_of_animation_frames_stream_through(tmp_path):
    """A 3000-frame GIF (the video path) is written whole; nothing holds all frames."""
    src = tmp_path / "long.gif"
    _clip(src, frames=3000, size=(16, 12), codec="gif", pix_fmt="rgb8")
    dst = tmp_path / "out.gif"
    regions = Anonymizer(Settings(), detectors=[]).anonymize_file(src, dst, report=False)
    assert regions.input.frame_count == 3000
    assert _frame_count(dst) == 3000


# -- containers that lie ----------------------------------------------------------------


def _patched(data: bytes, marker: bytes, offset: int, fmt: str, value: float | int) -> bytes:
    patched = bytearray(data)
    at = patched.find(marker)
    assert at > 0, marker
    struct.pack_into(fmt, patched, at + offset, value)
    return bytes(patched)


@pytest.fixture(scope="module")
def liars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clips of 12 frames whose headers claim other durations, frame counts and rates."""
    folder = tmp_path_factory.mktemp("liars")
    seeds = tmp_path_factory.mktemp("liar-seeds")
    mp4 = _clip(seeds / "a.mp4").read_bytes()
    avi = _clip(seeds / "a.avi", codec="mpeg4").read_bytes()
    mkv = _clip(seeds / "a.mkv").read_bytes()
    lies = {
        "mvhd-duration-0.mp4": (mp4, b"mvhd", 20, ">I", 0),
        "mvhd-duration-max.mp4": (mp4, b"mvhd", 20, ">I", 0xFFFFFFFF),
        "mdhd-duration-0.mp4": (mp4, b"mdhd", 20, ">I", 0),
        "mdhd-duration-max.mp4": (mp4, b"mdhd", 20, ">I", 0xFFFFFFFF),
        "tkhd-duration-max.mp4": (mp4, b"tkhd", 24, ">I", 0xFFFFFFFF),
        "stts-claims-100000-frames.mp4": (mp4, b"stts", 12, ">I", 100_000),
        "stts-claims-1-frame.mp4": (mp4, b"stts", 12, ">I", 1),
        "avih-claims-0-frames.avi": (avi, b"avih", 24, "<I", 0),
        "avih-claims-1e9-frames.avi": (avi, b"avih", 24, "<I", 10**9),
        "strh-claims-1e6-fps.avi": (avi, b"strh", 28, "<II", None),
    }
    for name, (data, marker, offset, fmt, value) in lies.items():
        if fmt == "<II":
            patched = bytearray(data)
            struct.pack_into(fmt, patched, patched.find(marker) + offset, 1, 1_000_000)
            (folder / name).write_bytes(bytes(patched))
        else:
            (folder / name).write_bytes(_patched(data, marker, offset, fmt, value))
    duration = mkv.find(b"\x44\x89")  # Segment Info: Duration, a float of 4 or 8 bytes
    wide = mkv[duration + 2] == 0x88
    for name, value in {"0": 0.0, "1e30": 1e30, "negative": -5.0}.items():
        fmt = ">d" if wide else ">f"
        (folder / f"duration-{name}.mkv").write_bytes(_patched(mkv, b"\x44\x89", 3, fmt, value))
    return folder


def test_containers_that_lie_about_length_are_read_to_their_real_end(liars, tmp_path):
    out = tmp_path / "out"
    result = _run(str(liars), "-o", str(out), *FACES)
    assert result.exit_code == 0, _errors(result.stderr)
    for src in sorted(liars.iterdir()):
        assert _frame_count(out / src.name) == 12, src.name
        record = liars.parent / "anonymize-audit" / f"{src.name}.json"
        assert load_regions(record).input.frame_count == 12, src.name


# -- hostile names ----------------------------------------------------------------------

HOSTILE_NAMES = [
    "with space.mp4",
    'it\'s "quoted".jpg',
    "ünïcødé 東京 🙂.mp4",
    "new\nline.jpg",
    "-leading-dash.mp4",
    "--help.jpg",
    "$(touch pwned);`touch pwned2`.mp4",
    "back\\slash%s%n.jpg",
    "concat:a.mp4|b.mp4",
    "http:--example.org-x.jpg",
]


def test_hostile_names_are_only_names(tmp_path):
    src = tmp_path / "in 'dir' -x"
    (src / "sub ü").mkdir(parents=True)
    for index, name in enumerate(HOSTILE_NAMES):
        where = src / "sub ü" if index % 2 else src
        if name.endswith(".mp4"):
            _clip(where / name)
        else:
            _photo(where / name)
    (src / "sub ü" / "loop").symlink_to(src)  # a symlink loop is not followed
    (src / "self.mp4").symlink_to(src / "self.mp4")  # a file that is its own symlink
    before = _hashes(src)
    out = tmp_path / "out -o 'ü'"
    result = _run(str(src), "-o", str(out), *FACES)

    assert result.exit_code == 1  # self.mp4 only
    [line] = _errors(result.stderr)
    assert line.startswith(f"error: {src / 'self.mp4'}: ")
    assert _hashes(src) == before
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert written == sorted(HOSTILE_NAMES)
    records = sorted(p.name for p in (tmp_path / "anonymize-audit").rglob("*") if p.is_file())
    assert records == sorted(f"{n}.json" for n in HOSTILE_NAMES)
    assert not list(tmp_path.rglob("pwned*")) and not Path("pwned").exists()


def test_a_leading_dash_and_a_newline_in_single_file_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "-o.jpg")
    result = CliRunner().invoke(main, ["--quiet", *FACES, "--", "-o.jpg"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "-o_anonymized.jpg").is_file()
    broken = tmp_path / "bad\nname.mp4"
    broken.write_bytes(b"not a video")
    result = _run(str(broken), *FACES)
    assert result.exit_code == 1
    [line] = _errors(result.stderr)  # the newline is shown escaped, on the same line
    assert line.startswith(f"error: {str(broken)!r}: not a readable video")


# -- a full or read-only output folder ---------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small RAM file system at ``where`` (root only); skips when mounting is not allowed."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _mount_available() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _mount_available(), reason="needs root to mount a small file system")
@pytest.mark.parametrize("big", ["video", "photo"])
def test_a_full_output_folder_stops_the_run_and_keeps_earlier_outputs(tmp_path, big):
    src = tmp_path / "in"
    src.mkdir()
    _photo(src / "a.jpg", (16, 16))
    if big == "video":
        _clip(src / "b.mp4", frames=48, size=(256, 192))  # its output: ~180 kB of noise
    else:
        _photo(src / "b.png", (640, 480))  # ~900 kB of noise
    _photo(src / "c.jpg", (16, 16))
    before = _hashes(src)
    with _tmpfs(tmp_path / "disk", "96k") as out:
        result = _run(str(src), "-o", str(out), *FACES)
        assert result.exit_code == 1
        first, stop = _errors(result.stderr)
        big_name = next(p for p in src.iterdir() if p.name.startswith("b."))
        assert first.startswith(f"error: {big_name}: ") and "No space left on device" in first
        assert stop == (
            f"error: {out}: outputs cannot be written there (No space left on device); run stopped"
        )
        assert "skipped" in result.stderr and "not attempted" in result.stderr
        assert "1 anonymized, 1 skipped, 1 failed" in result.stderr
        assert _files(out) == ["a.jpg"]
        assert read_image(out / "a.jpg").shape == (16, 16, 3)
        record = tmp_path / "anonymize-audit" / "a.jpg.json"
        assert load_regions(record).output.sha256 == _sha256(out / "a.jpg")
    assert _hashes(src) == before


@pytest.mark.skipif(not _mount_available(), reason="needs root to mount a small file system")
def test_a_read_only_output_folder_stops_the_run_and_keeps_earlier_outputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _photo(src / "a.jpg", (16, 16))
    _clip(src / "b.mp4", audio="aac")  # audio: the muxer's refusal is not an audio problem
    with _tmpfs(tmp_path / "disk", "1m") as out:
        assert _run(str(src / "a.jpg"), "-o", str(out / "a.jpg"), *FACES).exit_code == 0
        earlier = _hashes(out)
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
        for args in ([], ["--overwrite"]):
            result = _run(str(src), "-o", str(out), *FACES, *args)
            assert result.exit_code == 1
            errors = _errors(result.stderr)
            if args:  # a.jpg is attempted, refused, and the run stops
                assert errors[0].startswith(f"error: {src / 'a.jpg'}: cannot write JPEG (Read-")
                assert "not attempted" in result.stderr
                assert "outputs: none written" in result.stderr
            else:  # a.jpg is done already; b.mp4 is refused
                assert errors[0] == (
                    f"error: {src / 'b.mp4'}: cannot create the output (Read-only file system)"
                )
            assert errors[1] == (
                f"error: {out}: outputs cannot be written there (Read-only file system); "
                "run stopped"
            )
            assert _hashes(out) == earlier


# -- killed part way --------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from anonymize.cli import main; main()", *args]


def _env(**extra: str) -> dict[str, str]:
    """The test's own environment, importing the same anonymize the tests import."""
    env = dict(os.environ, **extra)
    package_root = str(Path(anonymize.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (extra.get("PYTHONPATH"), package_root, os.environ.get("PYTHONPATH")) if p
    )
    return env


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run to get there")
        time.sleep(0.005)


def _complete(src_folder: Path, out: Path, audit: Path) -> dict[str, str]:
    """Check every output at a final name is whole; return their hashes.

    A video at a final name decodes to as many frames as its input; a photo reads; each has
    its audit record, which names its hash (a record may precede its output: it is written
    just before the output takes its name). Temporary files are hidden and marked partial.
    """
    finals = {}
    for path in sorted(out.iterdir()):
        if PARTIAL_MARKER in path.name:
            assert path.name.startswith("."), path.name
            continue
        record = load_regions(audit / f"{path.name}.json")
        assert record.output.sha256 == _sha256(path), path.name
        if path.suffix == ".mp4":
            assert _frame_count(path) == _frame_count(src_folder / path.name), path.name
        else:
            assert read_image(path).shape == read_image(src_folder / path.name).shape
        finals[path.name] = _sha256(path)
    return finals


@pytest.fixture(scope="module")
def kill_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill-in")
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        _clip(folder / name, frames=30, size=(160, 120), audio="aac")
    _photo(folder / "d.jpg", (64, 48))
    return folder


def _partials(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {p.name for p in out.iterdir() if PARTIAL_MARKER in p.name}


def _moment(name: str, out: Path) -> Callable[[], bool]:
    """When to kill a run over a.mp4, b.mp4, c.mp4, d.jpg: as it starts writing a file (the
    models load then), right as a.mp4 is published, or while it writes the file after it."""
    earlier = _partials(out)
    return {
        "writing": lambda: bool(_partials(out) - earlier),
        "published": lambda: (out / "a.mp4").exists(),
        "writing next": lambda: bool(_partials(out) - earlier) and (out / "a.mp4").exists(),
    }[name]


def _kill_when(command: list[str], ready: Callable[[], bool], sig: int) -> tuple[int, str]:
    run = subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: ready() or run.poll() is not None)
        assert run.poll() is None, f"the run ended before the moment came: {run.stderr.read()}"
        run.send_signal(sig)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return run.returncode, stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_killed_run_leaves_no_half_output_and_the_next_run_resumes(kill_inputs, tmp_path, sig):
    before = _hashes(kill_inputs)
    out = tmp_path / "out"
    audit = tmp_path / "audit"
    command = _command(str(kill_inputs), "-o", str(out), "--audit", str(audit), "--quiet", *FACES)
    kept: dict[str, str] = {}
    for moment in ("writing", "published", "writing next"):
        code, stderr = _kill_when(command, _moment(moment, out), sig)
        assert code != 0, moment
        assert "Traceback" not in stderr, stderr
        assert _hashes(kill_inputs) == before
        finals = _complete(kill_inputs, out, audit) if out.exists() else {}
        assert {k: v for k, v in finals.items() if k in kept} == kept  # never rewritten
        kept = finals
        if sig == signal.SIGINT:  # an interrupted run removes its temporary files
            assert not _partials(out), moment
            assert code == 130 and "Run the same command again" in stderr, (moment, stderr)
            assert "interrupted: " in stderr and " anonymized; nothing unfinished" in stderr

    resumed = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert not _partials(out)  # and what a killed run could not remove, the next one does
    finals = _complete(kill_inputs, out, audit)
    assert {k: v for k, v in finals.items() if k in kept} == kept  # finished files skipped
    assert set(finals) == {p.name for p in kill_inputs.iterdir()}
    assert _hashes(kill_inputs) == before


# -- no network -------------------------------------------------------------------------

_NO_NETWORK = textwrap.dedent(
    """
    # Installed as sitecustomize: any attempt to open a socket is logged, then refused.
    import os, socket, traceback

    def _refuse(*args, **kwargs):
        with open(os.environ["NETWORK_LOG"], "a") as log:
            log.write("".join(traceback.format_stack(limit=6)) + "\\n")
        raise OSError("network disabled by the test")

    class _NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            _refuse()

    socket.socket = _NoSocket
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    socket.socketpair = _refuse
    """
)


def test_the_whole_pipeline_runs_without_network(samples_dir, tmp_path):
    """Faces and plates, a clip and a photo, with sockets refused in Python and, where the
    system allows, no network interface at all (so native code cannot reach out either)."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_NO_NETWORK)
    log = tmp_path / "network.log"
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples_dir / "portrait.jpg", src / "portrait.jpg")
    first_frames(samples_dir / "street.mp4", src / "street.mp4")
    before = _hashes(src)
    command = _command(str(src), "-o", str(tmp_path / "out"), "--quiet")
    isolated = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    if isolated:
        command = ["unshare", "-n", *command]
    result = subprocess.run(
        command,
        env=_env(PYTHONPATH=str(guard), NETWORK_LOG=str(log)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert not log.exists(), log.read_text()
    assert _hashes(src) == before
    for name in ("portrait.jpg", "street.mp4"):
        report = json.loads((tmp_path / "anonymize-audit" / f"{name}.json").read_text())
        assert len(report["models"]) == 2  # faces and plates both ran
        labels = {r["label"] for frame in report["frames"] for r in frame["regions"]}
        assert "face" in labels, name


# -- regions files from elsewhere ---------------------------------------------------------


@pytest.fixture(scope="module")
def photo_regions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("render")
    photo = _photo(folder / "p.jpg", (40, 30))
    assert _run("detect", str(photo), *FACES).exit_code == 0
    data = json.loads((folder / "p.jpg.regions.json").read_text())
    data["tracks"] = [{"id": 1, "label": "face", "first_frame": 0, "last_frame": 0}]
    data["frames"] = [{"index": 0, "regions": [{"label": "face", "box": [1, 1, 9, 9], "track": 1}]}]
    return photo, data


def test_render_draws_the_unchanged_regions_file(photo_regions, tmp_path):
    """The base the hostile edits below start from is accepted as it is."""
    photo, valid = photo_regions
    regions = tmp_path / "r.json"
    regions.write_text(json.dumps(valid))
    out = tmp_path / "out.png"  # lossless: only the region may change
    result = _run("render", str(photo), "--regions", str(regions), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    changed = np.any(read_image(out) != read_image(photo), axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.min() >= 1 and xs.max() < 9 and ys.min() >= 1 and ys.max() < 9


HOSTILE_REGIONS = {
    "nan-time": (
        lambda d: d["manual"].append(
            {
                "id": "m",
                "label": "area",
                "start": float("nan"),
                "end": 1,
                "keyframes": [{"time": 0, "box": [0, 0, 10, 10]}],
            }
        ),
        "not a finite number",
    ),
    "infinite-box": (
        lambda d: d["frames"].append(
            {"index": 0, "regions": [{"label": "face", "box": [0, 0, float("inf"), 5]}]}
        ),
        "not a finite number",
    ),
    "frame-twice": (
        lambda d: d["frames"].extend(
            [
                {"index": 0, "regions": [{"label": "face", "box": [0, 0, 10, 10]}]},
                {"index": 0, "regions": [{"label": "face", "box": [20, 0, 30, 10]}]},
            ]
        ),
        "listed twice",
    ),
    "track-twice": (lambda d: d["tracks"].extend([d["tracks"][0]] * 2), "listed twice"),
    "width-overflow": (lambda d: d["input"].update(width=10**400), "input/width"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_REGIONS))
def test_render_refuses_hostile_regions_files(photo_regions, tmp_path, case):
    photo, valid = photo_regions
    change, cause = HOSTILE_REGIONS[case]
    data = json.loads(json.dumps(valid))
    change(data)
    regions = tmp_path / "r.json"
    regions.write_text(json.dumps(data))
    out = tmp_path / "out.jpg"
    result = _run("render", str(photo), "--regions", str(regions), "-o", str(out))
    assert result.exit_code == 1
    [line] = _errors(result.stderr)
    assert line.startswith(f"error: {regions}: ") and cause in line  # the file at fault
    assert _files(tmp_path) == ["r.json"]


@pytest.mark.parametrize(
    "text, cause",
    [("[" * 100_000, "nested too deeply"), ("1" * 5000, "not valid JSON"), ("{}" * 3, "JSON")],
)
def test_render_refuses_regions_files_that_are_not_json(photo_regions, tmp_path, text, cause):
    photo, _ = photo_regions
    regions = tmp_path / "r.json"
    regions.write_text(text)
    result = _run("render", str(photo), "--regions", str(regions), "-o", str(tmp_path / "o.jpg"))
    assert result.exit_code == 1
    [line] = _errors(result.stderr)
    assert line.startswith(f"error: {regions}: ") and cause in line and len(line) < 400
    assert _files(tmp_path) == ["r.json"]
