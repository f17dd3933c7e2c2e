"""Safe decoding: every supported format, content sniffing, EXIF orientation, first GIF frame, reduced decode."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from blindmatch.media import (
    DecodeLimits,
    MediaReadError,
    UnsupportedFormatError,
    decode_image,
    sniff_format,
)


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> Image.Image:
    """A benign photo from the shared data set (a 481x321 BSDS image), loaded once."""
    path = sorted((shared_data / "images" / "listed").glob("bsds-train-*"))[0]
    with Image.open(path) as img:
        return img.convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_supported_format_decodes(photo: Image.Image, fmt: str) -> None:
    data = _encode(photo, fmt)
    decoded = decode_image(data)
    assert decoded.format == fmt
    assert decoded.image.mode == "RGB"
    assert decoded.size == photo.size
    # Lossless formats give back the same pixels; lossy/palette ones stay close.
    diff = np.abs(np.asarray(decoded.image, dtype=np.int16) - np.asarray(photo, dtype=np.int16))
    if fmt in ("PNG", "BMP", "TIFF"):
        assert diff.max() == 0
    else:
        assert diff.mean() < 12


def test_extension_is_ignored(photo: Image.Image, tmp_path: Path) -> None:
    """A PNG named .jpg is decoded as PNG; a text file named .png is refused by content."""
    fake_jpg = tmp_path / "photo.jpg"
    fake_jpg.write_bytes(_encode(photo, "PNG"))
    assert decode_image(fake_jpg).format == "PNG"
    fake_png = tmp_path / "notes.png"
    fake_png.write_bytes(b"just some text, certainly not an image\n")
    with pytest.raises(UnsupportedFormatError, match="not a supported image format"):
        decode_image(fake_png)


def test_sniffing_recognises_magic_bytes() -> None:
    assert sniff_format(b"\xff\xd8\xff\xe0" + b"\0" * 12) == "JPEG"
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "PNG"
    assert sniff_format(b"GIF89a" + b"\0" * 10) == "GIF"
    assert sniff_format(b"RIFF\0\0\0\0WEBPVP8 ") == "WEBP"
    assert sniff_format(b"RIFF\0\0\0\0AVI LIST") is None
    assert sniff_format(b"BM" + b"\0" * 14) == "BMP"
    assert sniff_format(b"II*\x00" + b"\0" * 12) == "TIFF"
    assert sniff_format(b"MM\x00*" + b"\0" * 12) == "TIFF"
    assert sniff_format(b"\0\0\0\x18ftypheic") is None


def test_gif_first_frame_is_used() -> None:
    red = Image.new("RGB", (32, 24), (255, 0, 0))
    blue = Image.new("RGB", (32, 24), (0, 0, 255))
    data = _encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    pixels = np.asarray(decode_image(data).image)
    assert tuple(pixels[0, 0]) == (255, 0, 0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_exif_transpose(photo: Image.Image, orientation: int) -> None:
    small = photo.resize((60, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(small, "PNG", exif=exif)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    decoded = decode_image(data)
    assert decoded.orientation == orientation
    assert np.array_equal(np.asarray(decoded.image), np.asarray(expected.convert("RGB")))
    unrotated = decode_image(data, apply_exif=False)
    assert unrotated.orientation == 1
    assert np.array_equal(np.asarray(unrotated.image), np.asarray(small))


def test_corrupt_exif_is_ignored_not_fatal(photo: Image.Image) -> None:
    data = _encode(photo.resize((40, 30)), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage")
    decoded = decode_image(data)
    assert decoded.orientation == 1 and decoded.size == (40, 30)


def test_reduced_jpeg_decode_keeps_min_side(photo: Image.Image) -> None:
    big = photo.resize((photo.width * 4, photo.height * 4))
    data = _encode(big, "JPEG", quality=90)
    reduced = decode_image(data, min_side=256)
    assert reduced.reduced
    assert min(reduced.size) >= 256
    assert reduced.size[0] < big.width
    assert reduced.source_size == big.size
    full = decode_image(data)
    assert not full.reduced and full.size == big.size
    # Not reduced when the image is not much larger than needed, nor for other formats.
    assert not decode_image(data, min_side=min(big.size)).reduced
    assert not decode_image(_encode(big, "PNG"), min_side=64).reduced


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaReadError, match="cannot read"):
        decode_image(tmp_path / "absent.jpg")
    with pytest.raises(MediaReadError):
        decode_image(tmp_path)


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="positive"):
        DecodeLimits(max_bytes=0)
