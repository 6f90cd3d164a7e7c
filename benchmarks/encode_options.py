"""What x264's options cost and give on real clips: encoder CPU a frame, file size, PSNR.

    python benchmarks/encode_options.py ../shared/data/videos/street_walking_1080p.mp4

Each clip's first ``--frames`` frames are decoded once to 4:2:0 and encoded in memory by PyAV
(the FFmpeg libraries anonymize's writer uses) at CRF 18 with preset ``veryfast`` plus each
variant's ``x264-params``; the encoder's CPU is the fastest of two rounds
(``time.process_time``), PSNR is over the Y, U and V planes against the decoded input.
"""

from __future__ import annotations

import argparse
import io
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from anonymize.media.video import X264_OPTIONS

VARIANTS = {
    "veryfast": "",
    f"anonymize ({X264_OPTIONS['x264-params']})": X264_OPTIONS["x264-params"],
    "subme=1": "subme=1",
    "rc-lookahead=5": "rc-lookahead=5",
    "mbtree=0": "mbtree=0",
}


def encode(frames: list[av.VideoFrame], params: str) -> tuple[float, bytes]:
    """CPU seconds and the bytes of one in-memory mp4 of ``frames``."""
    options = {"crf": "18", "preset": "veryfast"} | ({"x264-params": params} if params else {})
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        start = time.process_time()
        for index, frame in enumerate(frames):
            frame.pts, frame.time_base = index, Fraction(1, 30)  # as the stream's rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        cpu = time.process_time() - start
    return cpu, buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    for clip in args.clips:
        with av.open(str(clip)) as container:
            frames = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
        frames = frames[: args.frames]
        planes = [f.to_ndarray() for f in frames]
        print(f"{clip.name} ({len(frames)} frames, {frames[0].width}x{frames[0].height})")
        for name, params in VARIANTS.items():
            runs = [encode(frames, params) for _ in range(2)]
            cpu, data = min(r[0] for r in runs), runs[0][1]
            with av.open(io.BytesIO(data)) as decoded:
                back = [f.to_ndarray() for f in decoded.decode(video=0)]
            psnr = np.mean([cv2.PSNR(a, b) for a, b in zip(planes, back, strict=True)])
            print(
                f"  {name:34s} {cpu / len(frames) * 1000:5.1f} CPU ms/frame"
                f"  {len(data) / 1e6:5.2f} MB  PSNR {psnr:.2f} dB"
            )


if __name__ == "__main__":
    main()
