"""Short clips the tests make from the generated sample: the whole pipeline in seconds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def first_frames(
    src: Path,
    dst: Path,
    frames: int = 6,
    tags: dict[str, str] | None = None,
    stream_tags: dict[str, str] | None = None,
) -> None:
    """The first ``frames`` frames of ``src`` at 640x360 (any container ``dst``'s name says),
    with ``tags`` on the container and ``stream_tags`` on its video stream."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        out.metadata.update(tags or {})
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.metadata.update(stream_tags or {})
        for index, frame in enumerate(inp.decode(video=0)):
            if index == frames:
                break
            small = frame.reformat(width=640, height=360, format="yuv420p")
            small.pts, small.time_base = index, Fraction(1, 25)
            out.mux(video.encode(small))
        out.mux(video.encode(None))
