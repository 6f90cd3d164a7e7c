"""The regions file: what was (or will be) obscured in each frame, and the run's report.

One file serves three uses: the JSON sidecar written beside every output (tool, models,
settings, hashes, tracks, regions per frame), the output of ``anonymize detect`` and the input
of ``anonymize render``. Boxes are final: padding and motion margins are already applied, so
render draws exactly what the file says. It never contains pixels.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import jsonschema

from anonymize import __version__
from anonymize.errors import UserError
from anonymize.media.atomic import atomic_output
from anonymize.types import Box, Label, Region

__all__ = [
    "FORMAT",
    "VERSION",
    "FileInfo",
    "Keyframe",
    "ManualRegion",
    "RegionsError",
    "RegionsFile",
    "TrackInfo",
    "load",
    "save",
    "sha256_file",
    "summarise_tracks",
]

FORMAT = "anonymize-regions"
VERSION = 1


class RegionsError(UserError, ValueError):
    """A regions file that cannot be used; the message says why in one sentence."""


@dataclass(frozen=True)
class FileInfo:
    """Which file the regions belong to (by name and content hash) and its geometry."""

    name: str
    sha256: str
    kind: str  # "video" or "image"
    width: int
    height: int
    frame_count: int
    fps: float | None = None


@dataclass(frozen=True)
class TrackInfo:
    """A track's summary: where it starts and ends, and how much of it a detector saw."""

    id: int
    label: Label
    first_frame: int
    last_frame: int
    detected_frames: int = 0
    carried_frames: int = 0
    keep: bool = False


@dataclass(frozen=True)
class Keyframe:
    time: float  # seconds from the start of the input
    box: Box


@dataclass(frozen=True)
class ManualRegion:
    """A region a person added: a moving box through its keyframes, or a fixed area (one
    keyframe) covered from ``start`` to ``end`` seconds (a caption, a badge, a screen)."""

    id: str
    label: Label
    start: float
    end: float
    keyframes: tuple[Keyframe, ...]

    def box_at(self, time: float) -> Box | None:
        """The box at ``time``: linear between keyframes, held before the first and after the
        last; None outside ``start``..``end``."""
        if not self.start - _EPSILON <= time <= self.end + _EPSILON:
            return None
        keys = self.keyframes
        if time <= keys[0].time:
            return keys[0].box
        for before, after in zip(keys, keys[1:], strict=False):
            if time <= after.time:
                t = (time - before.time) / (after.time - before.time)
                a, b = before.box, after.box
                return Box(
                    a.x1 + (b.x1 - a.x1) * t,
                    a.y1 + (b.y1 - a.y1) * t,
                    a.x2 + (b.x2 - a.x2) * t,
                    a.y2 + (b.y2 - a.y2) * t,
                )
        return keys[-1].box


_EPSILON = 1e-6  # frame times are rounded to microseconds in the file


@dataclass
class RegionsFile:
    """Regions per frame index (frames with none are absent) plus the run's provenance."""

    input: FileInfo
    frames: dict[int, list[Region]]
    tracks: list[TrackInfo]
    settings: dict = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    runtime: dict[str, str] = field(default_factory=dict)  # network -> backend and precision
    times: dict[int, float] = field(default_factory=dict)
    manual: list[ManualRegion] = field(default_factory=list)
    output: FileInfo | None = None
    tool_version: str = __version__

    def regions_to_render(self, index: int, time: float) -> list[Region]:
        """The regions to obscure in frame ``index`` shown at ``time`` seconds: tracked and
        manual ones, except tracks marked ``keep`` (left visible)."""
        kept = {t.id for t in self.tracks if t.keep}
        regions = [r for r in self.frames.get(index, []) if r.track is None or r.track not in kept]
        for manual in self.manual:
            box = manual.box_at(time)
            if box is not None:
                regions.append(Region(box, manual.label, 1.0, track=None, detected=False))
        return regions


def summarise_tracks(frames: Mapping[int, Sequence[Region]]) -> list[TrackInfo]:
    """Derive track summaries from per-frame regions, so the two can never disagree."""
    seen: dict[int, list[tuple[int, Region]]] = defaultdict(list)
    for index, regions in frames.items():
        for region in regions:
            if region.track is not None:
                seen[region.track].append((index, region))
    tracks = []
    for track_id, items in sorted(seen.items()):
        indices = [i for i, _ in items]
        detected = sum(1 for _, r in items if r.detected)
        tracks.append(
            TrackInfo(
                id=track_id,
                label=items[0][1].label,
                first_frame=min(indices),
                last_frame=max(indices),
                detected_frames=detected,
                carried_frames=len(items) - detected,
            )
        )
    return tracks


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save(regions: RegionsFile, path: Path) -> None:
    """Write atomically, as outputs are (``media.atomic``): a crash never leaves a
    half-written regions file or audit record, and a killed run's leftover is one the next
    run knows to remove."""
    text = json.dumps(_to_json(regions), indent=1)
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def load(path: Path) -> RegionsFile:
    """Read and validate a regions file; raise RegionsError with a clear cause if it is bad."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise RegionsError(f"cannot read regions file: {err}") from err
    except json.JSONDecodeError as err:
        raise RegionsError(f"not valid JSON (line {err.lineno}): {err.msg}") from err
    except RecursionError:
        raise RegionsError("not a regions file: its JSON is nested too deeply") from None
    except ValueError as err:  # e.g. an integer too long to convert
        raise RegionsError(f"not valid JSON: {_short(err)}") from None
    return from_json(data)


def from_json(data: object) -> RegionsFile:
    """Validate parsed JSON against the schema and the frame geometry, then build the file."""
    if isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") != VERSION:
        raise RegionsError(
            f"regions file version {data.get('version')!r} is not supported (expected {VERSION})"
        )
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "top level"
        raise RegionsError(f"invalid regions file at {where}: {_short(err.message)}") from err
    except RecursionError:
        raise RegionsError("not a regions file: its JSON is nested too deeply") from None
    data = cast(dict, data)
    _check_finite(data)
    info = _file_info(data["input"])
    frames: dict[int, list[Region]] = {}
    times: dict[int, float] = {}
    for entry in data["frames"]:
        index = entry["index"]
        if index >= info.frame_count:
            raise RegionsError(f"frame {index} is beyond the input's {info.frame_count} frames")
        if index in frames:  # which list would count? Refuse rather than drop one silently
            raise RegionsError(f"frame {index} is listed twice")
        frames[index] = [_region(r, info, index) for r in entry["regions"]]
        if "time" in entry:
            times[index] = entry["time"]
    tracks = [TrackInfo(**t) for t in data["tracks"]]
    if len({t.id for t in tracks}) < len(tracks):
        raise RegionsError("a track is listed twice (track ids must be unique)")
    manual = [_manual(m, info) for m in data.get("manual", [])]
    known = {t.id for t in tracks}
    for index, regions in frames.items():
        for region in regions:
            if region.track is not None and region.track not in known:
                raise RegionsError(f"frame {index} names unknown track {region.track}")
    return RegionsFile(
        input=info,
        frames=frames,
        tracks=tracks,
        settings=data.get("settings", {}),
        models=data.get("models", []),
        runtime=data.get("runtime", {}),
        times=times,
        manual=manual,
        output=_file_info(data["output"]) if data.get("output") else None,
        tool_version=data["tool"]["version"],
    )


def _check_finite(data: object) -> None:
    """Refuse NaN and infinities (Python's JSON reads them): a NaN time or box compares
    false with everything, so a region carrying one would silently never be drawn."""
    todo = [data]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise RegionsError(f"the regions file contains {value!r}, not a finite number")


def _short(err: object, limit: int = 200) -> str:
    """One line, and not a megabyte of the offending value."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _box(values: list, info: FileInfo, where: str) -> Box:
    """The box ``values`` if it lies inside the frame (``where`` names it in the error)."""
    x1, y1, x2, y2 = values
    if not (0 <= x1 < x2 <= info.width and 0 <= y1 < y2 <= info.height):
        raise RegionsError(f"{where}: box {values} is outside the {info.width}x{info.height} frame")
    return Box(x1, y1, x2, y2)


def _region(entry: dict, info: FileInfo, index: int) -> Region:
    return Region(
        box=_box(entry["box"], info, f"frame {index}"),
        label=entry["label"],
        score=entry.get("score", 1.0),
        track=entry.get("track"),
        detected=entry.get("detected", True),
    )


def _manual(entry: dict, info: FileInfo) -> ManualRegion:
    if entry["end"] < entry["start"]:
        raise RegionsError(f"manual region {entry['id']!r} ends before it starts")
    keyframes = []
    for key in sorted(entry["keyframes"], key=lambda k: k["time"]):
        box = _box(key["box"], info, f"manual region {entry['id']!r}")
        keyframes.append(Keyframe(key["time"], box))
    return ManualRegion(entry["id"], entry["label"], entry["start"], entry["end"], tuple(keyframes))


def _manual_json(manual: ManualRegion) -> dict:
    return {
        "id": manual.id,
        "label": manual.label,
        "start": manual.start,
        "end": manual.end,
        "keyframes": [{"time": k.time, "box": k.box.as_list()} for k in manual.keyframes],
    }


def _file_info(entry: dict) -> FileInfo:
    return FileInfo(**entry)


def _file_json(info: FileInfo) -> dict:
    return asdict(info)  # its fields, in order, are the file's keys (see _FILE)


def _region_json(region: Region) -> dict:
    entry: dict = {
        "label": region.label,
        "box": region.box.as_list(),
        "score": round(region.score, 3),
    }
    if region.track is not None:
        entry["track"] = region.track
    entry["detected"] = region.detected
    return entry


def _frames_json(regions: RegionsFile) -> Iterable[dict]:
    for index in sorted(regions.frames):
        if not regions.frames[index]:
            continue
        entry: dict = {"index": index}
        if index in regions.times:
            entry["time"] = round(regions.times[index], 6)
        entry["regions"] = [_region_json(r) for r in regions.frames[index]]
        yield entry


def _to_json(regions: RegionsFile) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "tool": {"name": "anonymize", "version": regions.tool_version},
        "models": regions.models,
        "runtime": regions.runtime,
        "settings": regions.settings,
        "input": _file_json(regions.input),
        "output": _file_json(regions.output) if regions.output else None,
        "tracks": [t.__dict__ for t in regions.tracks],
        "manual": [_manual_json(m) for m in regions.manual],
        "frames": list(_frames_json(regions)),
    }


def _record(required: list[str], properties: dict) -> dict:
    """An object with exactly ``properties``, ``required`` among them: a file that names
    anything else was not written by this tool, and is refused rather than half read."""
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


def _list_of(item: dict, **limits: int) -> dict:
    return {"type": "array", "items": item, **limits}


_BOX = _list_of({"type": "number"}, minItems=4, maxItems=4)
_NUMBER = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
# Sizes and counts a real file can have; larger integers would overflow when drawn.
_SIZE = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
_FILE = _record(
    ["name", "sha256", "kind", "width", "height", "frame_count"],
    {
        "name": {"type": "string"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "kind": {"enum": ["video", "image"]},
        "width": _SIZE,
        "height": _SIZE,
        "frame_count": _SIZE,
        "fps": {"type": ["number", "null"]},
    },
)
_TRACK = _record(
    ["id", "label", "first_frame", "last_frame"],
    {
        "id": _COUNT,
        "label": {"type": "string"},
        "first_frame": _COUNT,
        "last_frame": _COUNT,
        "detected_frames": _COUNT,
        "carried_frames": _COUNT,
        "keep": {"type": "boolean"},
    },
)
_MANUAL = _record(
    ["id", "label", "start", "end", "keyframes"],
    {
        "id": {"type": "string", "minLength": 1},
        "label": {"type": "string"},
        "start": {"type": "number", "minimum": 0},
        "end": {"type": "number", "minimum": 0},
        "keyframes": _list_of(_record(["time", "box"], {"time": _NUMBER, "box": _BOX}), minItems=1),
    },
)
_REGION = _record(
    ["label", "box"],
    {
        "label": {"type": "string"},
        "box": _BOX,
        "score": _NUMBER,
        "track": {"type": ["integer", "null"]},
        "detected": {"type": "boolean"},
    },
)
_FRAME = _record(
    ["index", "regions"],
    {"index": _COUNT, "time": _NUMBER, "regions": _list_of(_REGION)},
)
SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "anonymize regions file",
    "type": "object",
    "required": ["format", "version", "tool", "input", "tracks", "frames"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "tool": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
        "models": _list_of({"type": "string"}),
        "runtime": {"type": "object", "additionalProperties": {"type": "string"}},
        "settings": {"type": "object"},
        "input": _FILE,
        "output": {"oneOf": [{"type": "null"}, _FILE]},
        "tracks": _list_of(_TRACK),
        "manual": _list_of(_MANUAL),
        "frames": _list_of(_FRAME),
    },
}
