"""The local review page: check what will be covered, keep or cover tracks, draw regions the
detectors missed, and render, all saved to the regions file as the editor goes.

    anonymize review clip.mp4        (or, from Python, ``serve(Path("clip.mp4"), Settings())``)
"""

from anonymize.review.server import HOST, ReviewServer, serve
from anonymize.review.session import (
    OutputExists,
    RenderStatus,
    ReviewError,
    ReviewSession,
    output_path,
    record_path,
    regions_path,
)

__all__ = [
    "HOST",
    "OutputExists",
    "RenderStatus",
    "ReviewError",
    "ReviewServer",
    "ReviewSession",
    "output_path",
    "record_path",
    "regions_path",
    "serve",
]
