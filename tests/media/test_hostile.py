"""Hostile and broken input: each limit and each error class, never a crash or a hang."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from blindmatch.hashing import hash_bytes
from blindmatch.media import (
    CorruptMediaError,
    DecodeLimits,
    EmptyMediaError,
    MediaError,
    MediaTooLargeError,
    TooManyPixelsError,
    UnsupportedFormatError,
    decode_image,
)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR announcing ``width`` x ``height`` RGB, with a tiny (useless) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_png_bomb_header_is_refused_before_decoding() -> None:
    """100 000 x 100 000 announced in a ~60-byte file: refused from the header (30 GB would be needed)."""
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 100
    with pytest.raises(TooManyPixelsError, match="too many pixels"):
        decode_image(bomb)


def test_pixel_limit_checked_on_header() -> None:
    """Our own limit, below Pillow's: the file holds no pixel data at all, so had we tried to decode it we would
    have got CorruptMediaError instead; TooManyPixelsError proves the header check comes first."""
    header_only = _png_header_only(2000, 2000)
    with pytest.raises(TooManyPixelsError, match="4000000 pixels; the limit is 1000000"):
        decode_image(header_only, limits=DecodeLimits(max_pixels=1_000_000))
    with pytest.raises(CorruptMediaError):
        decode_image(header_only)


def test_byte_limit_for_bytes_and_files(tmp_path: Path) -> None:
    data = _png(Image.new("RGB", (64, 64), (1, 2, 3)))
    limits = DecodeLimits(max_bytes=len(data) - 1)
    with pytest.raises(MediaTooLargeError, match="limit"):
        decode_image(data, limits=limits)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(MediaTooLargeError):
        decode_image(path, limits=limits)
    assert decode_image(data, limits=DecodeLimits(max_bytes=len(data))).size == (64, 64)


def test_empty_input(tmp_path: Path) -> None:
    with pytest.raises(EmptyMediaError):
        decode_image(b"")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    with pytest.raises(EmptyMediaError):
        decode_image(empty)


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"hello, this is plain text", "unknown content"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 rest", "PDF"),
        (b"PK\x03\x04" + b"\0" * 30, "ZIP"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 20, "ELF"),
        (b"\0\0\0\x18ftypheic" + b"\0" * 20, "HEIC"),
        (bytes(range(256)), "unknown content"),
    ],
)
def test_garbage_and_other_formats(data: bytes, hint: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=hint):
        decode_image(data)


def test_truncated_files(shared_data: Path) -> None:
    jpeg = (shared_data / "pdq" / "misc-images" / "modes" / "RGB.jpg").read_bytes()
    png = (shared_data / "pdq" / "misc-images" / "modes" / "L.png").read_bytes()
    for data in (jpeg, png):
        # len - 64 cuts into the last compressed block. (A PNG missing only its IEND chunk still holds every
        # pixel, and is accepted, as by every viewer.)
        for cut in (20, 200, len(data) // 2, len(data) - 64):
            with pytest.raises(CorruptMediaError):
                decode_image(data[:cut])


def test_corrupt_headers() -> None:
    with pytest.raises(CorruptMediaError):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(CorruptMediaError):
        decode_image(b"\xff\xd8\xff" + b"\0" * 64)
    with pytest.raises(CorruptMediaError):
        decode_image(_png_header_only(0, 10))  # zero width
    with pytest.raises(CorruptMediaError):
        decode_image(b"GIF89a" + b"\xff" * 40)


def test_every_error_is_a_media_error() -> None:
    for cls in (CorruptMediaError, EmptyMediaError, MediaTooLargeError, TooManyPixelsError, UnsupportedFormatError):
        assert issubclass(cls, MediaError)


def test_one_pixel_image() -> None:
    """Below PDQ's 5-pixel minimum: the reference's all-zero hash with quality 0, flagged low quality."""
    hashes = hash_bytes(_png(Image.new("RGB", (1, 1), (200, 10, 10))))
    assert hashes.pdq == "0" * 64
    assert hashes.quality == 0 and hashes.low_quality


def test_65535_by_1_image() -> None:
    """An extreme aspect ratio decodes and hashes without error; in exact mode the reference resizes it to
    512x512 (repeating the row), at full resolution it is below the minimum height. A flat row has quality 0."""
    row = Image.linear_gradient("L").resize((65535, 1)).convert("RGB")
    data = _png(row)
    decoded = decode_image(data)
    assert decoded.size == (65535, 1)
    exact = hash_bytes(data)
    assert len(exact.pdq) == 64 and 0 <= exact.quality <= 100
    assert exact.low_quality  # vertical stripes only: too little structure to trust
    fast = hash_bytes(data, fast=True)
    assert fast.pdq == exact.pdq
