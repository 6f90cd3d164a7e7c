"""Speed, memory and face coverage of anonymize and deface, side by side on the same 1080p clips.

    nice .venv/bin/python benchmarks/speed.py                    # every clip, about an hour and a half
    nice .venv/bin/python benchmarks/speed.py --clips street     # the real clip only
    nice .venv/bin/python benchmarks/speed.py --frames 20 --long-seconds 5   # a quick trial
    nice .venv/bin/python benchmarks/speed.py --clips street --rounds 3   # medians of 3 turns

Clips (1920x1080 H.264 yuv420p, but for ``hdv``; the generated ones are kept in ``--cache``,
by default ``~/.cache/anonymize-benchmarks``, never in the repository):

* ``street``: ``../shared/data/videos/street_walking_1080p.mp4`` as it is (real pedestrians,
  with audio, no ground truth).
* ``long``: ``--long-seconds`` (60) of the shared clips one after another (street_walking,
  stage_audience, night_crowd_topdown, corridor_walking, head_pose_two_people,
  parking_lot_cars, residential_traffic; at most 10 s of each, repeated until long enough),
  scaled to fit 1920x1080 and padded, 25 fps, x264 veryfast CRF 18, no audio. Most sources
  are smaller than 1080p, so the picture is softer (and cheaper to encode) than camera
  footage. It shows what memory does as a file gets longer and amortises start-up cost.
* ``truth``: ``--shots`` (16) x 30 frames of ``moving_sequences.py``'s camera moving over
  annotated photos of ``faces_wider_val`` (its default photos and framing, rendered at 1080p,
  so the photos are upscaled about twice), x264 CRF 12 (near-lossless), tagged BT.709. The
  true face boxes of every frame are known, which is what makes coverage measurable.
* ``hdv``: the ``truth`` clip as HDV and some DV cameras store 16:9, squeezed across into
  1440x1080 pixels tagged to be shown 4:3 wider (SAR 4:3), x264 CRF 12; its boxes squeezed
  alike. Faces are stored three quarters as wide as they are shown: a detector that looked
  at the stored pixels would see every face narrower than it is.
* ``interlaced``: the ``truth`` clip's shots filmed as 25 interlaced frames a second (as DV,
  HDV 1080i and broadcast recordings are): each frame's top field from one rendered frame
  and its bottom field from the next, so half as many frames, coded top field first; each
  face's box spans its place in both fields. What moved between the fields is combed into
  alternate lines, as on such a camera filming twice as fast a motion.

Each clip goes through, as separate processes one after another:

* ``decode+encode``: the physical floor. PyAV (the same FFmpeg libraries anonymize links)
  decodes with frame threads and re-encodes with the settings of anonymize's writer (libx264
  preset veryfast without 8x8 inter partitions, CRF 18, yuv420p, +faststart), copying audio
  packets; decoded frames go straight to the encoder, no conversion to BGR.
* ``anonymize``: ``anonymize CLIP -o OUT.mp4 --quiet --no-report --overwrite``, its defaults
  (faces and plates); ``--faces-only`` adds a row with ``--targets faces``.
* ``deface``: ``deface CLIP -o OUT.mp4``, its defaults: CenterFace at full resolution, blur,
  audio dropped, written by imageio-ffmpeg (libx264 at x264's defaults: preset medium, CRF 23,
  and rows stretched from 1080 to 1088, imageio's macro-block rounding).

Each is timed from start to exit, start-up and model loading included: **wall** seconds,
**fps** = input frames / wall seconds, **CPU s/frame** = (user + system CPU of the process
and of the children it waited for, from ``os.wait4``) / input frames, **max RSS** =
``ru_maxrss`` (the largest single process; each command is started from a small launcher
because Linux counts a parent's peak into its child's), **tree RSS** = the largest sum of
resident memory over the process and all its descendants, sampled every 0.1 s (deface runs
two ffmpeg processes beside Python). Peak memory is the larger of the two. Wall time depends
on what else the machine is doing; CPU time much less so, so both ratios are printed.
**Cores busy**, under the table: the process tree's CPU seconds in each wall second of
anonymize's run, sampled with the memory (2.0 is both cores of a 2-core machine busy): where
start-up and the encoder's tail leave a core idle.

Coverage (``truth`` only): the input and every output are decoded frame by frame with the same
BT.709 conversion (what players assume for untagged HD; deface's 1088 rows are resized back to
1080) and each visible face is scored with ``anonymize.eval.score_image``: obscured when at
least half its pixels changed by more than 8 levels and at most 25% of its Laplacian detail
survives. Faces less than half inside the frame or behind the passing bar go into ``ignore``
together with the photo's ignore boxes. Over-redaction is the share of pixels away from every
face that changed by more than 8 levels. Both tools re-encode, which changes pixels too, and
not equally (CRF 18 veryfast against CRF 23 medium with a resize); two control rows measure
that noise alone: ``decode+encode`` (anonymize's encoder) and ``deface-io`` (deface's
imageio-ffmpeg reader and writer with nothing obscured).

Targets of this round's step (the detection-cost issue; default settings, 1080p, this 2-core
machine): anonymize at least 5x deface's fps with equal or better coverage, at least 25% of
the decode+encode fps, peak memory under 1.5 GB for a 1080p file of any length (MB and GB are
10^6 and 10^9 bytes). The project's goal stays 10x deface and 50% of decode+encode. The load
average before and after is printed: a busy machine slows every row.

Beside the timed rows, ``anonymize onnxruntime`` (``--backend onnxruntime``) shows what a
machine without bf16 or VNNI gets, and one more pass of anonymize's defaults runs one stage at
a time (``Anonymizer(serial=True)``) to say where the time goes, in CPU ms per frame.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

# numpy, cv2, imageio and anonymize are imported where they are used: the decode+encode
# child runs this file too, and the floor should not pay for imports it does not need.

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WIDTH, HEIGHT, FPS = 1920, 1080, 25
HDV_WIDTH = 1440  # the ``hdv`` clip's stored width, shown as WIDTH
# anonymize.media.video's options for .mp4 at the default quality (X264_OPTIONS), written out:
# the floor's child process does not import anonymize
WRITER_X264 = {"crf": "18", "preset": "veryfast", "x264-params": "partitions=i8x8,i4x4"}
TRUTH_X264 = {"crf": "12", "preset": "veryfast"}
SHOT_LENGTH = 30
SEGMENT_SECONDS = 10
LONG_SOURCES = (
    "street_walking_1080p.mp4",
    "stage_audience.mp4",
    "night_crowd_topdown.mp4",
    "corridor_walking.gif",
    "head_pose_two_people.gif",
    "parking_lot_cars.mp4",
    "residential_traffic.mp4",
)
CACHE_VERSION = 2  # bump when a generated clip changes
SAMPLE_SECONDS = 0.1
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGET_VS_DEFACE = 5.0
TARGET_VS_FLOOR = 0.25
TARGET_PEAK_MB = 1500.0
CLIPS = ("street", "long", "truth", "hdv", "interlaced")


@dataclass(frozen=True)
class Clip:
    """One input: its file, its frame count and, for the truth clip, the per-frame boxes."""

    name: str
    path: Path
    frames: int
    truth: Path | None = None


@dataclass(frozen=True)
class Run:
    """One tool on one clip, measured from process start to exit."""

    tool: str
    command: tuple[str, ...]
    frames: int  # input frames
    frames_out: int | None
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    tree_rss_kib: int
    returncode: int
    error: str = ""
    busy_cores: tuple[float, ...] = ()  # the process tree's CPU seconds in each wall second

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    @property
    def cpu_per_frame(self) -> float:
        return self.cpu_s / self.frames

    @property
    def peak_mb(self) -> float:
        return max(self.max_rss_kib, self.tree_rss_kib) * 1024 / 1e6

    def to_dict(self) -> dict:
        return {
            "tool": self.tool,
            "command": list(self.command),
            "frames": self.frames,
            "frames_out": self.frames_out,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "fps": round(self.fps, 3),
            "cpu_s_per_frame": round(self.cpu_per_frame, 4),
            "max_rss_mb": round(self.max_rss_kib * 1024 / 1e6, 1),
            "tree_rss_mb": round(self.tree_rss_kib * 1024 / 1e6, 1),
            "peak_mb": round(self.peak_mb, 1),
            "returncode": self.returncode,
            "error": self.error,
            "busy_cores": list(self.busy_cores),
        }


# -- measuring ----------------------------------------------------------------------------


# ``ru_maxrss`` of a child starts at its parent's peak RSS (Linux keeps the high-water mark of
# the memory an exec replaces), and this process grows as it builds clips and scores frames.
# So each command runs under this small launcher, which forks it from a ~10 MB process, waits
# for it and writes wall seconds, exit code, CPU seconds and ru_maxrss to argv[1].
_LAUNCHER = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, use = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    code = os.waitstatus_to_exitcode(status)
    json.dump([wall, code, use.ru_utime + use.ru_stime, use.ru_maxrss], out)
"""


class _TreeSampler(threading.Thread):
    """Largest summed RSS of a process's descendants, and their CPU time by wall second
    (how many cores they kept busy: where a run leaves a core idle), polled until ``finish``.
    A descendant that exits takes its CPU time out of the sum, so for a tool that runs
    helper processes (deface's ffmpeg) the seconds they end in read low."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.peak_kib = 0
        self._cpu: list[tuple[float, float]] = []  # (wall s since start, CPU s so far)
        self._done = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while True:
            rss_kib, cpu_s = _descendants(self.root)
            self.peak_kib = max(self.peak_kib, rss_kib)
            self._cpu.append((time.perf_counter() - start, cpu_s))
            if self._done.wait(SAMPLE_SECONDS):
                return

    def finish(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib

    def busy_cores(self) -> tuple[float, ...]:
        """CPU seconds used in each whole wall second of the run."""
        if not self._cpu:
            return ()
        times = [t for t, _ in self._cpu]
        used = list(itertools.accumulate((c for _, c in self._cpu), max))  # never falls

        def by(second: int) -> float:
            i = bisect.bisect_right(times, second)
            return used[i - 1] if i else 0.0

        return tuple(round(by(s) - by(s - 1), 2) for s in range(1, int(times[-1]) + 1))


def _descendants(root: int) -> tuple[int, float]:
    """Summed RSS (KiB) and CPU seconds of ``root``'s descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited while we looked
        fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces
        pid = int(entry.name)
        parents[pid], rss[pid] = int(fields[1]), int(fields[21])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    tree: set[int] = set()
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return (
        sum(rss.get(pid, 0) for pid in tree) * PAGE_KIB,
        sum(cpu.get(pid, 0.0) for pid in tree),
    )


def measure(tool: str, command: Sequence[str], clip: Clip, output: Path, work: Path) -> Run:
    """Run ``command`` alone and measure it; the output's frames are counted afterwards."""
    print(f"  {tool}: {' '.join(command)}", file=sys.stderr, flush=True)
    log, figures = work / "log.txt", work / "rusage.json"
    figures.unlink(missing_ok=True)
    with log.open("wb") as sink:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(figures), *command],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        sampler = _TreeSampler(launcher.pid)
        sampler.start()
        launcher.wait()
        tree_kib = sampler.finish()
    if launcher.returncode != 0 or not figures.exists():
        raise SystemExit(f"the launcher failed:\n{log.read_text(errors='replace')[-2000:]}")
    wall, code, cpu, max_rss_kib = json.loads(figures.read_text())
    error = ""
    frames_out = None
    if code != 0:
        error = log.read_text(errors="replace").strip()[-2000:]
        print(f"  {tool} failed ({code}):\n{error}", file=sys.stderr)
    elif output.exists():
        frames_out = count_frames(output)
    run = Run(
        tool=tool,
        command=tuple(command),
        frames=clip.frames,
        frames_out=frames_out,
        wall_s=wall,
        cpu_s=cpu,
        max_rss_kib=max_rss_kib,
        tree_rss_kib=tree_kib,
        returncode=code,
        error=error,
        busy_cores=sampler.busy_cores(),
    )
    print(
        f"  {tool}: {wall:.1f} s, {run.fps:.2f} fps, {run.cpu_per_frame:.3f} CPU s/frame, "
        f"{run.peak_mb:.0f} MB",
        file=sys.stderr,
        flush=True,
    )
    return run


def count_frames(path: Path) -> int:
    """Video frames in ``path``, counted from its packets (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


# -- what the child processes run ----------------------------------------------------------


def reencode(src: Path, dst: Path) -> None:
    """Plain decode + re-encode with anonymize's writer settings; audio packets copied."""
    with (
        av.open(str(src)) as source,
        av.open(str(dst), mode="w", options={"movflags": "+faststart"}) as out,
    ):
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        encoder = out.add_stream("libx264", options=WRITER_X264)
        encoder.width, encoder.height = video.codec_context.width, video.codec_context.height
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = encoder.codec_context.time_base = video.time_base
        if video.average_rate:
            encoder.codec_context.framerate = video.average_rate
        audio = {s.index: out.add_stream_from_template(s) for s in source.streams.audio}
        for packet in source.demux(video, *source.streams.audio):
            if packet.stream.type == "video":
                for frame in packet.decode():
                    if frame.format.name != "yuv420p":
                        frame = frame.reformat(format="yuv420p")
                    frame.pict_type = av.video.frame.PictureType.NONE  # no forced key frames
                    out.mux(encoder.encode(frame))
            elif packet.dts is not None:
                packet.stream = audio[packet.stream.index]
                out.mux(packet)
        out.mux(encoder.encode(None))


def deface_io(src: Path, dst: Path) -> None:
    """deface's reader and writer (its defaults) with nothing obscured: its re-encoding noise."""
    import imageio

    reader = imageio.get_reader(str(src))
    fps = reader.get_meta_data()["fps"]
    writer = imageio.get_writer(str(dst), format="FFMPEG", mode="I", fps=fps, codec="libx264")
    for frame in reader.iter_data():
        writer.append_data(frame)
    reader.close()
    writer.close()


def breakdown(src: Path, dst: Path) -> None:
    """anonymize's defaults, one stage at a time, each stage's CPU seconds written to
    ``dst.json``: run serially, the process's clock charges each stage the work its libraries
    hand to threads of their own (OpenVINO, x264), which a thread's clock would miss."""
    from anonymize.api import Anonymizer

    anonymizer = Anonymizer(serial=True)
    regions = anonymizer.anonymize_file(src, dst, report=False)
    figures = {
        "frames": regions.input.frame_count,
        "engines": anonymizer.engines,
        "seconds": dict(anonymizer.stages.seconds),
    }
    dst.with_name(dst.name + ".json").write_text(json.dumps(figures))


_CHILDREN = {"reencode": reencode, "deface-io": deface_io, "breakdown": breakdown}


# -- clips ---------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", *args]
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)


def _partial(path: Path) -> Path:
    """Where ``path`` is built, so an interrupted build never looks finished."""
    return path.with_name(f"{path.stem}.part{path.suffix}")


def street_clip(data: Path, cache: Path, frames: int | None) -> Clip:
    source = data / "videos" / "street_walking_1080p.mp4"
    if frames is None:
        return Clip("street", source, count_frames(source))
    path = cache / f"street_{frames}f_v{CACHE_VERSION}.mp4"
    if not path.exists():
        with av.open(str(source)) as container:
            rate = container.streams.video[0].average_rate or FPS
        # Re-encoded near-losslessly: a stream copy would keep the first N packets, which with
        # B-frames are not the first N frames (deface's reader then fills the holes).
        seconds = f"{frames / float(rate):.3f}"
        tmp = _partial(path)
        _ffmpeg(
            "-i", str(source), "-map", "0", "-frames:v", str(frames), "-t", seconds,
            "-c:v", "libx264", "-preset", TRUTH_X264["preset"], "-crf", TRUTH_X264["crf"],
            "-pix_fmt", "yuv420p", "-c:a", "copy", str(tmp),
        )  # fmt: skip
        tmp.rename(path)
    return Clip("street", path, count_frames(path))


def long_clip(data: Path, cache: Path, seconds: float, frames: int | None) -> Clip:
    """The shared clips back to back, each fitted into 1920x1080, until ``seconds`` long."""
    suffix = f"_{frames}f" if frames is not None else ""
    path = cache / f"long_{seconds:g}s{suffix}_v{CACHE_VERSION}.mp4"
    if not path.exists():
        sources = [data / "videos" / name for name in LONG_SOURCES]
        lengths = [min(SEGMENT_SECONDS, _duration(source)) for source in sources]
        sequence, total = [], 0.0
        while total < seconds:
            k = len(sequence) % len(sources)
            sequence.append(sources[k])
            total += lengths[k]
        inputs: list[str] = []
        chains = []
        for k, source in enumerate(sequence):
            inputs += ["-t", str(SEGMENT_SECONDS), "-i", str(source)]
            chains.append(
                f"[{k}:v:0]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease"
                f":out_color_matrix=bt709,pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
                f"fps={FPS},format=yuv420p[v{k}]"
            )
        joined = "".join(f"[v{k}]" for k in range(len(sequence)))
        graph = ";".join(chains) + f";{joined}concat=n={len(sequence)}:v=1:a=0[out]"
        limit = ["-frames:v", str(frames)] if frames is not None else []
        tmp = _partial(path)
        print(f"making {path} ({len(sequence)} segments)", file=sys.stderr, flush=True)
        _ffmpeg(
            *inputs, "-filter_complex", graph, "-map", "[out]", "-t", f"{seconds:g}", *limit,
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            "-movflags", "+faststart", str(tmp),
        )  # fmt: skip
        tmp.rename(path)
    return Clip("long", path, count_frames(path))


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        if container.duration:
            return container.duration / av.time_base
        stream = container.streams.video[0]
        return float(stream.frames / (stream.average_rate or FPS))


def truth_clip(data: Path, cache: Path, shots: int, frames: int | None) -> Clip:
    """moving_sequences' camera over annotated photos at 1080p, with every frame's boxes.

    The boxes file lists per frame the visible faces (``boxes``) and what counts neither way
    (``ignore``: faces mostly outside the frame or behind the bar, and the photo's ignore
    boxes), as ``[x, y, w, h]`` frame pixels.
    """
    total = shots * SHOT_LENGTH if frames is None else min(frames, shots * SHOT_LENGTH)
    # The photos depend on ``shots``, so a cut clip is the start of the whole one.
    name = f"truth_{shots}x{SHOT_LENGTH}_seed0_{total}f_v{CACHE_VERSION}"
    path, boxes_path = cache / f"{name}.mp4", cache / f"{name}.json"
    if not (path.exists() and boxes_path.exists()):
        print(f"making {path}", file=sys.stderr, flush=True)
        truth = _write_truth(data, _partial(path), shots, total)
        boxes_path.write_text(json.dumps(truth))
        _partial(path).rename(path)
    return Clip("truth", path, count_frames(path), boxes_path)


def hdv_clip(data: Path, cache: Path, shots: int, frames: int | None) -> Clip:
    """The ``truth`` clip stored as HDV stores 16:9: 1440 x 1080 pixels shown 4:3 wider."""
    truth = truth_clip(data, cache, shots, frames)
    path = cache / f"{truth.path.stem}_hdv.mp4"
    boxes_path = path.with_suffix(".json")
    if not (path.exists() and boxes_path.exists()):
        print(f"making {path}", file=sys.stderr, flush=True)
        tmp = _partial(path)
        _ffmpeg(
            "-i", str(truth.path), "-vf", f"scale={HDV_WIDTH}:{HEIGHT}:flags=area,setsar=4/3",
            "-c:v", "libx264", "-preset", TRUTH_X264["preset"], "-crf", TRUTH_X264["crf"],
            "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
            "-color_trc", "bt709", "-color_range", "tv", str(tmp),
        )  # fmt: skip
        squeeze = HDV_WIDTH / WIDTH
        entries = json.loads(truth.truth.read_text())
        for entry in entries:
            for key in ("boxes", "ignore"):
                entry[key] = [
                    [round(x * squeeze, 2), y, round(w * squeeze, 2), h]
                    for x, y, w, h in entry[key]
                ]
        boxes_path.write_text(json.dumps(entries))
        tmp.rename(path)
    return Clip("hdv", path, count_frames(path), boxes_path)


def interlaced_clip(data: Path, cache: Path, shots: int, frames: int | None) -> Clip:
    """The ``truth`` clip's shots as 25i, fields from successive frames, with their boxes."""
    total = shots * SHOT_LENGTH // 2 if frames is None else min(frames, shots * SHOT_LENGTH // 2)
    name = f"interlaced_{shots}x{SHOT_LENGTH}_seed0_{total}f_v{CACHE_VERSION}"
    path, boxes_path = cache / f"{name}.mp4", cache / f"{name}.json"
    if not (path.exists() and boxes_path.exists()):
        print(f"making {path}", file=sys.stderr, flush=True)
        truth = _write_truth(data, _partial(path), shots, total, interlaced=True)
        boxes_path.write_text(json.dumps(truth))
        _partial(path).rename(path)
    return Clip("interlaced", path, count_frames(path), boxes_path)


def _write_truth(
    data: Path, path: Path, shots: int, total: int, interlaced: bool = False
) -> list[dict]:
    import numpy as np
    from av.video.reformatter import ColorRange
    from moving_sequences import load_shots  # beside this file

    def xywh(boxes: np.ndarray) -> list[list[float]]:
        return [
            [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)] for x1, y1, x2, y2 in boxes
        ]

    truth: list[dict] = []
    with av.open(str(path), mode="w") as out:
        options = {**TRUTH_X264, "x264-params": "tff=1"} if interlaced else TRUTH_X264
        stream = out.add_stream("libx264", rate=FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        context.color_range = 1  # limited
        folder = data / "faces_wider_val"
        for shot in load_shots(folder, shots, SHOT_LENGTH, 0, (WIDTH, HEIGHT)):
            for t in range(0, SHOT_LENGTH, 2 if interlaced else 1):
                if len(truth) == total:
                    break
                image, faces, seen, ignore = _pictured(shot, t, interlaced)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(
                    format="yuv420p", dst_colorspace="itu709", dst_color_range=ColorRange.MPEG
                )
                frame.pts, frame.time_base = len(truth), Fraction(1, FPS)
                out.mux(stream.encode(frame))
                hidden = np.concatenate([faces[~seen], ignore])
                truth.append(
                    {
                        "shot": shot.name,
                        "boxes": xywh(faces[seen]),
                        "ignore": xywh(hidden.reshape(-1, 4)),
                    }
                )
            if len(truth) == total:
                break
        out.mux(stream.encode(None))
    return truth


def _pictured(shot, t: int, interlaced: bool) -> tuple:
    """Frame ``t`` of a shot as the clip holds it (picture, face boxes, which are visible,
    ignore boxes): as rendered, or (interlaced) its top field with the bottom field of frame
    ``t + 1``, each face's box spanning both and visible where it is in both."""
    import numpy as np

    if not interlaced:
        return shot.frames[t], shot.faces[t], shot.visible[t], shot.ignore[t]
    image = shot.frames[t].copy()
    image[1::2] = shot.frames[t + 1][1::2]
    a, b = shot.faces[t], shot.faces[t + 1]
    faces = np.concatenate([np.minimum(a[:, :2], b[:, :2]), np.maximum(a[:, 2:], b[:, 2:])], 1)
    ignore = np.concatenate([shot.ignore[t], shot.ignore[t + 1]])
    return image, faces, shot.visible[t] & shot.visible[t + 1], ignore


# -- coverage ------------------------------------------------------------------------------


def coverage(clip: Clip, outputs: dict[str, Path]) -> dict[str, dict]:
    """Score every output against the input with ``anonymize.eval``'s rule, frame by frame."""
    import cv2

    from anonymize.eval import EvalResult, score_image

    assert clip.truth is not None
    truth = json.loads(clip.truth.read_text())
    names = list(outputs)
    scores: dict[str, list] = {name: [] for name in names}
    background = {name: [0, 0] for name in names}
    readers = [_bgr_frames(clip.path)] + [_bgr_frames(outputs[name]) for name in names]
    scored = 0
    # An output short of frames ends the scoring there; frames_scored shows it.
    for entry, before, *afters in zip(truth, *readers, strict=False):
        for name, after in zip(names, afters, strict=True):
            if after.shape != before.shape:  # deface's 1088 rows
                size = (before.shape[1], before.shape[0])
                after = cv2.resize(after, size, interpolation=cv2.INTER_AREA)
            boxes, pixels, changed = score_image(
                before, after, entry["boxes"], entry["ignore"], str(scored)
            )
            scores[name].extend(boxes)
            background[name][0] += pixels
            background[name][1] += changed
        scored += 1
    results = {}
    for name in names:
        result = EvalResult(
            folder=clip.name,
            images=scored,
            boxes=tuple(scores[name]),
            background_pixels=background[name][0],
            background_changed=background[name][1],
            seconds=0.0,
        )
        summary = result.to_dict()
        results[name] = {
            "frames_scored": scored,
            "buckets": summary["buckets"],
            "over_redaction": summary["over_redaction"],
            "rule": summary["rule"],
        }
    return results


def _bgr_frames(path: Path) -> Iterator:
    """Decoded frames as BGR arrays, all converted alike (BT.709, limited range)."""
    from av.video.reformatter import ColorRange

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(
                format="bgr24", src_colorspace="itu709", src_color_range=ColorRange.MPEG
            )


# -- a benchmark run -----------------------------------------------------------------------


def _tool(name: str) -> str:
    """An entry point of this environment (the one running this script) or from PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed in this environment")
    return found


def bench_clip(clip: Clip, work: Path, args: argparse.Namespace) -> dict:
    """Every tool on ``clip``, one at a time; coverage on the truth clip."""
    print(f"{clip.name}: {clip.path} ({clip.frames} frames)", file=sys.stderr, flush=True)
    me = [sys.executable, str(Path(__file__).resolve()), "_child"]
    commands: dict[str, list[str]] = {"decode+encode": [*me, "reencode", str(clip.path)]}
    anonymize = [_tool("anonymize"), str(clip.path), "--quiet", "--no-report", "--overwrite"]
    commands["anonymize"] = anonymize
    # What a machine without bf16 or VNNI gets: the networks on onnxruntime, in fp32.
    commands["anonymize onnxruntime"] = [*anonymize, "--backend", "onnxruntime"]
    if args.faces_only:
        commands["anonymize faces"] = [*anonymize, "--targets", "faces"]
    if not args.skip_deface:
        commands["deface"] = [_tool("deface"), str(clip.path)]
        if clip.truth is not None:
            commands["deface-io"] = [*me, "deface-io", str(clip.path)]
    rounds: dict[str, list[Run]] = {tool: [] for tool in commands}
    outputs: dict[str, Path] = {}
    for _ in range(args.rounds):  # every tool once a round, so each meets the same hours
        for tool, command in commands.items():
            output = work / f"{clip.name}_{tool.replace(' ', '_')}.mp4"
            output.unlink(missing_ok=True)
            command = [*command, output] if command[:3] == me else [*command, "-o", output]
            rounds[tool].append(measure(tool, [str(c) for c in command], clip, output, work))
            if rounds[tool][-1].ok:
                outputs[tool] = output
    runs = {tool: _median(done) for tool, done in rounds.items()}
    result: dict = {
        "clip": clip.name,
        "path": str(clip.path),
        "frames": clip.frames,
        "runs": {tool: run.to_dict() for tool, run in runs.items()},
        "rounds_wall_s": {
            tool: [round(r.wall_s, 2) for r in done] for tool, done in rounds.items()
        },
        "ratios": _ratios(runs),
        "stages": stage_breakdown(clip, work, me),
    }
    if clip.truth is not None and outputs:
        print("  scoring coverage", file=sys.stderr, flush=True)
        result["coverage"] = coverage(clip, outputs)
    for output in outputs.values():
        output.unlink(missing_ok=True)
    return result


def _median(runs: list[Run]) -> Run:
    """The run of median wall time (the faster of the middle two for an even count)."""
    return sorted(runs, key=lambda run: run.wall_s)[(len(runs) - 1) // 2]


def stage_breakdown(clip: Clip, work: Path, me: list[str]) -> dict:
    """CPU milliseconds per frame of each stage, from a serial run of anonymize's defaults."""
    print("  anonymize, one stage at a time: where the time goes", file=sys.stderr, flush=True)
    output = work / f"{clip.name}_stages.mp4"
    subprocess.run([*me, "breakdown", str(clip.path), str(output)], check=True)
    figures = json.loads(output.with_name(output.name + ".json").read_text())
    output.unlink(missing_ok=True)
    frames = figures["frames"]
    ms = {k: round(1000 * v / frames, 1) for k, v in figures["seconds"].items()}
    return {
        "engines": figures["engines"],
        "ms_per_frame": dict(sorted(ms.items(), key=lambda kv: -kv[1])),
        "total_ms_per_frame": round(sum(ms.values()), 1),
    }


def _ratios(runs: dict[str, Run]) -> dict[str, float | None]:
    def ratio(a: str, b: str, key: str) -> float | None:
        if a not in runs or b not in runs or not (runs[a].ok and runs[b].ok):
            return None
        if key == "fps":
            return round(runs[a].fps / runs[b].fps, 3)
        return round(runs[b].cpu_per_frame / runs[a].cpu_per_frame, 3)

    return {
        "fps_vs_deface": ratio("anonymize", "deface", "fps"),
        "cpu_vs_deface": ratio("anonymize", "deface", "cpu"),
        "fps_vs_floor": ratio("anonymize", "decode+encode", "fps"),
        "cpu_vs_floor": ratio("anonymize", "decode+encode", "cpu"),
    }


def targets(results: list[dict]) -> dict[str, dict]:
    """Each target of the issue, per clip: the figure and whether it is met."""
    out: dict[str, dict] = {}
    for result in results:
        runs, ratios, clip = result["runs"], result["ratios"], result["clip"]
        mine = runs.get("anonymize", {})
        checks: dict[str, dict] = {}
        if ratios["fps_vs_deface"] is not None:
            checks["fps >= 5x deface"] = _check(ratios["fps_vs_deface"], TARGET_VS_DEFACE)
        if ratios["fps_vs_floor"] is not None:
            checks["fps >= 25% of decode+encode"] = _check(ratios["fps_vs_floor"], TARGET_VS_FLOOR)
        if mine.get("returncode") == 0:
            checks["peak < 1.5 GB"] = {
                "value": mine["peak_mb"],
                "met": mine["peak_mb"] < TARGET_PEAK_MB,
            }
        cover = result.get("coverage", {})
        if "anonymize" in cover and "deface" in cover:
            for bucket in ("20+", "all"):
                a = cover["anonymize"]["buckets"][bucket]["share"]
                d = cover["deface"]["buckets"][bucket]["share"]
                if a is not None and d is not None:
                    checks[f"coverage {bucket} >= deface"] = {
                        "value": round(a - d, 4),
                        "met": a >= d,
                    }
        out[clip] = checks
    return out


def _check(value: float, at_least: float) -> dict:
    return {"value": value, "met": value >= at_least}


# -- report --------------------------------------------------------------------------------


def format_report(report: dict) -> str:
    lines = [_machine_line(report["machine"])]
    for result in report["clips"]:
        lines += ["", f"{result['clip']}: {result['path']} ({result['frames']} frames)"]
        lines.append(
            f"{'':<16}{'frames out':>11}{'wall s':>9}{'fps':>8}{'CPU s/frame':>13}"
            f"{'max RSS MB':>12}{'tree RSS MB':>13}"
        )
        for tool, run in result["runs"].items():
            if run["returncode"] != 0:
                lines.append(f"{tool:<16}  failed with exit code {run['returncode']}")
                continue
            lines.append(
                f"{tool:<16}{run['frames_out']!s:>11}{run['wall_s']:>9.1f}{run['fps']:>8.2f}"
                f"{run['cpu_s_per_frame']:>13.3f}{run['max_rss_mb']:>12.0f}"
                f"{run['tree_rss_mb']:>13.0f}"
            )
        if any(len(walls) > 1 for walls in result["rounds_wall_s"].values()):
            lines.append(
                "median of each tool's rounds; wall s of every round: "
                + "; ".join(
                    f"{tool} {', '.join(f'{w:.1f}' for w in walls)}"
                    for tool, walls in result["rounds_wall_s"].items()
                )
            )
        ratios = result["ratios"]
        if ratios["fps_vs_deface"] is not None:
            lines.append(
                f"anonymize / deface: {ratios['fps_vs_deface']:.2f}x the fps; "
                f"by CPU per frame {ratios['cpu_vs_deface']:.2f}x as fast (target: 5x the fps)"
            )
        if ratios["fps_vs_floor"] is not None:
            lines.append(
                f"anonymize / decode+encode: {100 * ratios['fps_vs_floor']:.0f}% of the fps; "
                f"by CPU per frame {100 * ratios['cpu_vs_floor']:.0f}% as fast (target: 25%)"
            )
        busy = result["runs"].get("anonymize", {}).get("busy_cores")
        if busy:
            lines.append(
                "anonymize: cores busy in each second of its run: "
                + " ".join(f"{b:.1f}" for b in busy)
            )
        if "coverage" in result:
            lines += _coverage_lines(result["coverage"])
        stages = result["stages"]
        engines = ", ".join(f"{k} on {v}" for k, v in stages["engines"].items())
        lines.append(
            f"where the time goes (one stage at a time, CPU ms per frame; {engines}): "
            + ", ".join(f"{k} {v}" for k, v in stages["ms_per_frame"].items())
            + f"; total {stages['total_ms_per_frame']}"
        )
    lines += ["", "targets:"]
    for clip, checks in report["targets"].items():
        for name, check in checks.items():
            lines.append(
                f"  {clip:<7} {name:<30} {check['value']!s:>10}  "
                + ("met" if check["met"] else "NOT met")
            )
    return "\n".join(lines)


def _coverage_lines(cover: dict) -> list[str]:
    first = next(iter(cover.values()))
    lines = [
        f"face coverage over {first['frames_scored']} frames (visible faces; decode+encode and "
        "deface-io",
        "obscure nothing: they show what re-encoding alone changes)",
        f"{'':<16}{'20+ px obscured':>22}{'all obscured':>22}{'over-redaction':>16}",
    ]
    for tool, result in cover.items():
        cells = []
        for bucket in ("20+", "all"):
            b = result["buckets"][bucket]
            share = f"{100 * b['share']:.1f}%" if b["share"] is not None else "-"
            cells.append(f"{b['obscured']}/{b['total']} {share:>6}")
        lines.append(
            f"{tool:<16}{cells[0]:>22}{cells[1]:>22}{100 * result['over_redaction']:>15.2f}%"
        )
    return lines


def _machine_line(machine: dict) -> str:
    return (
        f"{machine['cpus']} CPUs, load {machine['load_before']} before / "
        f"{machine['load_after']} after, nice {machine['nice']}; anonymize "
        f"{machine['anonymize']} ({machine['commit']}), deface {machine['deface']}, "
        f"PyAV {machine['av']}"
    )


def _machine() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    git = ["git", "-C", str(ROOT)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "anonymize"], capture_output=True, text=True
        ).stdout.strip()
        commit += " + uncommitted changes under anonymize/" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    return {
        "cpus": os.cpu_count(),
        "nice": os.nice(0),
        "load_before": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "anonymize": installed("anonymize"),
        "commit": commit,
        "deface": installed("deface"),
        "av": av.__version__,
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:  # one measured step, run by the benchmark itself
        _CHILDREN[argv[1]](Path(argv[2]), Path(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips",
        default=",".join(CLIPS),
        help=f"comma-separated, some of {', '.join(CLIPS)} (default: all)",
    )
    parser.add_argument("--frames", type=int, help="cut every clip to its first N frames")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="length of 'long'")
    parser.add_argument("--shots", type=int, default=16, help="30-frame shots in 'truth'")
    parser.add_argument("--skip-deface", action="store_true", help="do not run deface")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every tool this many times, in turn, and keep each one's median run",
    )
    parser.add_argument(
        "--faces-only", action="store_true", help="also time anonymize --targets faces"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "anonymize-benchmarks",
        help="where generated clips are kept (default: ~/.cache/anonymize-benchmarks)",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.clips.split(",") if c.strip()]
    if not chosen or set(chosen) - set(CLIPS):
        parser.error(f"--clips takes some of {', '.join(CLIPS)}")
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    cache = args.cache.expanduser().resolve()
    if cache.is_relative_to(ROOT):
        parser.error("--cache must be outside the repository")
    cache.mkdir(parents=True, exist_ok=True)

    machine = _machine()
    makers = {
        "street": lambda: street_clip(args.data, cache, args.frames),
        "long": lambda: long_clip(args.data, cache, args.long_seconds, args.frames),
        "truth": lambda: truth_clip(args.data, cache, args.shots, args.frames),
        "hdv": lambda: hdv_clip(args.data, cache, args.shots, args.frames),
        "interlaced": lambda: interlaced_clip(args.data, cache, args.shots, args.frames),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="anonymize-speed-") as work:
        for name in chosen:
            results.append(bench_clip(makers[name](), Path(work), args))
    machine["load_after"] = round(os.getloadavg()[0], 2)
    report = {"machine": machine, "clips": results, "targets": targets(results)}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
