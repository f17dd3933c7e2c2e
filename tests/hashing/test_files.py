"""Exact hashes, hash_file / hash_bytes, and fast mode's deviation from exact mode."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blindmatch.hashing import (
    FAST_MIN_SIDE,
    exact_hashes_of_bytes,
    exact_hashes_of_file,
    hamming_distance,
    hash_bytes,
    hash_file,
)
from blindmatch.hashing.exact import ExactHashError, exact_hashes_of_chunks
from blindmatch.media import EmptyMediaError, MediaTooLargeError, UnsupportedFormatError


def test_exact_hashes_match_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000 + b"tail"
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest(), hashlib.sha256(data).hexdigest())
    for hashes in (
        exact_hashes_of_bytes(data),
        exact_hashes_of_file(path),
        exact_hashes_of_file(path, chunk_size=7),
        exact_hashes_of_chunks([data[:10], b"", data[10:]]),
    ):
        assert (hashes.md5, hashes.sha1, hashes.sha256) == expected
        assert hashes.size == len(data)
    empty = exact_hashes_of_bytes(b"")
    assert empty.sha256 == hashlib.sha256(b"").hexdigest() and empty.size == 0
    with pytest.raises(ExactHashError, match="cannot read"):
        exact_hashes_of_file(tmp_path / "absent")


def test_hash_file_and_hash_bytes_agree(shared_data: Path) -> None:
    path = shared_data / "pdq" / "reg-test-input" / "dih" / "bridge-1-original.jpg"
    data = path.read_bytes()
    from_file = hash_file(path, dihedral=True)
    from_bytes = hash_bytes(data, dihedral=True)
    assert from_file.path == str(path) and from_bytes.path is None
    assert from_file.pdq == from_bytes.pdq == "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
    assert from_file.sha256 == hashlib.sha256(data).hexdigest() == from_bytes.sha256
    assert from_file.md5 == hashlib.md5(data).hexdigest()
    assert from_file.sha1 == hashlib.sha1(data).hexdigest()
    assert from_file.size_bytes == len(data)
    assert (from_file.width, from_file.height, from_file.format, from_file.mode) == (1600, 1004, "JPEG", "exact")
    assert from_file.dihedral is not None and len(from_file.dihedral) == 8
    assert from_file.dihedral[0] == from_file.pdq
    assert hash_file(path).dihedral is None


def test_dihedral_of_64x64_keeps_plain_hash() -> None:
    """The reference skips the blur for a 64×64 input in its plain path only; hash_file keeps the plain hash."""
    rng = np.random.default_rng(11)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
    plain = hash_bytes(buf.getvalue())
    both = hash_bytes(buf.getvalue(), dihedral=True)
    assert both.pdq == plain.pdq
    assert both.dihedral is not None and hamming_distance(both.dihedral[0], plain.pdq) <= 16


def test_low_quality_is_flagged_not_dropped(shared_data: Path) -> None:
    hashes = hash_file(shared_data / "pdq" / "reg-test-input" / "labelme-subset" / "q0003.jpg")
    assert hashes.quality == 3 and hashes.low_quality
    assert hashes.pdq == "54a9f7c321d1443c43ba566e21d4a13989a3553f1472611cbbc5fda59e03b677"


def test_errors_surface_as_media_errors(tmp_path: Path) -> None:
    with pytest.raises(EmptyMediaError):
        hash_bytes(b"")
    with pytest.raises(UnsupportedFormatError):
        hash_bytes(b"not an image at all")
    from blindmatch.media import DecodeLimits

    with pytest.raises(MediaTooLargeError):
        hash_bytes(b"\xff\xd8\xff" + b"\0" * 100, limits=DecodeLimits(max_bytes=50))


def _dev_images(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "images" / "listed").iterdir()) + sorted(
        (shared_data / "images" / "innocent").iterdir()
    )


def test_fast_mode_on_dev_corpus_equals_exact(shared_data: Path) -> None:
    """The DEV photos are at most 768x512: too small for reduced decoding, so fast mode must equal exact mode
    (measured: mean 0, max 0 bits over a sample of the 812)."""
    paths = _dev_images(shared_data)[::8]
    distances = [hamming_distance(hash_file(p).pdq, hash_file(p, fast=True).pdq) for p in paths]
    assert len(distances) >= 100
    assert max(distances) == 0


def test_fast_mode_deviation_on_large_photos(shared_data: Path, tmp_path: Path) -> None:
    """Large JPEGs (DEV photos upscaled to 4000x3000, q90) really are decoded at reduced size, and stay close to
    exact mode. Measured on 10 such images with FAST_MIN_SIDE=1024: mean 1.0, max 2 bits (see the benchmark)."""
    paths = _dev_images(shared_data)[::250]
    distances = []
    for i, src in enumerate(paths):
        with Image.open(src) as img:
            big = img.convert("RGB").resize((4000, 3000) if img.width >= img.height else (3000, 4000))
        target = tmp_path / f"big{i}.jpg"
        big.save(target, quality=90)
        fast = hash_file(target, fast=True)
        exact = hash_file(target)
        assert fast.width < 4000 and fast.height < 4000 and min(fast.width, fast.height) >= FAST_MIN_SIDE
        distances.append(hamming_distance(fast.pdq, exact.pdq))
    assert float(np.mean(distances)) <= 4.0
    assert max(distances) <= 10
