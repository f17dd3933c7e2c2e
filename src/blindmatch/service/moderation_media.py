"""Evidence media helpers: the blurred greyscale preview and the original hashes of a file.

The preview is what a reviewer sees before choosing to reveal a file: small (at most 96 px), greyscale and
strongly blurred, enough to tell "a photo of a person" from "a screenshot of text" without exposing detail. It
is made server-side with the safe decoder, so hostile files are refused the same way as everywhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io

from PIL import Image, ImageDraw, ImageFilter

from blindmatch.hashing.files import hash_bytes
from blindmatch.media import MediaError, decode_image

__all__ = ["PREVIEW_SIDE", "blurred_preview", "file_hashes", "placeholder_preview"]

PREVIEW_SIDE = 96
BLUR_RADIUS = 6


def blurred_preview(data: bytes) -> bytes | None:
    """PNG bytes of the blurred greyscale preview, or None when ``data`` is not a decodable image."""
    try:
        decoded = decode_image(data, min_side=PREVIEW_SIDE)
    except MediaError:
        return None
    img = decoded.image.convert("L")
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    img = img.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def placeholder_preview(label: str) -> bytes:
    """A neutral grey PNG for evidence that is not an image (a message, a hash record, a video)."""
    img = Image.new("L", (PREVIEW_SIDE, PREVIEW_SIDE), 200)
    ImageDraw.Draw(img).text((6, PREVIEW_SIDE // 2 - 6), label[:12], fill=60)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def file_hashes(data: bytes) -> dict[str, str]:
    """md5, sha1, sha256 of the bytes, and PDQ when it is an image (what a CyberTipline report lists)."""
    out = {
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    with contextlib.suppress(MediaError):
        out["pdq"] = hash_bytes(data).pdq
    return out
