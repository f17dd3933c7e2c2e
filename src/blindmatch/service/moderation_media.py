"""Evidence media helpers: the blurred greyscale preview, video key frames and the original hashes of a file.

The preview is what a reviewer sees before choosing to reveal a file: small (at most 96 px), greyscale and
strongly blurred, enough to tell "a photo of a person" from "a screenshot of text" without exposing detail. It
is made server-side with the safe decoder, so hostile files are refused the same way as everywhere else.

A video is shown as a sheet of up to four key frames spread over it (blurred and greyscale in the preview; in
clear only when the reviewer reveals it): a reviewer decides from stills, and is never made to play the video.
"""

from __future__ import annotations

import contextlib
import hashlib
import io

from PIL import Image, ImageDraw, ImageFilter

from blindmatch.hashing.files import hash_bytes
from blindmatch.media import MediaError, decode_image, sniff_format
from blindmatch.media.video import DEFAULT_VIDEO_LIMITS, VideoError, open_video, sniff_video_container

__all__ = [
    "KEY_FRAMES",
    "PREVIEW_SIDE",
    "blurred_preview",
    "file_hashes",
    "is_video",
    "key_frame_sheet",
    "placeholder_preview",
    "video_mime",
]

PREVIEW_SIDE = 96
BLUR_RADIUS = 6
#: Stills shown for a video: spread evenly over its 1-frame-per-second samples, first and last included.
KEY_FRAMES = 4
#: Side of one still in the revealed (clear) sheet.
REVEAL_SIDE = 320

_VIDEO_MIME = {"mp4": "video/mp4", "matroska": "video/x-matroska", "avi": "video/x-msvideo"}


def is_video(data: bytes) -> bool:
    """A video container we decode (GIF counts as an image: the image decoder shows its first frame)."""
    return sniff_format(data[:16]) is None and sniff_video_container(data[:64]) in _VIDEO_MIME


def video_mime(data: bytes) -> str | None:
    container = sniff_video_container(data[:64])
    return _VIDEO_MIME.get(container) if container and sniff_format(data[:16]) is None else None


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _key_frames(data: bytes, side: int) -> list[Image.Image]:
    """Up to :data:`KEY_FRAMES` stills of a video, each scaled to fit ``side``; [] if it cannot be decoded."""
    try:
        with open_video(data, DEFAULT_VIDEO_LIMITS) as reader:
            frames = [f.rgb for f in reader.frames(seconds_per_frame=1.0, max_side=side)]
    except (VideoError, MediaError):
        return []
    if len(frames) > KEY_FRAMES:
        step = (len(frames) - 1) / (KEY_FRAMES - 1)
        frames = [frames[round(i * step)] for i in range(KEY_FRAMES)]
    return [Image.fromarray(f, "RGB") for f in frames]


def _sheet(stills: list[Image.Image], side: int) -> Image.Image:
    cols = 2 if len(stills) > 1 else 1
    rows = (len(stills) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * side, rows * side), (128, 128, 128))
    for i, still in enumerate(stills):
        still.thumbnail((side, side))
        x = (i % cols) * side + (side - still.width) // 2
        y = (i // cols) * side + (side - still.height) // 2
        sheet.paste(still, (x, y))
    return sheet


def key_frame_sheet(data: bytes) -> bytes | None:
    """PNG of a video's key frames in clear (what a reviewer sees on reveal), or None if not a decodable video."""
    stills = _key_frames(data, REVEAL_SIDE)
    return _png(_sheet(stills, REVEAL_SIDE)) if stills else None


def blurred_preview(data: bytes) -> bytes | None:
    """PNG bytes of the blurred greyscale preview (a sheet of key frames for a video), or None when ``data`` is
    neither a decodable image nor a decodable video."""
    if is_video(data):
        stills = _key_frames(data, PREVIEW_SIDE)
        if not stills:
            return None
        sheet = _sheet(stills, PREVIEW_SIDE).convert("L")
        return _png(sheet.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)))
    try:
        decoded = decode_image(data, min_side=PREVIEW_SIDE)
    except MediaError:
        return None
    img = decoded.image.convert("L")
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    img = img.filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    return _png(img)


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
