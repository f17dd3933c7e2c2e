"""Differential tests against the pdqhash binding (the reference C++ core compiled as a Python extension).

pdqhash computes luminance in float64 before rounding to float32, so ``full`` mode / ``luma_from_rgb_binding``
is what must agree with it bit for bit: same hash, same quality and the same float32 DCT coefficients.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pdqhash
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from blindmatch.hashing.pdq import (
    MIN_HASHABLE_DIM,
    luma_from_rgb_binding,
    pdq_dihedral_from_luma,
    pdq_from_image,
    pdq_from_luma,
)
from blindmatch.media import decode_image


def _bits_hex(vector: npt.NDArray[np.generic]) -> str:
    """pdqhash returns bits most-significant first (bit 255 .. bit 0)."""
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def _assert_same_as_binding(rgb: npt.NDArray[np.uint8]) -> None:
    ours = pdq_from_luma(luma_from_rgb_binding(rgb))
    vector, quality = pdqhash.compute(rgb)
    assert (ours.hash, ours.quality) == (_bits_hex(vector), quality)
    if min(rgb.shape[:2]) >= MIN_HASHABLE_DIM:
        coefficients, float_quality = pdqhash.compute_float(rgb)
        np.testing.assert_array_equal(ours.coefficients.reshape(-1), np.asarray(coefficients)[::-1])
        assert float_quality == ours.quality
        # bits/margins are consistent with the hash
        assert _bits_hex(ours.bits[::-1]) == ours.hash
        assert np.all(ours.margins >= 0)


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (3, 5), (4, 100), (5, 5), (6, 7), (63, 65), (64, 64), (65, 64), (127, 129), (128, 128),
     (1000, 37), (37, 1000), (333, 517), (1024, 768), (2000, 1500)],
)  # fmt: skip
def test_random_uint8_shapes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    _assert_same_as_binding(rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["noise", "low-contrast", "blocks"]),
)
def test_hypothesis_random_images(height: int, width: int, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    elif kind == "low-contrast":
        rgb = rng.integers(120, 124, size=(height, width, 3), dtype=np.uint8)
    else:
        small = rng.integers(0, 256, size=(max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
        rgb = np.ascontiguousarray(np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:height, :width])
        if rgb.shape[:2] != (height, width):
            rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    _assert_same_as_binding(rgb)


@pytest.mark.parametrize("value", [0, 1, 128, 255])
@pytest.mark.parametrize("shape", [(64, 64), (100, 80), (700, 500)])
def test_constant_images(value: int, shape: tuple[int, int]) -> None:
    rgb = np.full((*shape, 3), value, dtype=np.uint8)
    _assert_same_as_binding(rgb)
    assert pdq_from_luma(luma_from_rgb_binding(rgb)).quality == 0


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal", "radial"])
def test_gradients(direction: str) -> None:
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w]
    field = {
        "horizontal": x / (w - 1),
        "vertical": y / (h - 1),
        "diagonal": (x + y) / (h + w - 2),
        "radial": np.hypot(x - w / 2, y - h / 2) / np.hypot(w / 2, h / 2),
    }[direction]
    grey = np.rint(field * 255).astype(np.uint8)
    rgb = np.stack([grey, 255 - grey, grey // 2], axis=2)
    _assert_same_as_binding(rgb)


@settings(max_examples=25, deadline=None)
@given(height=st.integers(5, 200), width=st.integers(5, 200), seed=st.integers(0, 2**32 - 1))
def test_float_coefficients_against_compute_float(height: int, width: int, seed: int) -> None:
    """The float32 DCT output itself (not only its signs) is identical to pdqFloat256FromFloatLuma."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    ours = pdq_from_luma(luma_from_rgb_binding(rgb))
    coefficients, quality = pdqhash.compute_float(rgb)
    np.testing.assert_array_equal(ours.coefficients.reshape(-1), np.asarray(coefficients)[::-1])
    assert ours.coefficients.dtype == np.float32
    assert quality == ours.quality


@pytest.mark.parametrize("shape", [(5, 5), (64, 64), (100, 37), (300, 400)])
def test_dihedral_against_binding(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    vectors, quality = pdqhash.compute_dihedral(rgb)
    ours = pdq_dihedral_from_luma(luma_from_rgb_binding(rgb))
    assert [r.hash for r in ours] == [_bits_hex(v) for v in vectors]
    assert all(r.quality == quality for r in ours)


def _real_images(shared_data: Path) -> list[Path]:
    listed = sorted((shared_data / "images" / "listed").iterdir())[::40]
    innocent = sorted((shared_data / "images" / "innocent").iterdir())[::100]
    pdq_files = [
        shared_data / "pdq" / "reg-test-input" / "dih" / "bridge-2-rotate-90.jpg",
        shared_data / "pdq" / "reg-test-input" / "labelme-subset" / "q0003.jpg",
        shared_data / "pdq" / "misc-images" / "modes" / "RGBA.png",
    ]
    return listed + innocent + pdq_files


def test_real_images_full_resolution(shared_data: Path) -> None:
    """Real photos at full resolution: ``full`` mode equals pdqhash.compute (hash, quality) and dihedral."""
    paths = _real_images(shared_data)
    assert len(paths) >= 15
    for path in paths:
        image = decode_image(path).image
        rgb = np.asarray(image.convert("RGB"))
        vector, quality = pdqhash.compute(rgb)
        ours = pdq_from_image(image, "full")
        assert (ours.hash, ours.quality) == (_bits_hex(vector), quality), path.name
    rgb = np.asarray(decode_image(paths[0]).image.convert("RGB"))
    vectors, _ = pdqhash.compute_dihedral(rgb)
    assert [r.hash for r in pdq_dihedral_from_luma(luma_from_rgb_binding(rgb))] == [_bits_hex(v) for v in vectors]


def test_exact_mode_of_small_image_equals_binding_on_grey(shared_data: Path) -> None:
    """For a greyscale image ≤ 512 px, exact mode (grey value as luminance) equals pdqhash on the grey RGB."""
    path = next(p for p in sorted((shared_data / "images").rglob("*.jpg")) if Image.open(p).mode == "L")
    image = decode_image(path).image.crop((0, 0, 500, 400))
    assert image.mode == "L"
    vector, quality = pdqhash.compute(np.asarray(image.convert("RGB")))
    ours = pdq_from_image(image, "exact")
    assert (ours.hash, ours.quality) == (_bits_hex(vector), quality)
