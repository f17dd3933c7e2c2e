"""Safe decoding of untrusted image bytes into the pixels a person sees.

Order of checks, cheapest first, so hostile input is refused before it costs anything: size in bytes (from the
file system before reading), empty input, format sniffed from the content, pixel count from the header, then
the actual decode with every decoder failure mapped to :class:`CorruptMediaError`. Truncated files are errors
(Pillow's default), never silently padded with grey.

EXIF orientation is applied by default (``ImageOps.exif_transpose`` semantics), because the image a person
sees is the rotated one and that is what hotlines hash in HMA's Pillow path. The reference
``pdq-photo-hasher`` applies none; pass ``apply_exif=False`` to reproduce its hashes for files carrying an
orientation tag.

For speed, JPEG files much larger than needed can be decoded at 1/2, 1/4 or 1/8 scale inside libjpeg
(``draft``), which skips most of the inverse DCT work; ``min_side`` says how small the short side may become.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from blindmatch.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaReadError,
    MediaTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from blindmatch.media.limits import DEFAULT_LIMITS, DecodeLimits
from blindmatch.media.modes import to_display_image
from blindmatch.media.sniff import SUPPORTED_FORMATS, describe_unknown, sniff_format

__all__ = ["DecodedImage", "MediaSource", "decode_image", "read_media_bytes"]

#: A path to a file, or the file's bytes.
MediaSource = bytes | bytearray | memoryview | str | os.PathLike[str]

#: EXIF orientation value -> the transpose that shows the image upright (as ImageOps.exif_transpose does).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112
_DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError)


@dataclass(frozen=True)
class DecodedImage:
    """Decoded pixels ('RGB', or 'L' for greyscale) and what we learned on the way."""

    image: Image.Image
    format: str  # Pillow format name sniffed from the content, e.g. "JPEG"
    source_mode: str  # pixel mode as stored, before conversion to what a person sees
    source_size: tuple[int, int]  # (width, height) as stored, before orientation and reduced decoding
    orientation: int  # EXIF orientation that was applied (1 = none)
    reduced: bool  # True if decoded at reduced size (JPEG draft)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def read_media_bytes(source: MediaSource, limits: DecodeLimits) -> bytes:
    """The bytes of ``source`` (a path or in-memory bytes), refusing more than ``limits.max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise MediaTooLargeError(f"media is {len(data)} bytes; the limit is {limits.max_bytes}")
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise MediaReadError(f"not a regular file: {path}")
            if size > limits.max_bytes:
                raise MediaTooLargeError(f"{path} is {size} bytes; the limit is {limits.max_bytes}")
            with path.open("rb") as fh:
                data = fh.read(limits.max_bytes + 1)
        except OSError as exc:
            raise MediaReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if len(data) > limits.max_bytes:  # grew while we were reading
            raise MediaTooLargeError(f"{path} is over {limits.max_bytes} bytes")
    if not data:
        raise EmptyMediaError("media is empty (0 bytes)")
    return data


def _orientation(img: Image.Image) -> int:
    """EXIF orientation 1..8, or 1 when absent or unreadable (corrupt EXIF must not make the image
    unusable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; we just treat it as absent
            value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and value in _ORIENTATION_TRANSPOSE else 1


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The size to request from ``draft`` so the short side stays at least ``min_side``."""
    width, height = size
    short = min(width, height)
    factor = min_side / short
    return (max(1, int(width * factor + 0.999)), max(1, int(height * factor + 0.999)))


def decode_image(
    source: MediaSource,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    apply_exif: bool = True,
    min_side: int | None = None,
) -> DecodedImage:
    """Decode an image from a path or bytes into 'RGB' (or 'L') pixels.

    Supports JPEG, PNG, WebP, GIF (first frame), BMP and TIFF, whatever the file is called. ``min_side``
    enables reduced-size JPEG decoding: the image is decoded at the smallest 1/2, 1/4 or 1/8 scale whose short
    side is still at least ``min_side`` pixels (other formats are decoded in full).
    """
    data = read_media_bytes(source, limits)
    fmt = sniff_format(data[:16])
    if fmt is None or fmt not in SUPPORTED_FORMATS:
        raise UnsupportedFormatError(f"not a supported image format ({describe_unknown(data[:16])})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own pixel limit below
        # Pillow warns about damaged metadata (corrupt EXIF, truncated TIFF tags); damaged pixels still raise.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as exc:
            raise TooManyPixelsError(f"{fmt} header announces too many pixels: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise CorruptMediaError(f"content starts like {fmt} but its header is unreadable") from exc
        except _DECODER_ERRORS as exc:
            raise CorruptMediaError(f"malformed {fmt} header: {exc}") from exc
        return _decode_opened(img, fmt, limits=limits, apply_exif=apply_exif, min_side=min_side)


def _decode_opened(
    img: Image.Image, fmt: str, *, limits: DecodeLimits, apply_exif: bool, min_side: int | None
) -> DecodedImage:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise EmptyMediaError(f"{fmt} image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise TooManyPixelsError(
            f"{fmt} image is {width}x{height} = {width * height} pixels; the limit is {limits.max_pixels}"
        )
    source_mode = img.mode
    orientation = _orientation(img) if apply_exif else 1
    reduced = False
    try:
        if min_side is not None and fmt == "JPEG" and min(width, height) >= 2 * min_side:
            img.draft(None, _draft_size((width, height), min_side))
            reduced = img.size != (width, height)
        img.load()
        if orientation != 1:
            img = img.transpose(_ORIENTATION_TRANSPOSE[orientation])
        shown = to_display_image(img)
    except UnsupportedFormatError:
        raise
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(f"{fmt} image has too many pixels: {exc}") from exc
    except MemoryError as exc:
        raise TooManyPixelsError(f"{fmt} image {width}x{height} does not fit in memory") from exc
    except _DECODER_ERRORS as exc:
        raise CorruptMediaError(f"cannot decode {fmt} image ({width}x{height}): {exc}") from exc
    return DecodedImage(shown, fmt, source_mode, (width, height), orientation, reduced)
