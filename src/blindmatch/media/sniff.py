"""Identify an image format from its first bytes.

File names and extensions are chosen by whoever sends the file, so they are ignored: a PNG named ``.jpg`` is a
PNG, and an executable named ``.png`` is rejected before any decoder sees it.
"""

from __future__ import annotations

__all__ = ["SUPPORTED_FORMATS", "describe_unknown", "sniff_format"]

#: Pillow format names we decode.
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"})


def sniff_format(head: bytes) -> str | None:
    """The Pillow format name of the image whose first bytes are ``head`` (≥ 12 bytes), or None if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    return None


def describe_unknown(head: bytes) -> str:
    """A short human description of unrecognised content, for error messages."""
    known = {
        b"%PDF": "a PDF document",
        b"PK\x03\x04": "a ZIP archive",
        b"\x7fELF": "an ELF executable",
        b"MZ": "a Windows executable",
        b"<": "text/markup",
        b"\x00\x00\x00": "an ISO media file (video/HEIC?)",
    }
    for magic, name in known.items():
        if head.startswith(magic):
            return name
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return f"an ISO media file ({head[8:12].decode('latin-1')!r}: video or HEIC)"
    return f"unknown content starting {head[:8].hex()}"
