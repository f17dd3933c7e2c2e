"""blindmatch.media: turn untrusted image bytes into the pixels a person sees, within resource limits."""

from blindmatch.media.decode import DecodedImage, decode_image, read_media_bytes
from blindmatch.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    MediaReadError,
    MediaTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
)
from blindmatch.media.limits import DEFAULT_LIMITS, DecodeLimits
from blindmatch.media.modes import to_display_image
from blindmatch.media.sniff import SUPPORTED_FORMATS, sniff_format

__all__ = [
    "DEFAULT_LIMITS",
    "SUPPORTED_FORMATS",
    "CorruptMediaError",
    "DecodeLimits",
    "DecodedImage",
    "EmptyMediaError",
    "MediaError",
    "MediaReadError",
    "MediaTooLargeError",
    "TooManyPixelsError",
    "UnsupportedFormatError",
    "decode_image",
    "read_media_bytes",
    "sniff_format",
    "to_display_image",
]
