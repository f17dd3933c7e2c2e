"""Mutated and truncated files of every format: decoding either succeeds or raises a MediaError, nothing else."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from blindmatch.hashing import hash_bytes
from blindmatch.media import DecodeLimits, MediaError, decode_image

FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
_LIMITS = DecodeLimits(max_bytes=1 << 20, max_pixels=1 << 20)


def _sample(fmt: str) -> bytes:
    rng = np.random.default_rng(len(fmt))
    img = Image.fromarray(rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


SAMPLES = {fmt: _sample(fmt) for fmt in FORMATS}


def _decode_or_media_error(data: bytes) -> None:
    try:
        decoded = decode_image(data, limits=_LIMITS)
    except MediaError:
        return
    assert decoded.image.mode in ("RGB", "L")
    assert decoded.size[0] * decoded.size[1] <= _LIMITS.max_pixels
    hashes = hash_bytes(data, limits=_LIMITS)
    assert len(hashes.pdq) == 64


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(FORMATS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(1, 10_000)),
)
def test_mutated_files_never_crash(fmt: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(SAMPLES[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: max(1, cut % len(data))]
    _decode_or_media_error(bytes(data))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_prefix_of_the_header(fmt: str) -> None:
    data = SAMPLES[fmt]
    for cut in range(1, min(len(data), 200)):
        _decode_or_media_error(data[:cut])
