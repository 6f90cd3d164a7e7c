"""One review of one input: its regions file, the edits made to it, and the final render.

Everything here is plain Python with no HTTP in it, so the page's actions can be tested and
scripted directly. Every edit is applied to the file's JSON, validated by the same code that
validates a regions file from anywhere (``regions.from_json``), and saved atomically before
the call returns: closing the page never loses an edit, and a bad edit never reaches disk.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from anonymize import audit, media, regions
from anonymize.api import AnalysisError, Anonymizer, Progress
from anonymize.config import Settings
from anonymize.obscure import obscure
from anonymize.regions import RegionsError, RegionsFile
from anonymize.review.frames import FrameSource
from anonymize.types import Box, Region

__all__ = [
    "MANUAL_LABELS",
    "OutputExists",
    "RenderStatus",
    "ReviewError",
    "ReviewSession",
    "output_path",
    "record_path",
    "regions_path",
]

MANUAL_LABELS = ("area", "face", "plate")  # "area" is a rectangle; faces get the face shape
_JPEG_QUALITY = 85
_THUMB_PX = 160
_THUMB_MARGIN = 0.25  # context around a face, so an editor can tell who it is


class ReviewError(ValueError):
    """An edit or request the review refuses; the message says why in one sentence."""


class OutputExists(ReviewError):
    """The render would replace an earlier output; the page asks before it does."""


def regions_path(src: Path) -> Path:
    """The regions file ``anonymize detect`` writes for ``src``: SRC.regions.json beside it."""
    return src.with_name(src.name + ".regions.json")


def output_path(src: Path) -> Path:
    """Where the review renders ``src``: SRC_anonymized.EXT beside it, as the CLI does."""
    return src.with_name(f"{src.stem}_anonymized{src.suffix}")


def record_path(src: Path) -> Path:
    """Where the review's render puts its audit record: in the audit folder beside ``src``,
    as the CLI does, never beside the output that will be published."""
    return audit.record_path(audit.default_folder(src), Path(output_path(src).name))


@dataclass(frozen=True)
class RenderStatus:
    """Where the page's render is: ``done`` of ``total`` frames, and how it ended."""

    state: str  # "idle", "running", "done" or "failed"
    done: int = 0
    total: int = 0
    message: str = ""
    output: str = ""


class ReviewSession:
    """The input, its regions file (loaded, or made by running detect) and the edits to it."""

    def __init__(
        self,
        src: Path,
        settings: Settings,
        anonymizer: Anonymizer | None = None,
        progress: Progress | None = None,
    ):
        """Use ``src``'s regions file, or detect (reporting ``progress``) and write it first
        when there is none. ``anonymizer`` is the detector set to use for that."""
        self.src = Path(src)
        self.settings = settings
        self.regions_path = regions_path(self.src)
        self.output_path = output_path(self.src)
        self.record_path = record_path(self.src)
        self._lock = threading.RLock()
        self._status = RenderStatus("idle")
        self._render_thread: threading.Thread | None = None
        self._cancel = threading.Event()
        info = media.probe(self.src)
        self.regions = self._load_or_detect(anonymizer or Anonymizer(settings), progress)
        self.frames = FrameSource(self.src, info)
        if len(self.frames) != self.regions.input.frame_count:
            raise ReviewError(
                f"the file has {len(self.frames)} frames but its regions file covers "
                f"{self.regions.input.frame_count}"
            )

    def _load_or_detect(self, anonymizer: Anonymizer, progress: Progress | None) -> RegionsFile:
        if self.regions_path.exists():
            try:
                loaded = regions.load(self.regions_path)
            except RegionsError as err:
                raise ReviewError(f"{self.regions_path.name}: {err} (fix or delete it)") from err
            if loaded.input.sha256 != regions.sha256_file(self.src):
                raise ReviewError(
                    f"{self.regions_path.name} was made for another file "
                    f"({loaded.input.name}); delete it to detect again"
                )
            return loaded
        detected = anonymizer.detect(self.src, progress)
        regions.save(detected, self.regions_path)
        return detected

    def close(self) -> None:
        """Stop a running render (its partial output is removed) and release the file."""
        self._cancel.set()
        if self._render_thread is not None:
            self._render_thread.join()
        self.frames.close()

    # -- what the page shows ------------------------------------------------------------

    def info(self) -> dict:
        """What the page needs besides the regions file: frame times, names, labels."""
        return {
            "name": self.src.name,
            "regions_file": self.regions_path.name,
            "output": self.output_path.name,
            "record": f"{self.record_path.parent.name}/{self.record_path.name}",
            "times": [round(t, 6) for t in self.frames.times],
            "labels": list(MANUAL_LABELS),
        }

    def regions_json(self) -> bytes:
        """The regions file exactly as saved."""
        with self._lock:
            return self.regions_path.read_bytes()

    def frame_jpeg(self, index: int, obscured: bool = False) -> bytes:
        """Frame ``index`` as a JPEG; ``obscured`` shows it as render will write it."""
        image = self._image(index)
        if obscured:
            with self._lock:
                covered = self.regions.regions_to_render(index, self.frames.times[index])
            image = obscure(image, covered, self.settings)
        return _jpeg(image)

    def thumbnail_jpeg(self, track: int, reveal: bool = False) -> bytes:
        """The track at its largest detected box, with some context; obscured unless
        ``reveal``: an editor should not have to look at every face to review a file."""
        index, box = self._thumbnail_source(track)
        image = self._image(index)
        height, width = image.shape[:2]
        margin_x, margin_y = box.width * _THUMB_MARGIN, box.height * _THUMB_MARGIN
        x1, y1, x2, y2 = (
            round(v)
            for v in Box(box.x1 - margin_x, box.y1 - margin_y, box.x2 + margin_x, box.y2 + margin_y)
            .clipped(width, height)
            .as_list()
        )
        crop = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
        scale = _THUMB_PX / max(crop.shape[:2])
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        if not reveal:
            whole = Region(Box(0, 0, size[0], size[1]), "area")
            crop = obscure(crop, [whole], replace(self.settings, mode="blur"))
        return _jpeg(crop)

    def _thumbnail_source(self, track: int) -> tuple[int, Box]:
        """The frame and box showing ``track`` best: its largest detected box (a carried
        box is a guess, so it only counts when the track has no detected one)."""
        with self._lock:
            seen = [
                ((region.detected, region.box.area, -index), index, region.box)
                for index, found in self.regions.frames.items()
                for region in found
                if region.track == track
            ]
        if not seen:
            raise KeyError(track)
        _, index, box = max(seen, key=lambda item: item[0])
        return index, box

    def _image(self, index: int) -> np.ndarray:
        try:
            return self.frames.image(index)
        except IndexError as err:
            raise KeyError(index) from err

    # -- edits --------------------------------------------------------------------------

    def set_keep(self, track: int, keep: bool) -> None:
        """Leave track ``track`` visible (``keep``) or cover it again."""
        if not isinstance(keep, bool):
            raise ReviewError("'keep' must be true or false")

        def edit(data: dict) -> None:
            for entry in data["tracks"]:
                if entry["id"] == track:
                    entry["keep"] = keep
                    return
            raise ReviewError(f"there is no track {track}")

        self._edit(edit)

    def add_manual(self, request: object) -> str:
        """Add a region drawn by the editor; returns its new id.

        ``request`` is ``{"label", "start", "end", "keyframes": [{"time", "box"}]}``: one
        keyframe is a fixed area, more make a box that moves between them.
        """
        if not isinstance(request, dict):
            raise ReviewError("a region must be a JSON object")
        unknown = set(request) - {"label", "start", "end", "keyframes"}
        if unknown:
            raise ReviewError(f"unknown field {sorted(unknown)[0]!r} in the region")
        label = request.get("label", "area")
        if label not in MANUAL_LABELS:
            raise ReviewError(f"label must be one of {', '.join(MANUAL_LABELS)}")
        new_id = f"m{secrets.token_hex(4)}"

        def edit(data: dict) -> None:
            data.setdefault("manual", []).append(
                {
                    "id": new_id,
                    "label": label,
                    "start": request.get("start"),
                    "end": request.get("end"),
                    "keyframes": request.get("keyframes"),
                }
            )

        self._edit(edit)
        return new_id

    def add_keyframe(self, region_id: str, request: object) -> None:
        """Add (or replace, at the same time) a keyframe of a drawn region; its time span
        grows to include the keyframe."""
        if not isinstance(request, dict) or set(request) != {"time", "box"}:
            raise ReviewError("a keyframe is an object with 'time' and 'box'")
        time = request["time"]
        if not isinstance(time, (int, float)) or isinstance(time, bool) or time < 0:
            raise ReviewError("a keyframe's time must be a number of seconds, 0 or more")

        def edit(data: dict) -> None:
            entry = _manual_entry(data, region_id)
            keys = [k for k in entry["keyframes"] if abs(k["time"] - time) > 1e-6]
            entry["keyframes"] = sorted([*keys, request], key=lambda k: k["time"])
            entry["start"] = min(entry["start"], time)
            entry["end"] = max(entry["end"], time)

        self._edit(edit)

    def delete_manual(self, region_id: str) -> None:
        def edit(data: dict) -> None:
            entry = _manual_entry(data, region_id)
            data["manual"].remove(entry)

        self._edit(edit)

    def _edit(self, change: Callable[[dict], None]) -> None:
        with self._lock:
            if self._status.state == "running":
                raise ReviewError("wait for the render to finish before editing")
            data = json.loads(self.regions_path.read_text(encoding="utf-8"))
            change(data)
            try:
                updated = regions.from_json(data)
            except RegionsError as err:
                raise ReviewError(f"edit refused: {err}") from err
            regions.save(updated, self.regions_path)
            self.regions = updated

    # -- render -------------------------------------------------------------------------

    def status(self) -> RenderStatus:
        with self._lock:
            return self._status

    def start_render(self, overwrite: bool = False) -> None:
        """Render in the background to ``output_path`` (and its audit record to
        ``record_path``); see ``status``."""
        with self._lock:
            if self._status.state == "running":
                raise ReviewError("a render is already running")
            if self.output_path.exists() and not overwrite:
                raise OutputExists(f"{self.output_path.name} exists; confirm to replace it")
            snapshot = regions.load(self.regions_path)
            self._status = RenderStatus(
                "running", total=snapshot.input.frame_count, output=self.output_path.name
            )
            self._render_thread = threading.Thread(
                target=self._render, args=(snapshot,), name="review-render", daemon=True
            )
            self._render_thread.start()

    def wait_render(self, timeout: float | None = None) -> RenderStatus:
        thread = self._render_thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def _render(self, snapshot: RegionsFile) -> None:
        renderer = Anonymizer(self.settings, detectors=[])
        try:
            renderer.render(
                self.src, self.output_path, snapshot, self._progress, report=self.record_path
            )
        except _Cancelled:
            self._finish("failed", "the render was stopped; nothing was written")
        except (media.MediaError, AnalysisError, RegionsError, OSError) as err:
            self._finish("failed", " ".join(str(err).split()))
        except Exception as err:  # a bug ends as a failed render on the page, not a dead thread
            self._finish("failed", f"internal error: {type(err).__name__}: {err}")
        else:
            self._finish("done", f"wrote {self.output_path.name}")

    def _progress(self, frames: int) -> None:
        if self._cancel.is_set():
            raise _Cancelled
        with self._lock:
            self._status = replace(self._status, done=self._status.done + frames)

    def _finish(self, state: str, message: str) -> None:
        with self._lock:
            self._status = replace(self._status, state=state, message=message)


class _Cancelled(Exception):
    """Raised inside a render to stop it; the writer and atomic output clean up."""


def _manual_entry(data: dict, region_id: str) -> dict:
    for entry in data.get("manual", []):
        if entry["id"] == region_id:
            return entry
    raise ReviewError(f"there is no drawn region {region_id!r}")


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise ReviewError("the frame could not be encoded as JPEG")
    return encoded.tobytes()
