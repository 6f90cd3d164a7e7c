"""Where the photos' over-redaction comes from: the masks of faces that are there, or false alarms.

    python benchmarks/over_redaction.py ../shared/data/faces_wider_val

``anonymize eval`` counts as over-redaction every changed pixel away from the annotated boxes
(each grown by 25% a side). This runs the same pipeline (``Anonymizer.detect`` then
``render``, default settings, faces only unless ``--targets`` says otherwise) and splits
those pixels by the region whose padded mask holds them: a region overlapping an annotated
face (its mask reaching past the eval's margin: padding, a box drawn larger than the
annotation) or a region touching no annotated face (a false alarm, or a face nobody
annotated).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from anonymize import eval as ev
from anonymize.api import Anonymizer
from anonymize.config import Settings
from anonymize.types import Box


def split(folder: Path, settings: Settings) -> dict[str, int]:
    """Pixels away from the annotated faces: all, changed, and changed inside the masks of
    regions that overlap an annotated face."""
    anonymizer = Anonymizer(settings)
    totals = {"away": 0, "changed": 0, "by_true_faces": 0}
    with tempfile.TemporaryDirectory(prefix="anonymize-over-") as tmp:
        for entry in ev.load_ground_truth(folder):
            src, dst = folder / entry["image"], Path(tmp) / "out.png"
            regions = anonymizer.detect(src)
            anonymizer.render(src, dst, regions)
            before, after = ev._read(src), ev._read(dst)
            h, w = before.shape[:2]
            faces = entry.get("boxes", [])
            _, away, changed = ev.score_image(before, after, faces, entry.get("ignore", []))
            diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2)
            away_mask = np.ones((h, w), bool)  # as score_image counts it
            for box, margin in [(f, ev.MARGIN) for f in faces] + [
                (i, 0.0) for i in entry.get("ignore", [])
            ]:
                x1, y1, x2, y2 = ev._bounds(box, margin, w, h)
                away_mask[y1:y2, x1:x2] = False
            truths = [Box(x, y, x + bw, y + bh) for x, y, bw, bh in (f[:4] for f in faces)]
            masks = np.zeros((h, w), bool)
            for region in regions.frames.get(0, []):
                if any(region.box.iou(t) > 0.1 for t in truths):
                    b = region.box.padded(settings.padding).clipped(w, h)
                    y1, y2 = int(b.y1), int(np.ceil(b.y2)) + 1
                    masks[y1:y2, int(b.x1) : int(np.ceil(b.x2)) + 1] = True
            totals["away"] += away
            totals["changed"] += changed
            totals["by_true_faces"] += int(((diff > ev.CHANGE_LEVELS) & away_mask & masks).sum())
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--targets", default="faces", help="comma-separated, as the CLI's")
    args = parser.parse_args()
    settings = Settings(targets=tuple(args.targets.split(",")))
    t = split(args.folder, settings)
    share = {k: 100 * v / t["away"] for k, v in t.items() if k != "away"}
    print(
        f"rest of the picture changed: {share['changed']:.2f}%, of which inside the masks of "
        f"regions on annotated faces {share['by_true_faces']:.2f} points, elsewhere "
        f"{share['changed'] - share['by_true_faces']:.2f} points"
    )


if __name__ == "__main__":
    main()
