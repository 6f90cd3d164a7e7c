"""Photos in and out: upright pixels in, and clean files out with no identifying metadata.

A photo's EXIF block can hold GPS coordinates, the camera's serial number and a thumbnail of
the original picture (faces included), so by default nothing but pixels is written. Colour
profiles are applied on read (pixels become sRGB) so the profile, which can name the device,
need not travel either.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from anonymize.config import Settings
from anonymize.media.atomic import atomic_output
from anonymize.media.info import MAX_IMAGE_PIXELS, MediaError, MediaInfo

__all__ = ["probe_image", "read_image", "write_image"]

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> clockwise turn a viewer applies (mirrored variants share the turn).
_CLOCKWISE = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}

_FORMATS = {
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".png": ("PNG", {}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_adobe_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_adobe_deflate"}),
    ".heic": ("HEIF", {"quality": 90}),
    ".heif": ("HEIF", {"quality": 90}),
    ".bmp": ("BMP", {}),
}
_EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "HEIF"})


def probe_image(path: Path) -> MediaInfo:
    """Read only the header: size, orientation, format. Refuses oversized images here."""
    with _open(path) as im:
        width, height = im.size
        rotation = _CLOCKWISE.get(_orientation(im), 0)
        fmt = im.format or "image"
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        path=Path(path),
        kind="image",
        width=width,
        height=height,
        rotation=rotation,
        frame_count=None,
        fps=None,
        duration=None,
        audio_streams=0,
        container=fmt,
        codec=fmt,
    )


def read_image(path: Path) -> np.ndarray:
    """The photo as upright sRGB pixels, BGR uint8 (EXIF orientation applied).

    Multi-frame files (animated WebP, multi-page TIFF) yield their first frame; only what
    was read is ever written back, so the other frames cannot leak.
    """
    with _open(path) as im:
        try:
            im.load()
            upright = ImageOps.exif_transpose(im)
            rgb = _to_srgb(upright)
        except Exception as err:  # Pillow raises many types for damaged data
            raise MediaError(f"the image cannot be decoded ({_describe(err)})") from None
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def write_image(path: Path, image: np.ndarray, source: Path, settings: Settings) -> None:
    """Save ``image`` (upright BGR) atomically in the format ``path``'s extension names.

    Nothing but pixels is written unless ``settings.keep_metadata``; even then the EXIF
    thumbnail (a copy of the unobscured photo) and the orientation are not carried over.
    """
    path = Path(path)
    fmt, params = _FORMATS.get(path.suffix.lower(), (None, {}))
    if fmt is None:
        raise MediaError(f"cannot write images as {path.suffix or '(no extension)'!r}")
    if path.exists() and Path(source).exists() and path.samefile(source):
        raise MediaError("refusing to overwrite the input")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise MediaError(f"cannot write an image of shape {image.shape} and type {image.dtype}")
    params = dict(params)
    if settings.keep_metadata and fmt in _EXIF_FORMATS:
        exif = _kept_exif(Path(source))
        if exif:
            params["exif"] = exif
    if fmt == "HEIF":
        _register_heif()
    picture = Image.fromarray(np.ascontiguousarray(image[:, :, ::-1]), mode="RGB")
    with atomic_output(path) as temp:
        try:
            picture.save(temp, format=fmt, **params)
        except (OSError, ValueError, KeyError) as err:
            # strerror, when there is one, leaves out the temporary file's name
            cause = getattr(err, "strerror", None) or _describe(err)
            raise MediaError(f"cannot write {fmt} ({cause})") from None


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Image.Image]:
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that counts; Pillow's bomb warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise MediaError(
            f"image too large (over {MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
        ) from None
    except Exception as err:  # UnidentifiedImageError, SyntaxError, struct.error, ...
        raise MediaError(f"not a readable image ({_describe(err)})") from None
    with im:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise MediaError("the image has zero width or height")
        if width * height > MAX_IMAGE_PIXELS:
            raise MediaError(
                f"image too large ({width}x{height}, over "
                f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
            )
        yield im


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block must not stop the photo being anonymised
        return 1


def _to_srgb(im: Image.Image) -> Image.Image:
    """Apply the embedded colour profile (if any) and flatten transparency onto white."""
    if im.mode in ("I;16", "I;16L", "I;16B"):
        im = Image.fromarray((np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8), "L")
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        with contextlib.suppress(Exception):  # a broken profile: fall back to plain pixels
            im = ImageCms.profileToProfile(
                im,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if im.mode == "RGBA" else "RGB",
            )
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _kept_exif(source: Path) -> bytes:
    """The source's EXIF (camera, time, GPS) without its thumbnail, marked upright."""
    try:
        with Image.open(source) as im:
            exif = im.getexif()
            if not exif:
                return b""
            exif[_ORIENTATION_TAG] = 1
            # Pillow writes IFD0 and its sub-IFDs only; IFD1 (the thumbnail) is not carried.
            return exif.tobytes()
    except Exception:
        return b""


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text.rstrip(".")


@functools.cache
def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
