"""Media layer: every promise is checked by reading the output back.

Clips are generated here with PyAV (and with the ffmpeg binary from imageio-ffmpeg where only
the CLI can plant a tag or stream), so each test controls exactly what goes in.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.media import (
    MediaError,
    VideoReader,
    VideoWriter,
    atomic_output,
    probe,
    read_image,
    write_image,
)
from anonymize.media.atomic import PARTIAL_MARKER, partial_name, remove_leftovers

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SETTINGS = Settings()


# -- helpers ----------------------------------------------------------------------------


def _pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame whose brightness encodes its index, with a red marker at the top-left."""
    image = np.full((height, width, 3), 30 + (index * 7) % 200, np.uint8)
    image[: max(2, height // 4), : max(2, width // 4)] = (0, 0, 255)
    return image


def _make_clip(
    path: Path,
    pts: list[int],
    time_base: Fraction = Fraction(1, 1000),
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    audio: str | None = None,
    pixel_aspect: Fraction | None = None,
    fields: str | None = None,
    colour: tuple[int, int] | None = None,
) -> None:
    """A clip with frames at exactly ``pts`` (variable rate allowed), optionally with audio;
    ``fields`` ("tff" or "bff") codes it interlaced; ``colour`` (primaries, transfer) tags it
    BT.2020, as phones' HDR is."""
    width, height = size
    with av.open(str(path), "w") as out:
        options = {"x264-params": f"{fields}=1"} if fields else {}
        video = out.add_stream(codec, rate=25, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if rotation is not None:
            video.set_display_rotation(rotation)
        if pixel_aspect is not None:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        if colour is not None:
            video.codec_context.colorspace = 9  # BT.2020 NCL
            video.codec_context.color_primaries, video.codec_context.color_trc = colour
        sound = out.add_stream(audio, rate=48000, layout="mono") if audio else None
        for index, stamp in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(_pattern(index, width, height), format="bgr24")
            frame.pts, frame.time_base = stamp, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            seconds = float((pts[-1] + 40) * time_base)
            step = sound.codec_context.frame_size or 1024
            tone = np.sin(np.arange(int(seconds * 48000)) / 48000 * 2 * np.pi * 300) * 0.3
            fmt = sound.codec_context.format.name
            for start in range(0, len(tone) - step, step):
                chunk = tone[None, start : start + step]
                if fmt.startswith("s16"):
                    chunk = (chunk * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(
                        chunk.astype(np.float32) if fmt.startswith("flt") else chunk
                    ),
                    format=fmt,
                    layout="mono",
                )
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))


def _copy(src: Path, dst: Path, settings: Settings = SETTINGS) -> None:
    """Reader -> writer with unchanged pictures, the way the pipeline's render pass runs."""
    with VideoReader(src) as reader, atomic_output(dst) as temp:
        with VideoWriter(temp, reader.info, settings) as writer:
            for frame in reader:
                writer.write(frame, frame.image)


def _audio_packets(path: Path) -> list[tuple[int, Fraction, bytes]]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [
            (packet.stream.index, packet.pts * packet.time_base, bytes(packet))
            for packet in container.demux(*container.streams.audio)
            if packet.size
        ]


def _assert_same_timing(src: Path, dst: Path) -> None:
    """Every frame and audio packet of ``dst`` sits at the input's time, audio bytes identical.

    Matroska cannot start below zero, so when the input starts negative (AAC priming) its
    muxer shifts every stream by the same few milliseconds, and it stores milliseconds.
    """
    times_in = [f.time for f in VideoReader(src)]
    times_out = [f.time for f in VideoReader(dst)]
    assert len(times_out) == len(times_in)
    matroska = dst.suffix in (".mkv", ".webm")
    tolerance = 0.0011 if matroska else 1e-6
    offset = times_out[0] - times_in[0] if matroska else 0.0
    assert 0 <= offset < 0.05
    assert times_out == pytest.approx([t + offset for t in times_in], abs=tolerance)
    audio_in, audio_out = _audio_packets(src), _audio_packets(dst)
    assert [data for *_, data in audio_out] == [data for *_, data in audio_in]
    assert [float(t) for _, t, _ in audio_out] == pytest.approx(
        [float(t) + offset for _, t, _ in audio_in], abs=tolerance
    )


def _tags(path: Path) -> dict[str, str]:
    """Every container and stream tag, keyed ``scope:key``."""
    with av.open(str(path)) as container:
        tags = {f"container:{k}": v for k, v in container.metadata.items()}
        for stream in container.streams:
            tags.update({f"{stream.index}:{k}": v for k, v in stream.metadata.items()})
    return tags


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True)


def _no_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if PARTIAL_MARKER in p.name]


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 160x120, 25 fps, H.264 + AAC: quick to re-encode many times."""
    path = tmp_path_factory.mktemp("small") / "small.mp4"
    _make_clip(path, list(range(0, 2000, 40)), size=(160, 120), audio="aac")
    return path


# -- timing and frames ------------------------------------------------------------------

VFR_PTS = [0, *np.cumsum([40, 33, 50, 20, 80, 40, 40, 33, 67, 25, 40, 100, 40, 17, 40] * 2)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_variable_frame_rate_keeps_every_timestamp(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "vfr.mp4"
    _make_clip(src, [int(p) for p in VFR_PTS], audio="aac")
    dst = tmp_path / f"out{suffix}"
    _copy(src, dst)

    _assert_same_timing(src, dst)
    out = list(VideoReader(dst))
    assert [f.index for f in out] == list(range(len(VFR_PTS)))
    assert out[0].image.shape == (48, 64, 3)
    info_in, info_out = probe(src), probe(dst)
    assert abs(info_out.duration - info_in.duration) <= 0.1  # within the longest frame


def test_reencoded_pictures_match_the_input(tmp_path: Path, samples_dir: Path) -> None:
    dst = tmp_path / "street.mp4"
    _copy(samples_dir / "street.mp4", dst)
    pairs = list(zip(VideoReader(samples_dir / "street.mp4"), VideoReader(dst), strict=True))
    assert len(pairs) == 100
    diffs = np.array([a.image.astype(int) - b.image.astype(int) for a, b in pairs[::10]])
    assert np.abs(diffs).mean() < 1.5  # visually lossless at the default quality
    assert np.abs(diffs.mean(axis=(0, 1, 2, 3))) < 0.3  # and no colour shift
    with av.open(str(dst)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv420p")
    assert dst.read_bytes()[4:8] == b"ftyp" and b"moov" in dst.read_bytes()[:4096]  # faststart


def _planes(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            f.to_ndarray() for f, _ in zip(container.decode(video=0), range(count), strict=False)
        ]


def _yuv(i420: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    flat, quarter = i420.reshape(-1), w * h // 4
    u = flat[w * h : w * h + quarter].reshape(h // 2, w // 2)
    return [flat[: w * h].reshape(h, w), u, flat[w * h + quarter :].reshape(h // 2, w // 2)]


def test_untouched_pixels_are_encoded_as_decoded_and_changed_ones_from_the_picture(
    tmp_path: Path, samples_dir: Path
) -> None:
    """Written losslessly (quality 0) so that planes compare exactly: every pixel the picture
    leaves as decoded is encoded as decoded, bit for bit, even inside the rectangle said to
    have changed (a rounded mask leaves its corners); a chroma sample when none of its 2x2
    pixels changed. Changed pixels are what converting the whole picture gives."""
    src, settings = samples_dir / "street.mp4", replace(SETTINGS, quality=0)
    x1, y1, x2, y2 = 11, 7, 41, 30
    moved = np.zeros((y2 - y1, x2 - x1), bool)
    moved[4:-4, 6:-6] = True  # the rectangle's margin and corners stay as decoded
    outputs = {}
    for name, changed in (("patched", [(x1, y1, x2, y2)]), ("whole", None)):
        outputs[name] = tmp_path / f"{name}.mp4"
        with (
            VideoReader(src) as reader,
            VideoWriter(outputs[name], reader.info, settings) as writer,
        ):
            for frame, _ in zip(reader, range(4), strict=False):
                assert frame.planes is not None
                image = frame.image.copy()
                image[y1:y2, x1:x2][moved] = (0, 255, 0)
                writer.write(frame, image, changed)
    info = probe(src)
    w, h = info.width, info.height
    changed_luma = np.zeros((h, w), bool)
    changed_luma[y1:y2, x1:x2] = moved
    changed_chroma = changed_luma.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
    for name in outputs:
        for before, after in zip(_planes(src, 4), _planes(outputs[name], 4), strict=True):
            for stays, a, b in zip(
                (~changed_luma, ~changed_chroma, ~changed_chroma),
                _yuv(before, w, h),
                _yuv(after, w, h),
                strict=True,
            ):
                np.testing.assert_array_equal(b[stays], a[stays])
    for p in VideoReader(outputs["patched"]):
        # Chroma is subsampled: along the changed area's edge it mixes with its neighbours;
        # inside, the picture's green.
        inside = p.image[y1 + 8 : y2 - 8, x1 + 10 : x2 - 10].astype(int)
        assert np.abs(inside - (0, 255, 0)).max() <= 3


def test_only_plain_upright_limited_range_4_2_0_passes_through(tmp_path: Path) -> None:
    """Rotated, full-range or odd-sized pictures are converted whole: their decoded planes
    are not what the writer encodes."""
    cases = {
        "plain": ({}, True),
        "rotated": ({"rotation": 90}, False),
        "full_range": ({"pix_fmt": "yuvj420p"}, False),
        "odd": ({"size": (63, 47), "pix_fmt": "yuv444p"}, False),
    }
    for name, (options, passes) in cases.items():
        src = tmp_path / f"{name}.mp4"
        _make_clip(src, [0, 40], **options)
        frame = next(iter(VideoReader(src)))
        assert (frame.planes is not None) == passes, name


def test_avi_keeps_frames_in_order(tmp_path: Path, small_clip: Path) -> None:
    # AVI is constant-rate without B-frames; readers guess its first timestamps, so we check
    # order, count, spacing and sound rather than exact times.
    dst = tmp_path / "out.avi"
    _copy(small_clip, dst)
    frames_in, frames_out = list(VideoReader(small_clip)), list(VideoReader(dst))
    assert len(frames_out) == len(frames_in) == 50
    brightness = [[f.image[60:, 80:].mean() for f in frames] for frames in (frames_in, frames_out)]
    assert np.abs(np.subtract(*brightness)).max() < 2
    assert np.allclose(np.diff([f.time for f in frames_out]), 0.04)
    assert [data for *_, data in _audio_packets(dst)] == [
        data for *_, data in _audio_packets(small_clip)
    ]


def test_reader_runs_twice_and_closes_an_unfinished_pass(small_clip: Path) -> None:
    with VideoReader(small_clip) as reader:
        first = [f.index for f in reader]
        second = [round(f.time * 1000) for f in reader]
        unfinished = iter(reader)
        next(unfinished)
    assert first == list(range(50)) and second == list(range(0, 2000, 40))
    with pytest.raises(StopIteration):
        next(unfinished)  # the with block closed it (and its file)


def test_odd_sizes_keep_their_resolution(tmp_path: Path) -> None:
    src = tmp_path / "odd.mp4"
    _make_clip(src, list(range(0, 400, 40)), size=(33, 17), pix_fmt="yuv444p")
    dst = tmp_path / "out.mp4"
    _copy(src, dst)
    info = probe(dst)
    assert (info.width, info.height) == (33, 17)
    assert [f.image.shape for f in VideoReader(dst)] == [(17, 33, 3)] * 10


# -- rotation ---------------------------------------------------------------------------


def _ffmpeg_frames(path: Path, width: int, height: int) -> np.ndarray:
    """Frames as the ffmpeg CLI shows them (it applies display rotation), BGR."""
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


@pytest.mark.parametrize("counter_clockwise, clockwise", [(-90, 90), (90, 270), (180, 180)])
def test_rotated_phone_clip_is_upright_and_written_upright(
    tmp_path: Path, counter_clockwise: int, clockwise: int
) -> None:
    src = tmp_path / "phone.mp4"
    _make_clip(src, list(range(0, 200, 40)), size=(64, 32), rotation=counter_clockwise)
    info = probe(src)
    assert info.rotation == clockwise
    upright = (32, 64) if clockwise in (90, 270) else (64, 32)
    assert (info.width, info.height) == upright

    shown = _ffmpeg_frames(src, *upright)
    frames = list(VideoReader(src))
    for frame, reference in zip(frames, shown, strict=True):
        assert frame.image.shape == reference.shape
        assert np.abs(frame.image.astype(int) - reference).mean() < 3
        red = frame.image[..., 2] > 200
        assert (
            red == (reference[..., 2] > 200)
        ).mean() > 0.98  # the marker is where ffmpeg shows it

    dst = tmp_path / "out.mp4"
    _copy(src, dst)
    out = probe(dst)
    assert (out.rotation, out.width, out.height) == (0, *upright)
    with av.open(str(dst)) as container:
        assert next(container.decode(video=0)).rotation == 0  # no display matrix
    assert np.abs(_ffmpeg_frames(dst, *upright).astype(int) - shown).mean() < 3


# -- pixels shown wider than stored (HDV, DV) -------------------------------------------


@pytest.mark.parametrize(
    "made, rotation, upright",
    [
        ({"pixel_aspect": Fraction(4, 3)}, None, {"pixel_aspect": Fraction(4, 3)}),  # HDV
        ({"pixel_aspect": Fraction(64, 45)}, None, {"pixel_aspect": Fraction(64, 45)}),  # DV
        # turned upright, its pixels turn too
        ({"pixel_aspect": Fraction(4, 3)}, -90, {"pixel_aspect": Fraction(3, 4)}),
        ({"pixel_aspect": Fraction(100)}, None, {"pixel_aspect": 1}),  # no camera's: square
        ({"fields": "tff"}, None, {"field_order": "tff"}),  # HDV 1080i, broadcast
        ({"fields": "bff"}, None, {"field_order": "bff"}),  # DV
        ({"fields": "tff"}, 180, {"field_order": "bff"}),  # upside down: bottom field on top
        # on its side, fields are columns: no encoder keeps them
        ({"fields": "tff"}, -90, {"field_order": "progressive"}),
        ({"colour": (9, 18)}, None, {"wide_colour": (9, 18)}),  # HLG: iPhones' HDR
        ({"colour": (9, 16), "pix_fmt": "yuv420p10le"}, None, {"wide_colour": (9, 16)}),  # PQ
    ],
)
def test_how_a_player_shows_the_picture_is_read_and_kept_in_the_output(
    tmp_path: Path, made: dict, rotation: int | None, upright: dict
) -> None:
    """Pixels shown wider than stored, fields shown one after the other, phones' HDR: an
    output a player shows as it showed the input, not squeezed, combed or dimmed."""
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, list(range(0, 200, 40)), rotation=rotation, **made)
    _copy(src, dst)
    for name, value in upright.items():
        assert getattr(probe(src), name) == getattr(probe(dst), name) == value
    before, after = (np.stack([f.image for f in VideoReader(p)]) for p in (src, dst))
    assert np.abs(before.astype(int) - after).mean() < 2  # the picture as it was


def test_square_pixels_are_written_square(tmp_path: Path) -> None:
    src, dst = tmp_path / "plain.mp4", tmp_path / "out.mp4"
    _make_clip(src, list(range(0, 200, 40)))
    _copy(src, dst)
    assert probe(src).pixel_aspect == probe(dst).pixel_aspect == 1
    assert probe(src).field_order == probe(dst).field_order == "progressive"
    assert probe(src).wide_colour is probe(dst).wide_colour is None
    with av.open(str(dst)) as container:
        assert not container.streams.video[0].sample_aspect_ratio


# -- audio ------------------------------------------------------------------------------


def test_audio_is_copied_bit_exact_or_dropped(tmp_path: Path, small_clip: Path) -> None:
    assert len(_audio_packets(small_clip)) > 80
    _copy(small_clip, tmp_path / "copy.mp4")
    assert _audio_packets(tmp_path / "copy.mp4") == _audio_packets(small_clip)  # same bytes, pts
    _copy(small_clip, tmp_path / "silent.mp4", replace(SETTINGS, audio="drop"))
    assert probe(tmp_path / "silent.mp4").audio_streams == 0
    assert len(list(VideoReader(tmp_path / "silent.mp4"))) == 50


def test_webm_gets_vp9_and_keeps_opus(tmp_path: Path) -> None:
    src = tmp_path / "clip.webm"
    _make_clip(src, list(range(0, 800, 40)), codec="libvpx-vp9", audio="libopus")
    dst = tmp_path / "out.webm"
    _copy(src, dst)
    with av.open(str(dst)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.audio[0].codec_context.name == "opus"
    _assert_same_timing(src, dst)
    assert len(list(VideoReader(dst))) == 20


def test_audio_the_output_cannot_carry_is_a_clear_error(tmp_path: Path, samples_dir: Path) -> None:
    with pytest.raises(MediaError, match=r"\.webm files cannot carry .* aac audio.*--audio drop"):
        _copy(samples_dir / "street.mp4", tmp_path / "out.webm")
    opus = tmp_path / "opus.mkv"
    _make_clip(opus, list(range(0, 400, 40)), audio="libopus")
    for suffix in (".mov", ".avi", ".gif"):  # refused by the muxer, by PyAV, by us
        with pytest.raises(MediaError, match=rf"\{suffix} files cannot carry .* opus audio"):
            _copy(opus, tmp_path / f"out{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opus.mkv"]


def test_gif_keeps_each_frame_delay(tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    delays = [0, 10, 30, 35, 60, 100, 104, 150]  # hundredths of a second
    _make_clip(src, delays, time_base=Fraction(1, 100), codec="gif", pix_fmt="rgb8")
    dst = tmp_path / "out.gif"
    _copy(src, dst)
    out = list(VideoReader(dst))
    assert [round(f.time * 100) for f in out] == delays
    for frame, original in zip(out, VideoReader(src), strict=True):
        assert np.abs(frame.image.astype(int) - original.image).mean() < 4


# -- metadata ---------------------------------------------------------------------------

PLANTED = {
    "title": "Witness interview 7",
    "artist": "Jane Reporter",
    "comment": "shot at safehouse",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.software": "17.4.1",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "location": "+48.8584+002.2945/",
    "creation_time": "2024-05-17T09:30:00.000000Z",
}
HARMLESS = {"major_brand", "minor_version", "compatible_brands", "handler_name", "language"}


@pytest.fixture(scope="module")
def tagged_clips(tmp_path_factory: pytest.TempPathFactory, small_clip: Path) -> list[Path]:
    """A .mov and an .mkv carrying every kind of identifying metadata we strip."""
    folder = tmp_path_factory.mktemp("tagged")
    chapters = folder / "chapters.txt"
    chapters.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=Safehouse door\n"
    )
    subtitles = folder / "subs.srt"
    subtitles.write_text("1\n00:00:00,000 --> 00:00:02,000\nJane Reporter speaking\n")
    font = folder / "note.ttf"
    font.write_bytes(b"attachment naming Jane Reporter")
    tags = [arg for key, value in PLANTED.items() for arg in ("-metadata", f"{key}={value}")]
    stream_tags = ["-metadata:s:v", "encoder=Apple HEVC Jane", "-metadata:s:a", "title=Jane mic"]
    mov, mkv = folder / "phone.mov", folder / "phone.mkv"
    source = str(small_clip)
    _ffmpeg(
        *("-i", source, "-i", str(chapters), "-map", "0", "-map_chapters", "1"),
        *tags,
        *stream_tags,
        *("-timecode", "01:00:00:00", "-movflags", "use_metadata_tags", "-c", "copy", str(mov)),
    )
    _ffmpeg(
        *("-i", source, "-i", str(subtitles), "-i", str(chapters)),
        *("-map", "0", "-map", "1", "-map_chapters", "2", "-c", "copy", "-c:s", "srt"),
        *("-attach", str(font), "-metadata:s:t", "mimetype=application/x-truetype-font"),
        *tags,
        *stream_tags,
        str(mkv),
    )
    with av.open(str(mov)) as container:  # the fixture really carries what we strip
        assert container.metadata["com.apple.quicktime.model"] == "iPhone 15 Pro"
        assert container.streams.data  # the timecode track
    with av.open(str(mkv)) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["attachment", "audio", "subtitle", "video"]
        assert container.chapters()
    return [mov, mkv]


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_identifying_metadata_is_removed(
    tmp_path: Path, tagged_clips: list[Path], index: int, suffix: str
) -> None:
    dst = tmp_path / f"clean{suffix}"
    _copy(tagged_clips[index], dst)

    for key, value in _tags(dst).items():
        name = key.split(":", 1)[1].lower()
        if name in ("encoder", "duration"):
            assert value.startswith(("Lav", "00:")), key  # the muxer's own, not the device's
        else:
            assert name in HARMLESS, f"{key}={value} survived"
    with av.open(str(dst)) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.chapters() == []
    data = dst.read_bytes()
    for needle in ("Jane", "Safehouse", "iPhone", "+48.8584", "2024-05-17", "safehouse"):
        assert needle.encode() not in data, needle
    _assert_same_timing(tagged_clips[index], dst)


def test_keep_metadata_copies_container_tags(tmp_path: Path, tagged_clips: list[Path]) -> None:
    dst = tmp_path / "kept.mkv"
    _copy(tagged_clips[1], dst, replace(SETTINGS, keep_metadata=True))
    tags = {key.lower(): value for key, value in _tags(dst).items()}  # Matroska says ARTIST
    assert tags["container:title"] == PLANTED["title"]
    assert tags["container:artist"] == PLANTED["artist"]


# -- real footage -----------------------------------------------------------------------


def test_parking_lot_clip_round_trips(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "videos" / "parking_lot_cars.mp4"
    assert "container:creation_time" in _tags(src)  # the input does carry one
    dst = tmp_path / "parking.mp4"
    _copy(src, dst)
    info_in, info_out = probe(src), probe(dst)
    assert len(list(VideoReader(dst))) == 377
    _assert_same_timing(src, dst)
    assert _audio_packets(dst) == _audio_packets(src)
    assert abs(info_out.duration - info_in.duration) <= 1 / info_in.fps
    assert not [key for key in _tags(dst) if "creation_time" in key]


@pytest.mark.parametrize("name", ["stage_audience.mp4", "corridor_walking.gif"])
def test_real_clips_keep_frame_count_and_timing(
    tmp_path: Path, shared_data: Path, name: str
) -> None:
    src = shared_data / "videos" / name
    dst = tmp_path / name
    _copy(src, dst)
    _assert_same_timing(src, dst)


# -- photos -----------------------------------------------------------------------------


def _stored_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))[:, :, ::-1]


IDENTIFYING_TIFF_TAGS = {0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8769, 0x8825, 0x02BC}


def test_photo_orientation_is_applied(samples_dir: Path) -> None:
    path = samples_dir / "portrait.jpg"
    info = probe(path)
    assert (info.kind, info.rotation, info.width, info.height) == ("image", 90, 960, 1280)
    image = read_image(path)
    assert image.shape == (1280, 960, 3)
    assert np.array_equal(image, np.rot90(_stored_pixels(path), k=-1))
    face = json.loads((samples_dir / "faces.json").read_text())["portrait.jpg"][0]
    x1, y1, x2, y2 = (int(v) for v in face)
    skin = image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
    assert skin[2] > skin[0] + 30  # a face (reddish), not the sideways background


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tiff", ".heic", ".bmp"])
def test_photos_are_written_without_metadata(
    tmp_path: Path, samples_dir: Path, suffix: str
) -> None:
    src = samples_dir / "portrait.jpg"
    assert b"ExampleCam" in src.read_bytes() and b"GPSLatitude" in src.read_bytes()
    image = read_image(src)
    dst = tmp_path / f"clean{suffix}"
    write_image(dst, image, src, SETTINGS)

    data = dst.read_bytes()
    for needle in (b"ExampleCam", b"Phone 12", b"ExampleOS", b"GPSLatitude", b"2024:05:17"):
        assert needle not in data
    with Image.open(dst) as im:
        exif = im.getexif()
        if suffix == ".tiff":  # a TIFF's own structure is EXIF-shaped; no identifying tags
            assert not IDENTIFYING_TIFF_TAGS & set(exif)
        else:
            assert not exif
        present = {key for key, value in im.info.items() if value}
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "photoshop"} & present
    back = read_image(dst)
    assert back.shape == image.shape  # upright pixels, no orientation tag needed
    assert np.abs(back.astype(int) - image).mean() < 3
    assert _no_leftovers(tmp_path) == []


def test_keep_metadata_keeps_exif_but_not_orientation(tmp_path: Path, samples_dir: Path) -> None:
    src = samples_dir / "portrait.jpg"
    dst = tmp_path / "kept.jpg"
    write_image(dst, read_image(src), src, replace(SETTINGS, keep_metadata=True))
    with Image.open(dst) as im:
        exif = im.getexif()
        assert exif[0x010F] == "ExampleCam"
        assert exif.get_ifd(0x8825)[1] == "N"
        assert exif.get(0x0112, 1) == 1  # pixels are already upright
    assert read_image(dst).shape == (1280, 960, 3)


def _exif_with_thumbnail(make: bytes, thumbnail: bytes) -> bytes:
    """A big-endian EXIF block: IFD0 {Make} -> IFD1 {the embedded JPEG thumbnail}."""
    make += b"\0"
    make_at, ifd1_at = 8 + 18, 8 + 18 + len(make)
    thumbnail_at = ifd1_at + 30
    ifd0 = struct.pack(">HHHIII", 1, 0x010F, 2, len(make), make_at, ifd1_at)
    ifd1 = struct.pack(
        ">HHHIIHHIII", 2, 0x0201, 4, 1, thumbnail_at, 0x0202, 4, 1, len(thumbnail), 0
    )
    return b"Exif\0\0MM\0*" + struct.pack(">I", 8) + ifd0 + make + ifd1 + thumbnail


def test_exif_thumbnail_never_survives(tmp_path: Path) -> None:
    # The thumbnail is a small copy of the original photo, faces unobscured.
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (255, 0, 0)).save(buffer, "JPEG")
    src = tmp_path / "camera.jpg"
    exif = _exif_with_thumbnail(b"LeakyCam", buffer.getvalue())
    Image.new("RGB", (64, 64), (0, 0, 255)).save(src, "JPEG", exif=exif)
    assert src.read_bytes().count(b"\xff\xd8") == 2  # the photo and its thumbnail
    for keep in (False, True):
        dst = tmp_path / f"out_{keep}.jpg"
        write_image(dst, read_image(src), src, replace(SETTINGS, keep_metadata=keep))
        assert dst.read_bytes().count(b"\xff\xd8") == 1
        assert (b"LeakyCam" in dst.read_bytes()) is keep


def test_colour_profile_is_not_written(tmp_path: Path) -> None:
    from PIL import ImageCms

    src = tmp_path / "profiled.png"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    Image.new("RGB", (8, 8), (200, 100, 50)).save(src, icc_profile=profile.tobytes())
    assert read_image(src)[0, 0].tolist() == [50, 100, 200]
    dst = tmp_path / "out.png"
    write_image(dst, read_image(src), src, SETTINGS)
    with Image.open(dst) as im:
        assert "icc_profile" not in im.info


# -- bad input --------------------------------------------------------------------------


def _truncated(samples_dir: Path, tmp_path: Path, fraction: float) -> Path:
    faststart = tmp_path / "faststart.mp4"  # index first: the demuxer would stop quietly
    _ffmpeg(
        "-i",
        str(samples_dir / "street.mp4"),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        str(faststart),
    )
    data = faststart.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    path = tmp_path / f"cut{fraction}.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


BAD_FILES = {
    "empty.mp4": (b"", "empty file"),
    "random.mp4": (np.random.default_rng(0).bytes(50_000), "not a readable video"),
    "notes.mp4": (b"meeting notes\n" * 100, "not a readable video"),
    "random.jpg": (np.random.default_rng(1).bytes(5_000), "not a readable image"),
    "notes.txt": (b"hello", "unsupported file type"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_get_a_one_line_cause(tmp_path: Path, name: str) -> None:
    content, cause = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=cause) as caught:
        probe(path)
    assert "\n" not in str(caught.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="folder"):
        probe(tmp_path)


@pytest.mark.parametrize("fraction", [0.005, 0.02, 0.3, 0.7, 0.999])
def test_truncated_mp4_is_refused(tmp_path: Path, samples_dir: Path, fraction: float) -> None:
    with pytest.raises(MediaError, match="truncated|cannot be decoded|not a readable"):
        VideoReader(_truncated(samples_dir, tmp_path, fraction))


def test_moov_at_end_truncated(tmp_path: Path, samples_dir: Path) -> None:
    data = (samples_dir / "street.mp4").read_bytes()  # index after the data, as cameras write
    moov = data.rfind(b"moov")
    assert moov > len(data) // 2
    for cut in (len(data) // 2, moov + 100):
        path = tmp_path / f"cut{cut}.mp4"
        path.write_bytes(data[:cut])
        with pytest.raises(MediaError):
            probe(path)


def test_corrupt_frame_is_not_passed_on(tmp_path: Path, samples_dir: Path) -> None:
    data = bytearray((samples_dir / "street.mp4").read_bytes())
    rng = np.random.default_rng(3)
    middle = len(data) // 2
    data[middle : middle + 3000 : 7] = rng.integers(
        0, 256, len(range(0, 3000, 7)), np.uint8
    ).tobytes()
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="damaged|decoding failed"):
        for _ in VideoReader(path):
            pass


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaError, match="no video stream"):
        probe(path)


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header (with a valid checksum) claims another size."""
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def test_images_of_zero_or_huge_size(tmp_path: Path) -> None:
    zero = _png_claiming(tmp_path / "zero.png", 0, 4)
    with pytest.raises(MediaError, match="zero|not a readable image"):
        probe(zero)
    huge = _png_claiming(tmp_path / "huge.png", 50_000, 50_000)
    with pytest.raises(MediaError, match="too large"):
        probe(huge)
    with pytest.raises(MediaError, match="too large"):
        read_image(huge)

    gif = tmp_path / "huge.gif"  # an animated image goes the video way; same refusal
    _make_clip(gif, [0, 10], time_base=Fraction(1, 100), codec="gif", pix_fmt="rgb8")
    data = bytearray(gif.read_bytes())
    data[6:10] = struct.pack("<HH", 12_000, 12_000)  # logical screen 144 megapixels
    gif.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="too large"):
        probe(gif)


def test_hostile_names_are_only_names(tmp_path: Path, small_clip: Path) -> None:
    src = tmp_path / '-i concat:x|y "näme"\n?.mp4'
    src.write_bytes(small_clip.read_bytes())
    dst = tmp_path / "http:--out 'ü'.mkv"
    _copy(src, dst)
    assert len(list(VideoReader(dst))) == 50


def test_a_script_posing_as_video_is_refused(tmp_path: Path, small_clip: Path) -> None:
    # FFmpeg would read this as a concat script pointing at another file beside it.
    (tmp_path / "other.mp4").write_bytes(small_clip.read_bytes())
    script = tmp_path / "evil.mp4"
    script.write_text("ffconcat version 1.0\nfile other.mp4\n")
    with pytest.raises(MediaError, match="not a readable video"):
        probe(script)


def test_writer_refuses_to_overwrite_its_input(samples_dir: Path) -> None:
    src = samples_dir / "street.mp4"
    with pytest.raises(MediaError, match="overwrite the input"):
        VideoWriter(src, probe(src), SETTINGS)
    photo = samples_dir / "portrait.jpg"
    with pytest.raises(MediaError, match="overwrite the input"):
        write_image(photo, read_image(photo), photo, SETTINGS)


# -- atomic outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_output_leaves_nothing(tmp_path: Path, samples_dir: Path, error: type) -> None:
    final = tmp_path / "out.mp4"
    final.write_bytes(b"previous complete output")
    with pytest.raises(error):
        with VideoReader(samples_dir / "street.mp4") as reader, atomic_output(final) as temp:
            assert temp.parent == final.parent and temp.suffix == ".mp4"
            assert temp.name.startswith(".")
            with VideoWriter(temp, reader.info, SETTINGS) as writer:
                for frame in reader:
                    writer.write(frame, frame.image)
                    if frame.index == 10:
                        assert temp.exists()
                        raise error
    assert final.read_bytes() == b"previous complete output"
    assert _no_leftovers(tmp_path) == []


def test_writer_rejects_wrong_frame_size(tmp_path: Path, samples_dir: Path) -> None:
    reader = VideoReader(samples_dir / "street.mp4")
    target = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="shape"):
        with VideoWriter(target, reader.info, SETTINGS) as writer:
            frame = next(iter(reader))
            writer.write(frame, frame.image[:100])
    assert not target.exists()


def test_an_animated_gif_keeps_every_frame_duration_the_last_one_too(tmp_path):
    """The muxer ends a GIF's last frame with its packet's duration; the encoder drops the
    frame's own, and the average frame length (here 320 ms) used to stand in for it."""
    durations = [1000, 100, 100, 100]
    frames = [Image.fromarray(np.full((48, 64, 3), i * 60, np.uint8)) for i in range(4)]
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    Anonymizer(Settings(), detectors=[]).anonymize_file(src, dst, report=False)
    with Image.open(dst) as image:
        written = []
        for index in range(image.n_frames):
            image.seek(index)
            written.append(image.info["duration"])
    assert written == durations


def test_leftovers_of_killed_runs_are_removed_for_many_outputs_at_once(tmp_path):
    """Only temporary names of the outputs asked about go, in each of their folders."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    finals = [a / "clip.one.mp4", a / "photo.jpg", b / "clip.mp4"]
    left = [partial_name(f) for f in finals] + [partial_name(partial_name(a / "photo.jpg"))]
    kept = [
        a / "clip.one.mp4",  # a finished output
        partial_name(a / "other.mp4"),  # another output's: not asked about
        a / ".clip.one.mp4",  # a user's hidden file
        b / f".clip{PARTIAL_MARKER}zzzzzzzz.mp4",  # not a name this tool makes
    ]
    for path in left + kept:
        path.write_bytes(b"x")
    assert remove_leftovers(*finals) == len(left)
    assert sorted(p.name for p in [*a.iterdir(), *b.iterdir()]) == sorted(p.name for p in kept)
