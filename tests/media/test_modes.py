"""Every pixel mode becomes the RGB (or grey) image a person sees — never raw channels reinterpreted as RGB."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blindmatch.hashing import hamming_distance, hash_bytes, hash_file
from blindmatch.media import decode_image, to_display_image


@pytest.fixture(scope="module")
def original(shared_data: Path) -> Image.Image:
    with Image.open(shared_data / "pdq" / "misc-images" / "modes" / "RGB.jpg") as img:
        return img.convert("RGB")


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _mean_abs(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


@pytest.mark.parametrize(
    ("name", "max_bits"),
    [
        ("CMYK.jpg", 0),
        ("RGBA.png", 0),
        ("LA.png", 0),
        ("P.png", 0),
        ("L.png", 0),
        ("YCbCr.jpg", 0),
        ("HSV.webp", 0),
        ("LAB.webp", 0),
        ("I.webp", 0),
        ("F.webp", 0),
        ("PA.webp", 2),
        ("1.png", 16),  # dithered to black and white: a different-looking picture
    ],
)
def test_mode_files_hash_like_the_rgb_version(shared_data: Path, name: str, max_bits: int) -> None:
    """The reference repository's colour-mode images (several of which its tool cannot read) hash as the RGB
    image they show. Distances measured: 0 for all but PA (2 bits, lossy WebP) and 1-bit (12 bits, dithering)."""
    folder = shared_data / "pdq" / "misc-images" / "modes"
    rgb = hash_file(folder / "RGB.jpg").pdq
    assert hamming_distance(hash_file(folder / name).pdq, rgb) <= max_bits


@pytest.mark.parametrize(("mode", "fmt"), [("LAB", "TIFF"), ("CMYK", "TIFF"), ("YCbCr", "TIFF"), ("RGBA", "PNG")])
def test_colour_modes_in_files_convert_properly(original: Image.Image, mode: str, fmt: str) -> None:
    data = _encode(original.convert(mode), fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    decoded = decode_image(data)
    assert decoded.source_mode == mode and decoded.image.mode == "RGB"
    assert _mean_abs(decoded.image, original) < 2.0
    assert hamming_distance(hash_bytes(data).pdq, hash_bytes(_encode(original, "PNG")).pdq) <= 4


@pytest.mark.parametrize("mode", ["HSV", "LAB", "YCbCr", "CMYK"])
def test_in_memory_colour_spaces(original: Image.Image, mode: str) -> None:
    """Raw HSV/LAB channels look nothing like RGB; the conversion must give the original picture back."""
    converted = original.convert(mode)
    raw = Image.frombytes("RGB", converted.size, converted.tobytes()) if mode != "CMYK" else None
    if raw is not None:
        assert _mean_abs(raw, original) > 20  # reinterpreting raw channels would be badly wrong
    assert _mean_abs(to_display_image(converted), original) < 2.0


def test_transparency_composited_on_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    shown = np.asarray(to_display_image(rgba))
    assert tuple(shown[0, 0]) == (0, 0, 255)
    assert tuple(shown[0, 1]) in ((127, 127, 127), (128, 128, 128))
    assert tuple(shown[5, 5]) == (255, 255, 255)  # fully transparent red shows as white

    la = Image.new("LA", (4, 4), (0, 0))
    assert np.asarray(to_display_image(la)).min() == 255
    assert to_display_image(la).mode == "L"

    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30, 200, 100, 50])
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0
    shown = np.asarray(to_display_image(pal))
    assert tuple(shown[0, 0]) == (200, 100, 50) and tuple(shown[3, 3]) == (255, 255, 255)

    pa = Image.new("PA", (2, 2))
    pa.putpalette([10, 20, 30])
    assert np.asarray(to_display_image(pa)).min() == 255

    premultiplied = Image.new("RGBA", (2, 2), (100, 50, 0, 255)).convert("RGBa")
    assert tuple(np.asarray(to_display_image(premultiplied))[0, 0]) == (100, 50, 0)
    la_premultiplied = Image.new("LA", (2, 2), (100, 255)).convert("La")
    assert np.asarray(to_display_image(la_premultiplied))[0, 0] == 100


def test_wide_grey_modes_are_scaled() -> None:
    grey = np.tile(np.arange(256, dtype=np.uint16), (4, 1))
    sixteen = Image.fromarray(grey * 257)  # full 16-bit range
    assert sixteen.mode.startswith("I;16")
    assert np.array_equal(np.asarray(to_display_image(sixteen)), grey.astype(np.uint8))

    unit_float = Image.fromarray(grey.astype(np.float32) / 255.0, "F")
    assert np.array_equal(np.asarray(to_display_image(unit_float)), grey.astype(np.uint8))

    eight_bit_float = Image.fromarray(grey.astype(np.float32), "F")
    assert np.array_equal(np.asarray(to_display_image(eight_bit_float)), grey.astype(np.uint8))

    signed = Image.fromarray(grey.astype(np.int32) * 1000 - 100_000, "I")  # stretched min..max
    shown = np.asarray(to_display_image(signed))
    assert shown[0, 0] == 0 and shown[0, 255] == 255

    nan = Image.fromarray(np.full((4, 4), np.nan, dtype=np.float32), "F")
    assert np.asarray(to_display_image(nan)).max() == 0

    bilevel = Image.new("1", (4, 4), 1)
    assert to_display_image(bilevel).mode == "L" and np.asarray(to_display_image(bilevel)).min() == 255


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF"), ("L", "PNG")])
def test_grey_files_hash_like_the_grey_picture(original: Image.Image, mode: str, fmt: str) -> None:
    grey = original.convert("L")
    data = _encode(grey.convert(mode), fmt)
    decoded = decode_image(data)
    assert decoded.image.mode == "L"
    assert hash_bytes(data).pdq == hash_bytes(_encode(grey, "PNG")).pdq
