"""The editor's changes to a regions file, each checked and applied to the file's JSON.

Each function checks a request from the page and returns the change it makes; the session
applies it, validates the result as any regions file is validated, and saves it. Kept apart
from the session so the rules of an edit read on their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from anonymize.errors import UserError

__all__ = [
    "MANUAL_LABELS",
    "Change",
    "ReviewError",
    "add_keyframe",
    "add_manual",
    "delete_manual",
    "set_keep",
]

MANUAL_LABELS = ("area", "face", "plate")  # "area" is a rectangle; faces get the face shape

Change = Callable[[dict], None]  # applied to the regions file's JSON in place


class ReviewError(UserError, ValueError):
    """An edit or request the review refuses; the message says why in one sentence."""


def set_keep(track: int, keep: bool) -> Change:
    """Leave track ``track`` visible (``keep``) or cover it again."""
    if not isinstance(keep, bool):
        raise ReviewError("'keep' must be true or false")

    def change(data: dict) -> None:
        for entry in data["tracks"]:
            if entry["id"] == track:
                entry["keep"] = keep
                return
        raise ReviewError(f"there is no track {track}")

    return change


def add_manual(request: object) -> tuple[str, Change]:
    """A region drawn by the editor: its new id, and the change that adds it.

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
    entry = {
        "id": new_id,
        "label": label,
        "start": request.get("start"),
        "end": request.get("end"),
        "keyframes": request.get("keyframes"),
    }

    def change(data: dict) -> None:
        data.setdefault("manual", []).append(entry)

    return new_id, change


def add_keyframe(region_id: str, request: object) -> Change:
    """Add (or replace, at the same time) a keyframe of a drawn region; its time span
    grows to include the keyframe."""
    if not isinstance(request, dict) or set(request) != {"time", "box"}:
        raise ReviewError("a keyframe is an object with 'time' and 'box'")
    time = request["time"]
    if not isinstance(time, (int, float)) or isinstance(time, bool) or time < 0:
        raise ReviewError("a keyframe's time must be a number of seconds, 0 or more")

    def change(data: dict) -> None:
        entry = _manual_entry(data, region_id)
        keys = [k for k in entry["keyframes"] if abs(k["time"] - time) > 1e-6]
        entry["keyframes"] = sorted([*keys, request], key=lambda k: k["time"])
        entry["start"] = min(entry["start"], time)
        entry["end"] = max(entry["end"], time)

    return change


def delete_manual(region_id: str) -> Change:
    """Remove a drawn region."""

    def change(data: dict) -> None:
        data["manual"].remove(_manual_entry(data, region_id))

    return change


def _manual_entry(data: dict, region_id: str) -> dict:
    for entry in data.get("manual", []):
        if entry["id"] == region_id:
            return entry
    raise ReviewError(f"there is no drawn region {region_id!r}")
