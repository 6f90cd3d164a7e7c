"""The review page: from ``anonymize review`` to a rendered file, checked in the pixels.

The browser test drives Debian's headless Chromium through the page like an editor would:
keep two faces, cover one of them again with a box drawn on two frames (so it moves between
keyframes), render, and then compares the output with the input inside each face. The session
tests check the same edits without a browser, including the ones the server must refuse.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_review_security import FixedDetector, make_clip

from anonymize import regions
from anonymize.api import Anonymizer, report_path
from anonymize.config import Settings
from anonymize.media import VideoReader, probe
from anonymize.regions import FileInfo, RegionsFile
from anonymize.review import OutputExists, ReviewError, ReviewServer, ReviewSession
from anonymize.review.frames import FrameSource
from anonymize.review.session import _thumbnail
from anonymize.types import Box, Region

PADDING = 0.2


# -- the sample clip with its true faces as the regions file ------------------------------


@pytest.fixture
def street(samples_dir: Path, tmp_path: Path) -> tuple[Path, list[list[list[float]]]]:
    """street.mp4 in a folder of its own, with a regions file made from the faces' true
    boxes (track k+1 is face k), as ``anonymize detect`` would write it without the wait."""
    src = tmp_path / "street.mp4"
    shutil.copyfile(samples_dir / "street.mp4", src)
    faces = json.loads((samples_dir / "faces.json").read_text())["street.mp4"]
    frames = {
        index: [
            Region(Box(*box).padded(PADDING).clipped(1280, 720), "face", 0.9, track=k + 1)
            for k, box in enumerate(boxes)
        ]
        for index, boxes in enumerate(faces)
    }
    info = FileInfo(src.name, regions.sha256_file(src), "video", 1280, 720, len(faces), 25.0)
    times = {index: index / 25 for index in frames}
    found = RegionsFile(info, frames, regions.summarise_tracks(frames), times=times)
    regions.save(found, src.with_name(src.name + ".regions.json"))
    return src, faces


# -- in a real browser (the browser fixture is in conftest.py) ---------------------------


@contextlib.contextmanager
def _opened(src: Path, browser) -> Iterator:
    """``src``'s review page open in the browser and ready; the browser's wait."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = ReviewSession(src, Settings(), Anonymizer(Settings(), detectors=[]))
    server = ReviewServer(session)
    server.start()
    try:
        browser.get(server.url)
        # The page redraws its lists after each edit: an element found just before a redraw
        # goes stale, and the next poll finds the new one.
        wait = WebDriverWait(browser, 60, ignored_exceptions=[StaleElementReferenceException])
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        yield wait
    finally:
        server.shutdown()
        server.server_close()
        session.close()


@pytest.fixture
def page(street, browser):
    """The review page of ``street``, ready: (browser, its wait, the clip)."""
    src, _ = street
    with _opened(src, browser) as wait:
        yield browser, wait, src


def _draw_a_box(browser, wait) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(browser).move_to_element_with_offset(
        browser.find_element(By.ID, "overlay"), -40, -40
    ).click_and_hold().move_by_offset(60, 60).release().perform()
    wait.until(lambda d: d.find_element(By.ID, "draw-panel").is_displayed())


def test_review_in_a_browser_keeps_one_face_and_covers_a_drawn_region(page, street) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser, wait, src = page
    _, faces = street
    wait.until(lambda d: d.execute_script("return document.getElementById('frame').complete"))
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#tracks img.thumb")
    assert len(thumbs) == 3
    wait.until(lambda d: all(t.get_attribute("naturalWidth") != "0" for t in thumbs))

    # Face 0 (track 1) and face 1 (track 2) are left visible...
    for track in (1, 2):
        selector = f'li[data-track="{track}"] button.keep'
        browser.find_element(By.CSS_SELECTOR, selector).click()
        wait.until(
            lambda d, s=selector: (
                d.find_element(By.CSS_SELECTOR, s).get_attribute("aria-pressed") == "true"
            )
        )

    # ... then face 1 is covered again by a region drawn on the first and last frames.
    canvas = browser.find_element(By.ID, "overlay")

    def draw(box: list[float]) -> None:
        scale = canvas.size["width"] / 1280
        x1, y1, x2, y2 = Box(*box).padded(0.3).as_list()
        cx, cy = canvas.size["width"] / 2, canvas.size["height"] / 2
        ActionChains(browser).move_to_element_with_offset(
            canvas, round(x1 * scale - cx), round(y1 * scale - cy)
        ).click_and_hold().move_by_offset(
            round((x2 - x1) * scale), round((y2 - y1) * scale)
        ).release().perform()
        wait.until(lambda d: d.find_element(By.ID, "draw-panel").is_displayed())

    draw(faces[0][1])
    browser.find_element(By.ID, "draw-add").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#manual li[data-manual]"))
    scrubber = browser.find_element(By.ID, "scrubber")
    scrubber.send_keys(Keys.END)
    wait.until(lambda d: d.find_element(By.ID, "position").text.startswith("frame 100 /"))
    draw(faces[-1][1])
    browser.find_element(By.ID, "draw-keyframe").click()
    wait.until(lambda d: "2 keyframes" in d.find_element(By.ID, "manual").text)

    browser.find_element(By.ID, "render").click()
    status = browser.find_element(By.ID, "render-status")
    WebDriverWait(browser, 300).until(
        lambda d: status.get_attribute("data-state") in ("done", "failed")
    )
    assert status.get_attribute("data-state") == "done", status.text
    assert "wrote street_anonymized.mp4" in status.text

    saved = regions.load(src.with_name("street.mp4.regions.json"))
    assert [t.keep for t in saved.tracks] == [True, True, False]
    (drawn,) = saved.manual
    assert [k.time for k in drawn.keyframes] == [0.0, 3.96]
    for key, face in zip(drawn.keyframes, (faces[0][1], faces[-1][1]), strict=True):
        want = Box(*face).padded(0.3).as_list()
        assert key.box.as_list() == pytest.approx(want, abs=4)

    output = src.with_name("street_anonymized.mp4")
    assert (src.parent / "anonymize-audit" / "street_anonymized.mp4.json").exists()
    _assert_faces(src, output, faces, visible={0}, covered={1, 2})


def _assert_faces(src: Path, output: Path, faces: list, visible: set, covered: set) -> None:
    """Compare input and output inside each face's true box on a few frames: a visible face
    differs by re-encoding noise only; a covered one differs a lot and lost its detail."""
    picked = (0, 37, 50, 99)
    inputs = {f.index: f.image for f in VideoReader(src) if f.index in picked}
    outputs = {f.index: f.image for f in VideoReader(output) if f.index in picked}
    assert len(outputs) == len(picked)
    for index in picked:
        for face in visible | covered:
            x1, y1, x2, y2 = (round(v) for v in faces[index][face])
            before, after = inputs[index][y1:y2, x1:x2], outputs[index][y1:y2, x1:x2]
            difference = np.abs(before.astype(np.int16) - after).mean()
            kept_detail = _detail(after) / _detail(before)
            if face in visible:
                assert difference < 3 and kept_detail > 0.8, (index, face, difference)
            else:
                assert difference > 15 and kept_detail < 0.1, (index, face, difference)


def _detail(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


# -- the same actions without a browser ---------------------------------------------------


@pytest.fixture
def clip_session(tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4")
    session = ReviewSession(clip, Settings(), Anonymizer(Settings(), detectors=[FixedDetector()]))
    yield session
    session.close()


def test_detects_and_writes_the_regions_file_when_there_is_none(clip_session) -> None:
    path = clip_session.regions_path
    assert path == clip_session.src.with_name("clip.mp4.regions.json")
    saved = regions.load(path)
    assert len(saved.tracks) == 1 and saved.tracks[0].first_frame == 0
    assert saved.frames[3][0].box.intersection(Box(20, 10, 50, 40)) == Box(20, 10, 50, 40).area


def test_frames_are_the_readers_frames_in_any_order(clip_session) -> None:
    reference = [f.image for f in VideoReader(clip_session.src)]
    for index in (3, 0, 5, 4, 1, 1, 5, 2):
        assert np.array_equal(clip_session.frames.image(index), reference[index])
    with pytest.raises(KeyError):
        clip_session.frame_jpeg(len(reference))


def test_frames_seek_across_keyframes_and_reordered_frames(tmp_path: Path) -> None:
    # Keyframes every 7 frames and B-frames: seeks land before the target, display order
    # differs from decode order.
    clip = make_clip(tmp_path / "gop.mp4", frames=40, options={"g": "7", "bf": "2"})
    reference = [f.image for f in VideoReader(clip)]
    source = FrameSource(clip, probe(clip))
    try:
        assert len(source) == 40
        for index in (30, 8, 9, 39, 0, 21, 20, 22, 13, 6, 7, 35, 1):
            assert np.array_equal(source.image(index), reference[index]), index
    finally:
        source.close()


def test_frame_preview_obscures_what_render_will(clip_session) -> None:
    plain = cv2.imdecode(np.frombuffer(clip_session.frame_jpeg(2), np.uint8), cv2.IMREAD_COLOR)
    shown = cv2.imdecode(
        np.frombuffer(clip_session.frame_jpeg(2, obscured=True), np.uint8), cv2.IMREAD_COLOR
    )
    box = clip_session.regions.frames[2][0].box
    x1, y1, x2, y2 = (round(v) for v in box.as_list())
    inside = np.abs(plain[y1:y2, x1:x2].astype(int) - shown[y1:y2, x1:x2]).mean()
    outside = np.abs(plain[:, 60:].astype(int) - shown[:, 60:]).mean()
    assert inside > 10 and outside < 2
    clip_session.set_keep(1, True)
    kept = cv2.imdecode(
        np.frombuffer(clip_session.frame_jpeg(2, obscured=True), np.uint8), cv2.IMREAD_COLOR
    )
    assert np.abs(plain.astype(int) - kept).mean() < 2


def test_thumbnails_are_obscured_unless_revealed(clip_session) -> None:
    def decode(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE).astype(float)

    hidden = decode(clip_session.thumbnail_jpeg(1))
    revealed = decode(clip_session.thumbnail_jpeg(1, reveal=True))
    assert hidden.shape == revealed.shape and max(hidden.shape) == 160
    # The clip's frames have a hard white edge: sharp when revealed, gone when hidden.
    assert cv2.Laplacian(revealed, cv2.CV_64F).var() > 20 * cv2.Laplacian(hidden, cv2.CV_64F).var()
    with pytest.raises(KeyError):
        clip_session.thumbnail_jpeg(99)


def test_thumbnails_show_pixels_in_the_shape_a_player_gives_them() -> None:
    """A face stored 30 x 40 in HDV (pixels shown 4:3 wider) is round on the page."""
    image = np.zeros((1080, 1440, 3), np.uint8)
    for pixel_aspect, across in [(1.0, 0.75), (4 / 3, 1.0)]:
        height, width = _thumbnail(image, Box(500, 500, 530, 540), pixel_aspect).shape[:2]
        assert max(height, width) == 160 and width / height == pytest.approx(across, rel=0.05)


def test_edits_are_saved_at_once(clip_session) -> None:
    path = clip_session.regions_path
    clip_session.set_keep(1, True)
    assert regions.load(path).tracks[0].keep is True
    new = clip_session.add_manual(
        {
            "label": "area",
            "start": 0.1,
            "end": 0.2,
            "keyframes": [{"time": 0.1, "box": [1, 2, 30, 20]}],
        }
    )
    clip_session.add_keyframe(new, {"time": 0.4, "box": [11, 12, 40, 30]})
    (manual,) = regions.load(path).manual
    assert manual.id == new and (manual.start, manual.end) == (0.1, 0.4)
    assert manual.box_at(0.25).as_list() == [6, 7, 35, 25]
    assert clip_session.regions.regions_to_render(2, 0.25)[-1].box.as_list() == [6, 7, 35, 25]
    clip_session.delete_manual(new)
    assert regions.load(path).manual == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.set_keep(7, True), "no track 7"),
        (lambda s: s.set_keep(1, "yes"), "true or false"),
        (
            lambda s: s.add_manual(
                {"start": 0, "end": 0.5, "keyframes": [{"time": 0, "box": [0, 0, 97, 10]}]}
            ),
            "outside the 96x64 frame",
        ),
        (
            lambda s: s.add_manual(
                {"start": 0.5, "end": 0.1, "keyframes": [{"time": 0, "box": [0, 0, 9, 9]}]}
            ),
            "ends before it starts",
        ),
        (lambda s: s.add_manual({"start": 0, "end": 1, "keyframes": []}), "invalid regions file"),
        (lambda s: s.add_manual({"start": "0", "end": 1, "keyframes": []}), "invalid"),
        (lambda s: s.add_manual({"label": "tattoo", "start": 0, "end": 1}), "label must be"),
        (lambda s: s.add_manual({"id": "x", "start": 0, "end": 1}), "unknown field 'id'"),
        (lambda s: s.add_manual([1, 2]), "JSON object"),
        (lambda s: s.add_keyframe("m00", {"time": 0, "box": [0, 0, 9, 9]}), "no drawn region"),
        (lambda s: s.delete_manual("m00"), "no drawn region"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(clip_session, edit, message) -> None:
    before = clip_session.regions_path.read_bytes()
    with pytest.raises(ReviewError, match=message):
        edit(clip_session)
    assert clip_session.regions_path.read_bytes() == before


def test_a_regions_file_for_another_file_is_refused(tmp_path: Path) -> None:
    first = make_clip(tmp_path / "a.mp4")
    second = make_clip(tmp_path / "b.mp4", frames=5)
    anonymizer = Anonymizer(Settings(), detectors=[FixedDetector()])
    ReviewSession(first, Settings(), anonymizer).close()
    shutil.copyfile(tmp_path / "a.mp4.regions.json", tmp_path / "b.mp4.regions.json")
    with pytest.raises(ReviewError, match="made for another file"):
        ReviewSession(second, Settings(), anonymizer)
    (tmp_path / "b.mp4.regions.json").write_text('{"format": "anonymize-regions", "version": 9}')
    with pytest.raises(ReviewError, match="version 9 is not supported"):
        ReviewSession(second, Settings(), anonymizer)


def test_render_writes_beside_the_input_and_asks_before_replacing(clip_session) -> None:
    clip_session.start_render()
    status = clip_session.wait_render(60)
    assert status.state == "done" and status.done == status.total == 6, status
    output = clip_session.src.with_name("clip_anonymized.mp4")
    record = clip_session.src.parent / "anonymize-audit" / "clip_anonymized.mp4.json"
    assert output.exists() and record.exists() and clip_session.record_path == record
    assert not report_path(output).exists()  # never beside what will be published
    with pytest.raises(OutputExists):
        clip_session.start_render()
    clip_session.set_keep(1, True)
    outdated = clip_session.status()  # the output no longer shows what the page does
    assert outdated.state == "outdated" and "render again" in outdated.message
    clip_session.start_render(overwrite=True)
    assert clip_session.wait_render(60).state == "done"
    assert regions.load(record).tracks[0].keep is True


def test_a_photo_is_reviewed_upright_and_rendered(samples_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "portrait.jpg"
    shutil.copyfile(samples_dir / "portrait.jpg", src)
    session = ReviewSession(src, Settings(), Anonymizer(Settings(), detectors=[FixedDetector()]))
    try:
        frame = cv2.imdecode(np.frombuffer(session.frame_jpeg(0), np.uint8), cv2.IMREAD_COLOR)
        assert frame.shape == (1280, 960, 3)  # stored sideways, shown upright
        assert session.info()["times"] == [0.0]
        session.start_render()
        assert session.wait_render(60).state == "done"
    finally:
        session.close()
    assert (tmp_path / "portrait_anonymized.jpg").exists()


def test_a_photo_is_reviewed_without_the_controls_of_a_video(samples_dir, tmp_path, browser):
    from selenium.webdriver.common.by import By

    src = tmp_path / "portrait.jpg"
    shutil.copyfile(samples_dir / "portrait.jpg", src)
    with _opened(src, browser) as wait:
        assert not browser.find_element(By.ID, "scrubber").is_displayed()
        assert browser.find_element(By.ID, "preview-switch").is_displayed()
        _draw_a_box(browser, wait)
        assert not browser.find_element(By.ID, "draw-start").is_displayed()
        browser.find_element(By.ID, "draw-add").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#manual li[data-manual]"))


def test_the_review_command_serves_until_interrupted(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    # The regions file exists, so the command loads it and runs no detector.
    ReviewSession(clip, Settings(), Anonymizer(Settings(), detectors=[FixedDetector()])).close()
    command = [sys.executable, "-c", "from anonymize.cli import main; main()", "review"]
    process = subprocess.Popen(
        [*command, str(clip), "--no-browser"], stderr=subprocess.PIPE, text=True
    )
    try:
        line, said = "", ""
        while "http://" not in line:
            line = process.stderr.readline()
            assert line, "the command ended without printing the page's address"
            said += line
        assert "reviewing " in said and "earlier edits kept" in said  # not detected afresh
        url = line[line.index("http://") :].strip()
        assert url.startswith("http://127.0.0.1:") and "token=" in url
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"review.js" in response.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert "review stopped; every edit is saved in" in process.stderr.read()
    finally:
        process.kill()
        process.wait()


def test_closing_stops_a_render_and_leaves_no_partial_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=30)
    session = ReviewSession(clip, Settings(), Anonymizer(Settings(), detectors=[FixedDetector()]))
    session.start_render()
    session.close()  # what Ctrl+C on the command does
    status = session.status()
    assert status.state == "failed" and "stopped" in status.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.mp4.regions.json"]


_FRAME_HASH = """
const img = document.getElementById('frame');
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;
return h;
"""


def test_the_published_preview_shows_each_edit_at_once(page) -> None:
    """Left visible, a face shows in the preview of what will be published; covered
    again, it is hidden again, without leaving the frame."""
    from selenium.webdriver.common.by import By

    browser, wait, _ = page
    browser.find_element(By.ID, "preview-switch").click()
    wait.until(lambda d: "obscured=1" in d.find_element(By.ID, "frame").get_attribute("src"))
    covered = wait.until(lambda d: d.execute_script(_FRAME_HASH))
    keep = 'li[data-track="1"] button.keep'
    browser.find_element(By.CSS_SELECTOR, keep).click()
    wait.until(lambda d: (d.execute_script(_FRAME_HASH) or covered) != covered)
    browser.find_element(By.CSS_SELECTOR, keep).click()
    wait.until(lambda d: d.execute_script(_FRAME_HASH) == covered)


def test_a_region_drawn_with_its_times_cleared_covers_from_its_frame_to_the_end(page) -> None:
    from selenium.webdriver.common.by import By

    browser, wait, src = page
    for _ in range(20):
        browser.find_element(By.ID, "next").click()
    wait.until(lambda d: d.find_element(By.ID, "position").text.startswith("frame 21 /"))
    _draw_a_box(browser, wait)
    for field in ("draw-start", "draw-end"):
        browser.find_element(By.ID, field).clear()
    browser.find_element(By.ID, "draw-add").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#manual li[data-manual]"))
    (drawn,) = regions.load(src.with_name(src.name + ".regions.json")).manual
    assert (drawn.start, drawn.end) == (pytest.approx(20 / 25), pytest.approx(99 / 25))


def test_a_double_click_on_a_track_turns_it_over_twice(page) -> None:
    """Two quick clicks on "covered" leave the face covered, as two single clicks would."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser, wait, src = page
    keep = browser.find_element(By.CSS_SELECTOR, 'li[data-track="1"] button.keep')
    ActionChains(browser).double_click(keep).perform()
    wait.until(lambda d: "is now covered" in d.find_element(By.ID, "message").text)
    saved = regions.load(src.with_name(src.name + ".regions.json"))
    assert not {t.id: t.keep for t in saved.tracks}[1]


def test_keys_step_frames_after_the_preview_switch_and_escape_drops_a_drawing(page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser, wait, _ = page
    browser.find_element(By.ID, "preview-switch").click()
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    wait.until(lambda d: d.find_element(By.ID, "position").text.startswith("frame 2 /"))
    _draw_a_box(browser, wait)
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait.until(lambda d: not d.find_element(By.ID, "draw-panel").is_displayed())


def test_closing_the_server_waits_for_requests_in_flight_and_hangs_up_idle_ones(
    clip_session, monkeypatch
) -> None:
    """Ctrl+C while a browser has the page open: a request still making a frame is let
    finish (killed inside OpenCV at exit, it aborted the process), and connections the
    browser keeps open between requests do not hold the close up."""
    import http.client
    import time

    finished = threading.Event()
    frame_jpeg = clip_session.frame_jpeg

    def slow_frame(index: int, obscured: bool = False) -> bytes:
        time.sleep(0.5)
        data = frame_jpeg(index, obscured)
        finished.set()
        return data

    monkeypatch.setattr(clip_session, "frame_jpeg", slow_frame)
    server = ReviewServer(clip_session)
    server.start()
    headers = {"X-Review-Token": server.token, "Host": f"127.0.0.1:{server.port}"}
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    idle.request("GET", "/api/info", headers=headers)
    assert idle.getresponse().read()  # answered; the connection stays open, idle
    busy = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    busy.request("GET", "/api/frame/0.jpg", headers=headers)
    time.sleep(0.1)  # the frame is being made
    server.shutdown()
    started = time.monotonic()
    server.server_close()
    assert finished.is_set()  # waited for the frame
    assert time.monotonic() - started < 5  # and not for the idle connection
    idle.close()
    busy.close()
