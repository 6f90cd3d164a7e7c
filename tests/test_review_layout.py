"""The review page fits any footage on one screen.

On a 1366x768 laptop screen, with a portrait phone clip and with a 4K landscape clip, the
frame is scaled to the space beside the lists and above the controls, and every control is
on screen without scrolling, the drawing panel open or not; what will be published is one
click away. Screenshots go to ``REVIEW_SCREENSHOTS`` (a folder) when it is set, to look at.
"""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import pytest

from anonymize import regions
from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.regions import FileInfo, RegionsFile
from anonymize.review import ReviewServer, ReviewSession
from anonymize.types import Box, Region

SCREEN = (1366, 768)
SMALL = (800, 600)  # a small laptop window, or a browser beside the footage's folder
FRAMES = 6
# Everything an editor needs while reviewing; the lists scroll inside their own panel.
CONTROLS = ["frame", "prev", "scrubber", "next", "position", "preview-switch", "legend", "render"]

_VISIBLE = """
const ids = arguments[0];
const out = {scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
             view: [window.innerWidth, window.innerHeight], boxes: {}};
const first = document.querySelector("#tracks button.keep");
const all = ids.map((id) => [id, document.getElementById(id)]);
if (first) all.push(["first track's switch", first]);
for (const [id, el] of all) {
  const r = el.getBoundingClientRect();
  out.boxes[id] = [r.left, r.top, r.right, r.bottom];
}
return out;
"""


def _reframed(
    samples_dir: Path,
    dst: Path,
    crop: tuple[int, int, int, int],
    size: tuple,
    pixel_aspect: Fraction = Fraction(1),
) -> Path:
    """The sample clip's first frames cut to ``crop`` (x1, y1, x2, y2) and scaled to
    ``size`` (stored pixels, shown ``pixel_aspect`` times wider than tall), with a regions
    file holding its faces' true boxes, as detect would write."""
    truth = json.loads((samples_dir / "faces.json").read_text())["street.mp4"]
    x1, y1, x2, y2 = crop
    sx, sy = size[0] / (x2 - x1), size[1] / (y2 - y1)
    frames: dict[int, list[Region]] = {}
    with av.open(str(samples_dir / "street.mp4")) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        if pixel_aspect != 1:
            stream.codec_context.sample_aspect_ratio = pixel_aspect
        for index, frame in enumerate(inp.decode(video=0)):
            if index == FRAMES:
                break
            image = cv2.resize(frame.to_ndarray(format="bgr24")[y1:y2, x1:x2], size)
            encoded = av.VideoFrame.from_ndarray(image, format="bgr24")
            encoded.pts, encoded.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(encoded))
            found = []
            for track, (a, b, c, d) in enumerate(truth[index], start=1):
                box = Box((a - x1) * sx, (b - y1) * sy, (c - x1) * sx, (d - y1) * sy)
                box = box.padded(0.2).clipped(*size)
                if box.area > 0:
                    found.append(Region(Box(*box.as_list()), "face", 0.9, track=track))
            frames[index] = found
        out.mux(stream.encode(None))
    info = FileInfo(dst.name, regions.sha256_file(dst), "video", *size, FRAMES, 25.0)
    times = {index: index / 25 for index in range(FRAMES)}
    found = RegionsFile(info, frames, regions.summarise_tracks(frames), times=times)
    regions.save(found, dst.with_name(dst.name + ".regions.json"))
    return dst


@pytest.mark.parametrize(
    ("name", "crop", "size", "pixel_aspect", "screen"),
    [
        ("portrait", (60, 0, 465, 720), (720, 1280), Fraction(1), SCREEN),  # a phone upright
        ("4k", (0, 0, 1280, 720), (3840, 2160), Fraction(1), SCREEN),
        ("hdv", (0, 0, 1280, 720), (1440, 1080), Fraction(4, 3), SCREEN),  # stored squeezed
        ("small", (0, 0, 1280, 720), (1280, 720), Fraction(1), SMALL),
    ],
)
def test_every_control_is_on_one_screen(
    browser, samples_dir, tmp_path, name, crop, size, pixel_aspect, screen
):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    src = _reframed(samples_dir, tmp_path / f"{name}.mp4", crop, size, pixel_aspect)
    shown = (size[0] * pixel_aspect, size[1])  # as a player shows it
    session = ReviewSession(src, Settings(), Anonymizer(Settings(), detectors=[]))
    server = ReviewServer(session)
    server.start()
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": screen[0], "height": screen[1], "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        loaded = "const f = document.getElementById('frame'); return f.complete && f.naturalWidth"
        wait.until(lambda d: d.execute_script(loaded))
        thumbs = "return [...document.querySelectorAll('#tracks img')].every(i => i.naturalWidth)"
        wait.until(lambda d: d.execute_script(thumbs))
        _assert_on_screen(browser.execute_script(_VISIBLE, CONTROLS), shown, screen)
        _screenshot(browser, tmp_path, name)

        # The drawing panel takes room from the frame, never from the controls.
        browser.execute_script("document.getElementById('draw-panel').hidden = false")
        browser.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
        _assert_on_screen(browser.execute_script(_VISIBLE, [*CONTROLS, "draw-add"]), shown, screen)
        browser.execute_script("document.getElementById('draw-panel').hidden = true")

        # What will be published: one click.
        browser.find_element(By.ID, "preview-switch").click()
        wait.until(lambda d: "obscured=1" in d.find_element(By.ID, "frame").get_attribute("src"))
        wait.until(lambda d: d.execute_script(loaded))
        _screenshot(browser, tmp_path, f"{name}-published")
    finally:
        server.shutdown()
        server.server_close()
        session.close()


def _assert_on_screen(found: dict, size: tuple[float, int], screen: tuple[int, int]) -> None:
    width, height = found["view"]
    assert (width, height) == screen
    left, _, right, _ = found["boxes"]["scrubber"]
    assert right - left >= 150  # long enough to find a frame with
    assert found["scroll"][0] <= width and found["scroll"][1] <= height, found["scroll"]
    for what, (left, top, right, bottom) in found["boxes"].items():
        assert right > left and bottom > top, (what, found["boxes"][what])
        assert left >= 0 and top >= 0 and right <= width and bottom <= height, (what, found)
    left, top, right, bottom = found["boxes"]["frame"]
    shown = (right - left) / (bottom - top)
    assert shown == pytest.approx(size[0] / size[1], rel=0.02)  # not stretched
    assert max(right - left, bottom - top) > 0.5 * min(width, height)  # and not tiny


def _screenshot(browser, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"review-{name}.png"
    browser.save_screenshot(str(path))
    if folder := os.environ.get("REVIEW_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
