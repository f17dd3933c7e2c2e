"""Strict base64 helpers: every key, signature and ciphertext on the wire goes through these.

Python's ``base64.b64decode`` silently drops invalid characters unless ``validate=True``; a hostile peer could
smuggle data or make two encodings of one value. These helpers validate and raise :class:`EncodingError`.
vodozemac uses unpadded standard base64; we accept both padded and unpadded input and emit unpadded.
"""

from __future__ import annotations

import base64
import binascii

from blindmatch.messaging.errors import EncodingError

__all__ = ["b64d", "b64e", "frame"]


def b64e(data: bytes) -> str:
    """Unpadded standard base64 (what vodozemac emits)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64d(text: object, *, field: str = "value", length: int | None = None, max_len: int | None = None) -> bytes:
    """Decode strict (padded or unpadded) base64 ``text``; optionally require an exact or maximum byte length."""
    if not isinstance(text, str):
        raise EncodingError(f"{field} must be a base64 string, got {type(text).__name__}")
    if max_len is not None and len(text) > (max_len * 4) // 3 + 4:
        raise EncodingError(f"{field} is too long (more than {max_len} bytes)")
    padded = text + "=" * (-len(text) % 4)
    try:
        out = base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise EncodingError(f"{field} is not valid base64") from None
    if b64e(out) != text.rstrip("="):
        raise EncodingError(f"{field} is not canonical base64")
    if length is not None and len(out) != length:
        raise EncodingError(f"{field} must be {length} bytes, got {len(out)}")
    if max_len is not None and len(out) > max_len:
        raise EncodingError(f"{field} is too long ({len(out)} > {max_len} bytes)")
    return out


def frame(*parts: bytes | str) -> bytes:
    """Unambiguous concatenation: each part is prefixed with its 4-byte big-endian length.

    Used for everything that is signed or MACed, so that ("ab", "c") and ("a", "bc") never collide.
    """
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)
