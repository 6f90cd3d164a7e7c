"""Settings for one run: one dataclass, defaults chosen for safety; the CLI fills it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal, cast, get_args, get_origin, get_type_hints

__all__ = [
    "MODES",
    "RENDERED",
    "SENSITIVITIES",
    "SHAPES",
    "TARGETS",
    "Mode",
    "Sensitivity",
    "Settings",
    "Shape",
    "check_sensitivity",
]

# Each closed set of values is one type; its tuple (for choices and checks) is read from it.
# How much the detectors look: each detector keeps one preset per sensitivity (``PRESETS``
# in anonymize/detect/faces.py and plates.py), built the same way.
Sensitivity = Literal["lean", "standard", "high"]
Mode = Literal["blur", "mosaic", "solid"]  # how a region is made unreadable
Shape = Literal["rounded", "ellipse", "box"]  # the mask of a face
SENSITIVITIES: tuple[Sensitivity, ...] = get_args(Sensitivity)
MODES: tuple[Mode, ...] = get_args(Mode)
SHAPES: tuple[Shape, ...] = get_args(Shape)
TARGETS = ("faces", "plates")
# What render itself decides, whatever the regions file's own settings (from detect) say: its
# record must say how the output was drawn and written.
RENDERED = ("mode", "shape", "plate_mode", "audio", "keep_metadata", "quality")


@dataclass(frozen=True)
class Settings:
    """Everything that changes what a run produces.

    ``padding`` grows every box on each side by that fraction of its size, in photos and
    video alike (docs/tuning.md, Settings, ``padding``); ``on_error`` says what to do with a
    frame that cannot be analysed: fail the file, or obscure the whole frame.
    ``mode`` is how faces (and drawn areas) are obscured, ``plate_mode`` how plates are: a
    plate says nothing a story needs, and a fill leaves nothing of it, where a blur of a dark,
    low-contrast plate keeps its colour so closely that no one can tell it was treated.
    ``keyframes``: in a video the full detectors run at every scene cut, every other frame
    while the scene is busy (the camera moves, people move) and at least every that many
    frames while it is still, quick ones in between (see :class:`anonymize.analysis.Schedule`);
    the tracker covers each keyframe's finds up to the neighbouring keyframes; 1 runs the full
    detectors on every frame. ``backend`` is where the
    networks run: ``auto`` picks the fastest this machine has (see :mod:`anonymize.runtime`).
    """

    targets: tuple[str, ...] = TARGETS
    sensitivity: Sensitivity = "standard"
    mode: Mode = "blur"
    plate_mode: Mode = "solid"
    shape: Shape = "rounded"
    padding: float = 0.2
    audio: Literal["copy", "drop"] = "copy"
    keep_metadata: bool = False
    quality: int = 18  # x264 CRF: 18 is visually lossless
    on_error: Literal["fail", "obscure-frame"] = "fail"
    keyframes: int = 6
    backend: Literal["auto", "openvino", "onnxruntime"] = "auto"

    def __post_init__(self) -> None:
        """Refuse what the CLI's choices would refuse: through the Python API a misspelt
        value must not pass quietly, least of all one that turns detection off."""
        if isinstance(self.targets, str):  # "faces" is the tuple ("faces",), not 5 letters
            object.__setattr__(self, "targets", (self.targets,))
        wrong = [t for t in self.targets if t not in TARGETS]
        if wrong or not self.targets:
            raise ValueError(
                f"targets must be some of {', '.join(TARGETS)}, not {tuple(self.targets)!r}"
            )
        hints = get_type_hints(Settings)
        for name in (f.name for f in fields(self)):
            choices = get_args(hints[name]) if get_origin(hints[name]) is Literal else ()
            if choices and getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}"
                )
        if not 0 <= self.padding <= 2:
            raise ValueError(f"padding must be from 0 to 2, not {self.padding!r}")
        if not 0 <= self.quality <= 51:
            raise ValueError(f"quality (x264 CRF) must be from 0 to 51, not {self.quality!r}")
        if self.keyframes < 1:
            raise ValueError("keyframes must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


def check_sensitivity(value: str) -> Sensitivity:
    """``value`` as a :data:`Sensitivity`, or a ValueError naming the choices: every detector
    refuses an unknown sensitivity with the same sentence."""
    if value not in SENSITIVITIES:
        raise ValueError(f"unknown sensitivity {value!r}; choose from {', '.join(SENSITIVITIES)}")
    return cast(Sensitivity, value)
