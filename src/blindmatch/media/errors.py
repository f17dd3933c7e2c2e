"""Errors raised while reading and decoding untrusted media.

Every way a file can be unusable has its own class so callers (the CLI, the HTTP API, batch imports) can
report a precise reason and map it to a status code, instead of catching a bare ``Exception`` from deep inside
Pillow.
"""

from __future__ import annotations

__all__ = [
    "CorruptMediaError",
    "EmptyMediaError",
    "MediaError",
    "MediaReadError",
    "MediaTooLargeError",
    "TooManyPixelsError",
    "UnsupportedFormatError",
]


class MediaError(ValueError):
    """Base class: the media cannot be turned into pixels we are willing to hash."""


class MediaReadError(MediaError):
    """The file could not be read (missing, a directory, permission denied, I/O error)."""


class EmptyMediaError(MediaError):
    """Zero bytes of input, or an image with no pixels."""


class MediaTooLargeError(MediaError):
    """More bytes than :attr:`DecodeLimits.max_bytes`; refused before reading them all."""


class TooManyPixelsError(MediaError):
    """The header announces more pixels than :attr:`DecodeLimits.max_pixels` (a decompression bomb, or simply
    too big); refused before decoding."""


class UnsupportedFormatError(MediaError):
    """The content is not one of the image formats we decode (judged from its bytes, not its file name), or it
    uses a pixel mode we do not handle."""


class CorruptMediaError(MediaError):
    """The content looks like a supported format but cannot be decoded: truncated, malformed, or
    inconsistent."""
