"""Media in and out: probe files, read upright frames with timestamps, write clean outputs.

Everything that touches containers, codecs and metadata lives here, so the rest of the
pipeline sees only ``MediaInfo``, ``Frame``s and BGR arrays.
"""

from anonymize.media.atomic import atomic_output
from anonymize.media.image import read_image, write_image
from anonymize.media.info import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    WRITABLE_VIDEO_EXTENSIONS,
    MediaError,
    MediaInfo,
    output_suffix,
)
from anonymize.media.probe import probe
from anonymize.media.video import VideoReader, VideoWriter

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "WRITABLE_VIDEO_EXTENSIONS",
    "MediaError",
    "MediaInfo",
    "VideoReader",
    "VideoWriter",
    "atomic_output",
    "output_suffix",
    "probe",
    "read_image",
    "write_image",
]
