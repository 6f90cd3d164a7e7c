"""One review of one input: its regions file, the edits made to it, and the final render.

Everything here is plain Python with no HTTP in it, so the page's actions can be tested and
scripted directly. Every edit (``edits``) is applied to the file's JSON, validated by the
same code that validates a regions file from anywhere (``regions.from_json``), and saved
atomically before the call returns: closing the page never loses an edit, and a bad edit
never reaches disk. The render runs in the background (``render``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from anonymize import audit, media, regions
from anonymize.api import Anonymizer, Progress
from anonymize.batch.plan import beside
from anonymize.config import Settings
from anonymize.obscure import obscure
from anonymize.regions import RegionsError, RegionsFile
from anonymize.review import edits
from anonymize.review.edits import MANUAL_LABELS, Change, ReviewError
from anonymize.review.frames import FrameSource
from anonymize.review.render import BackgroundRender, RenderStatus
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

_JPEG_QUALITY = 85
_THUMB_PX = 160
_THUMB_MARGIN = 0.25  # context around a face, so an editor can tell who it is


class OutputExists(ReviewError):
    """The render would replace an earlier output; the page asks before it does."""


def regions_path(src: Path) -> Path:
    """The regions file ``anonymize detect`` writes for ``src``: SRC.regions.json beside it."""
    return src.with_name(src.name + ".regions.json")


def output_path(src: Path) -> Path:
    """Where the review renders ``src``: SRC_anonymized.EXT beside it, as the CLI does."""
    return beside(src)


def record_path(src: Path) -> Path:
    """Where the review's render puts its audit record: in the audit folder beside ``src``,
    as the CLI does, never beside the output that will be published (nor over the record
    of another safe copy of the same name: ``claim_record``)."""
    return audit.default_record(src, output_path(src))


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
        self._render = BackgroundRender(self.src, self.output_path, self.record_path, settings)
        info = media.probe(self.src)
        self.regions = _load_or_detect(self.src, anonymizer or Anonymizer(settings), progress)
        self.frames = FrameSource(self.src, info)
        if len(self.frames) != self.regions.input.frame_count:
            raise ReviewError(
                f"the file has {len(self.frames)} frames but its regions file covers "
                f"{self.regions.input.frame_count}"
            )

    def close(self) -> None:
        """Stop a running render (its partial output is removed) and release the file."""
        self._render.stop()
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
            "pixel_aspect": float(self.frames.info.pixel_aspect),  # HDV, DV: shown wider
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
        crop = _thumbnail(self._image(index), box, float(self.frames.info.pixel_aspect))
        if not reveal:
            whole = Region(Box(0, 0, crop.shape[1], crop.shape[0]), "area")
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

    # -- edits (the rules of each are in ``edits``) --------------------------------------

    def set_keep(self, track: int, keep: bool) -> None:
        """Leave track ``track`` visible (``keep``) or cover it again."""
        self._edit(edits.set_keep(track, keep))

    def add_manual(self, request: object) -> str:
        """Add a region drawn by the editor (see ``edits.add_manual``); returns its new id."""
        new_id, change = edits.add_manual(request)
        self._edit(change)
        return new_id

    def add_keyframe(self, region_id: str, request: object) -> None:
        """Add (or replace, at the same time) a keyframe of a drawn region."""
        self._edit(edits.add_keyframe(region_id, request))

    def delete_manual(self, region_id: str) -> None:
        self._edit(edits.delete_manual(region_id))

    def _edit(self, change: Change) -> None:
        with self._lock:
            if self._render.running:
                raise ReviewError("wait for the render to finish before editing")
            data = json.loads(self.regions_path.read_text(encoding="utf-8"))
            change(data)
            try:
                updated = regions.from_json(data)
            except RegionsError as err:
                raise ReviewError(f"edit refused: {err}") from err
            regions.save(updated, self.regions_path)
            self.regions = updated
            self._render.outdated()

    # -- render -------------------------------------------------------------------------

    def status(self) -> RenderStatus:
        return self._render.status()

    def start_render(self, overwrite: bool = False) -> None:
        """Render in the background to ``output_path`` (and its audit record to
        ``record_path``); see ``status``."""
        with self._lock:
            if self._render.running:
                raise ReviewError("a render is already running")
            if self.output_path.exists() and not overwrite:
                raise OutputExists(f"{self.output_path.name} exists; confirm to replace it")
            self._render.start(regions.load(self.regions_path))

    def wait_render(self, timeout: float | None = None) -> RenderStatus:
        return self._render.wait(timeout)


def _load_or_detect(src: Path, anonymizer: Anonymizer, progress: Progress | None) -> RegionsFile:
    """``src``'s regions file, refused when it is bad or made for another file; made by
    detecting (and saved) when there is none."""
    path = regions_path(src)
    if not path.exists():
        detected = anonymizer.detect(src, progress)
        regions.save(detected, path)
        return detected
    try:
        loaded = regions.load(path)
    except RegionsError as err:
        raise ReviewError(f"{path.name}: {err} (fix or delete it)") from err
    if loaded.input.sha256 != regions.sha256_file(src):
        raise ReviewError(
            f"{path.name} was made for another file ({loaded.input.name}); "
            "delete it to detect again"
        )
    return loaded


def _thumbnail(image: np.ndarray, box: Box, pixel_aspect: float = 1.0) -> np.ndarray:
    """``box`` with some context around it, scaled to thumbnail size in the shape a player
    shows it (``pixel_aspect``: how much wider than tall a pixel is shown)."""
    height, width = image.shape[:2]
    margin_x, margin_y = box.width * _THUMB_MARGIN, box.height * _THUMB_MARGIN
    x1, y1, x2, y2 = (
        round(v)
        for v in Box(box.x1 - margin_x, box.y1 - margin_y, box.x2 + margin_x, box.y2 + margin_y)
        .clipped(width, height)
        .as_list()
    )
    crop = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    shown_width = crop.shape[1] * pixel_aspect
    scale = _THUMB_PX / max(shown_width, crop.shape[0])
    size = (max(1, round(shown_width * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise ReviewError("the frame could not be encoded as JPEG")
    return encoded.tobytes()
