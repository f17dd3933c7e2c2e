"""The PdqResult contract and input validation of the PDQ functions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from blindmatch.hashing import PdqInputError, hamming_distance, pdq_dihedral, pdq_from_image, pdq_from_luma
from blindmatch.hashing.pdq import luma_from_rgb, pdq_from_rgb, reference_resize_indices
from blindmatch.hashing.signals import InvalidHashError


def test_result_fields_are_consistent() -> None:
    rng = np.random.default_rng(3)
    r = pdq_from_rgb(rng.integers(0, 256, size=(90, 120, 3), dtype=np.uint8))
    assert len(r.hash) == 64 and r.hash == r.hash.lower()
    assert r.coefficients.shape == (16, 16) and r.coefficients.dtype == np.float32
    assert r.bits.shape == (256,) and r.bits.dtype == np.uint8
    assert r.margins.shape == (256,) and r.margins.dtype == np.float32
    # bit k <-> coefficients.flat[k] > median, and bit k is bit k of the big-endian number the hex spells
    number = int(r.hash, 16)
    for k in range(256):
        assert (number >> k) & 1 == r.bits[k] == int(r.coefficients.flat[k] > r.median)
    np.testing.assert_array_equal(r.margins, np.abs(r.coefficients.reshape(-1) - np.float32(r.median)))
    assert r.hash_bytes == bytes.fromhex(r.hash) and len(r.hash_bytes) == 32
    assert int(r.bits.sum()) == 128  # median split of 256 distinct values: exactly half above
    assert 0 <= r.quality <= 100


def test_quality_flag() -> None:
    flat = pdq_from_luma(np.full((100, 100), 7.0, dtype=np.float32))
    assert flat.quality == 0 and flat.low_quality
    rng = np.random.default_rng(1)
    noisy = pdq_from_luma(rng.uniform(0, 255, size=(100, 100)).astype(np.float32))
    assert noisy.quality == 100 and not noisy.low_quality


def test_luma_uses_float32_reference_arithmetic() -> None:
    rgb = np.array([[[255, 255, 255], [1, 2, 3]]], dtype=np.uint8)
    y = luma_from_rgb(rgb)
    assert y.dtype == np.float32
    expected = np.float32(0.299) * np.float32(1) + np.float32(0.587) * np.float32(2)
    expected = np.float32(expected + np.float32(0.114) * np.float32(3))
    assert y[0, 1] == expected


def test_reference_resize_indices() -> None:
    idx = reference_resize_indices(1024)
    assert idx[0] == 0 and idx[1] == 2 and idx[-1] == 1022 and len(idx) == 512
    assert list(reference_resize_indices(37)[:16]) == [i * 37 // 512 for i in range(16)]


def test_exact_mode_resizes_only_images_over_512() -> None:
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, size=(512, 300, 3), dtype=np.uint8)
    assert pdq_from_image(Image.fromarray(small), "exact").hash == pdq_from_rgb(small).hash
    big = rng.integers(0, 256, size=(600, 300, 3), dtype=np.uint8)
    rows, cols = reference_resize_indices(600), reference_resize_indices(300)
    resized = np.ascontiguousarray(big[rows[:, None], cols[None, :]])
    assert pdq_from_image(Image.fromarray(big), "exact").hash == pdq_from_rgb(resized).hash


def test_dihedral_first_is_the_plain_hash_and_order_is_fixed() -> None:
    rng = np.random.default_rng(9)
    img = Image.fromarray(rng.integers(0, 256, size=(80, 100, 3), dtype=np.uint8))
    hashes = pdq_dihedral(img)
    assert len(hashes) == 8 and len(set(hashes)) == 8
    assert hashes[0] == pdq_from_image(img).hash
    # flipping the DCT of a flipped picture twice gives back the original: rot180 of rot180 = identity, etc.
    assert pdq_dihedral(np.asarray(img)) == hashes


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 4, 4), dtype=np.float32), "2-D"),
        (np.zeros((0, 10), dtype=np.float32), "no pixels"),
        (np.array([[np.nan] * 6] * 6, dtype=np.float32), "NaN"),
        (np.array([[np.inf] * 6] * 6, dtype=np.float64), "NaN or infinite"),
        (np.full((6, 6), 3e38, dtype=np.float32), "too large"),
        (np.array([["a"] * 6] * 6), "numeric"),
    ],
)
def test_bad_luma(array: np.ndarray, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(PdqInputError, match=message):
        pdq_from_luma(array)


def test_bad_rgb_and_modes() -> None:
    with pytest.raises(PdqInputError, match="uint8"):
        pdq_from_rgb(np.zeros((8, 8, 3), dtype=np.float32))  # type: ignore[arg-type]
    with pytest.raises(PdqInputError, match="shape"):
        pdq_from_rgb(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(PdqInputError, match="expected a numpy array"):
        pdq_from_luma([[1.0] * 8] * 8)  # type: ignore[arg-type]
    with pytest.raises(PdqInputError, match="unsupported pixel mode"):
        pdq_from_image(_exotic())
    with pytest.raises(PdqInputError, match="unknown PDQ mode"):
        pdq_from_image(Image.new("RGB", (8, 8)), "turbo")  # type: ignore[arg-type]


def _exotic() -> Image.Image:
    """Stands in for an image in a pixel mode blindmatch does not interpret (Pillow 13 has none left)."""
    return SimpleNamespace(mode="XYZ;7", size=(8, 8))  # type: ignore[return-value]


def test_other_modes_are_converted_to_what_is_seen() -> None:
    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8))
    for mode in ("exact", "full"):
        assert pdq_from_image(rgb.convert("RGBA"), mode).hash == pdq_from_image(rgb, mode).hash  # type: ignore[arg-type]
        cmyk = rgb.convert("CMYK")
        assert pdq_from_image(cmyk, mode).hash == pdq_from_image(cmyk.convert("RGB"), mode).hash  # type: ignore[arg-type]


def test_hamming_distance() -> None:
    zero, ones = "0" * 64, "f" * 64
    assert hamming_distance(zero, ones) == 256
    assert hamming_distance(zero, "0" * 63 + "3") == 2
    assert hamming_distance(" " + ones.upper(), ones) == 0
    with pytest.raises(InvalidHashError, match="64 hex digits"):
        hamming_distance(zero, "0" * 63)
    with pytest.raises(InvalidHashError, match="non-hex"):
        hamming_distance(zero, "g" * 64)
