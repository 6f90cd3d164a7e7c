"""Settings for one run: one dataclass, defaults chosen for safety; the CLI fills it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["LARGE_BOX_PX", "Settings", "MODES", "SHAPES", "SENSITIVITIES", "TARGETS"]

MODES = ("blur", "mosaic", "solid")
SHAPES = ("rounded", "ellipse", "box")
SENSITIVITIES = ("lean", "standard", "high")
TARGETS = ("faces", "plates")
LARGE_BOX_PX = 100  # boxes this tall or taller get half the padding


@dataclass(frozen=True)
class Settings:
    """Everything that changes what a run produces.

    ``padding`` grows every box on each side by that fraction of its size (half of it for
    boxes ``LARGE_BOX_PX`` or taller in photos, see :meth:`padding_for`); ``on_error`` says
    what to do with a frame that cannot be analysed: fail the file, or obscure the whole frame.
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
    sensitivity: Literal["lean", "standard", "high"] = "standard"
    mode: Literal["blur", "mosaic", "solid"] = "blur"
    plate_mode: Literal["blur", "mosaic", "solid"] = "solid"
    shape: Literal["rounded", "ellipse", "box"] = "rounded"
    padding: float = 0.2
    audio: Literal["copy", "drop"] = "copy"
    keep_metadata: bool = False
    quality: int = 18  # x264 CRF: 18 is visually lossless
    on_error: Literal["fail", "obscure-frame"] = "fail"
    keyframes: int = 6
    backend: Literal["auto", "openvino", "onnxruntime"] = "auto"

    def __post_init__(self) -> None:
        if self.keyframes < 1:
            raise ValueError("keyframes must be at least 1")

    def padding_for(self, height: float, still: bool) -> float:
        """The padding of a box this tall, in a photo (``still``) or a video.

        In a photo a face found at ``LARGE_BOX_PX`` or more is placed to within a few per cent
        of its size, and a fixed share of a large box is a wide band of the picture, so large
        boxes take half. In video the box wobbles from frame to frame and the face moves
        between keyframes, so video keeps it all. The measurements behind both are in
        docs/tuning.md (Settings, ``padding``).
        """
        return self.padding / 2 if still and height >= LARGE_BOX_PX else self.padding

    def to_dict(self) -> dict:
        return asdict(self)
