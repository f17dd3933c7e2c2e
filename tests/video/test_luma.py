"""Luma frames straight from the decoder's Y plane, and PDQ from them (the fast video path)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _make import write_video

from blindmatch.hashing.pdq import hamming_distance, luma_from_rgb, pdq_from_luma, pdq_from_rgb
from blindmatch.hashing.vpdq import hash_video, pdq_from_luma_plane, pdq_from_rgb_banded
from blindmatch.media.video import VideoDecodeError, open_video


def _pairs(path: Path, **kwargs: object) -> list[tuple[object, object]]:
    with open_video(path) as reader:
        rgb = list(reader.frames(seconds_per_frame=1.0, **kwargs))  # type: ignore[arg-type]
    with open_video(path) as reader:
        luma = list(reader.luma_frames(seconds_per_frame=1.0, **kwargs))  # type: ignore[arg-type]
    assert [(f.index, f.timestamp) for f in rgb] == [(f.index, f.timestamp) for f in luma]
    return list(zip(rgb, luma, strict=True))


def test_limited_range_y_plane_is_the_bt601_luma_of_the_rgb_frame(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.mp4", frames=30, fps=10, size=(320, 240))
    pairs = _pairs(path)
    assert len(pairs) == 3
    for rgb, luma in pairs:
        assert luma.luma.shape == (240, 320) and luma.luma.dtype == np.uint8  # type: ignore[attr-defined]
        assert (luma.black, luma.white) == (16, 235)  # type: ignore[attr-defined]
        scaled = (luma.luma.astype(np.float32) - 16) * (255 / 219)  # type: ignore[attr-defined]
        # Chroma cancels out of 0.299 R + 0.587 G + 0.114 B for a BT.601 conversion: only rounding is left.
        diff = np.abs(scaled - luma_from_rgb(rgb.rgb))  # type: ignore[attr-defined]
        assert float(diff.mean()) < 2.0 and float(np.percentile(diff, 99)) < 5.0


def test_full_range_video_reports_full_range_levels(tmp_path: Path) -> None:
    path = write_video(tmp_path / "j.mp4", frames=20, fps=10, size=(96, 64), pix_fmt="yuvj420p")
    for rgb, luma in _pairs(path):
        assert (luma.black, luma.white) == (0, 255)  # type: ignore[attr-defined]
        diff = np.abs(luma.luma.astype(np.float32) - luma_from_rgb(rgb.rgb))  # type: ignore[attr-defined]
        assert float(diff.mean()) < 1.5


def test_formats_without_a_y_plane_are_converted_to_grey(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.gif", codec="gif", pix_fmt="rgb8", frames=20, fps=10, size=(96, 64))
    for rgb, luma in _pairs(path):
        assert (luma.black, luma.white) == (0, 255)  # type: ignore[attr-defined]
        assert luma.luma.shape == (64, 96)  # type: ignore[attr-defined]
        diff = np.abs(luma.luma.astype(np.float32) - luma_from_rgb(rgb.rgb))  # type: ignore[attr-defined]
        assert float(diff.mean()) < 1.5


def test_max_side_scales_luma_frames_like_rgb_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.mp4", frames=20, fps=10, size=(320, 240))
    for rgb, luma in _pairs(path, max_side=64):
        assert luma.luma.shape == rgb.rgb.shape[:2] == (48, 64)  # type: ignore[attr-defined]
        assert (luma.black, luma.white) == (0, 255)  # type: ignore[attr-defined]


def _photo_luma(shared_data: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A benign photo (the data set's first listed stand-in) as RGB and float luma at ``size``."""
    first = sorted((shared_data / "images" / "listed").glob("*.jpg"))[0]
    with Image.open(first) as img:
        rgb = np.asarray(img.convert("RGB").resize(size, Image.Resampling.BICUBIC))
    return rgb, luma_from_rgb(rgb)


def test_luma_plane_pdq_equals_pdq_of_the_rescaled_luma(shared_data: Path) -> None:
    # A photo at 720p in limited-range levels: the banded path must agree with the exact PDQ of the same luma
    # brought back to 0..255, up to rounding (a weak coefficient crossing the median flips two bits).
    rgb, luma = _photo_luma(shared_data, (1280, 720))
    y = np.round(16 + luma * (219 / 255)).astype(np.uint8)
    ours = pdq_from_luma_plane(y, 16, 235)
    exact = pdq_from_luma((y.astype(np.float32) - 16) * np.float32(255 / 219))
    assert hamming_distance(ours.hash, exact.hash) <= 2
    assert abs(ours.quality - exact.quality) <= 1
    assert hamming_distance(ours.hash, pdq_from_rgb(rgb).hash) <= 4
    # small frames take the exact path
    _, small_luma = _photo_luma(shared_data, (200, 150))
    small = np.round(16 + small_luma * (219 / 255)).astype(np.uint8)
    expected = pdq_from_luma((small.astype(np.float32) - 16) * np.float32(255 / 219))
    assert pdq_from_luma_plane(small, 16, 235).hash == expected.hash


def test_luma_plane_pdq_is_invariant_to_the_levels_but_quality_is_rescaled(shared_data: Path) -> None:
    _, luma = _photo_luma(shared_data, (640, 360))
    full = np.round(luma).astype(np.uint8)
    limited = np.round(16 + full.astype(np.float64) * (219 / 255)).astype(np.uint8)
    a, b = pdq_from_luma_plane(full), pdq_from_luma_plane(limited, 16, 235)
    assert hamming_distance(a.hash, b.hash) <= 4 and abs(a.quality - b.quality) <= 2
    # Read with the wrong levels, the bits stay but the gradients (quality) shrink by 219/255.
    unscaled = pdq_from_luma_plane(limited)
    assert unscaled.hash == b.hash
    assert unscaled.quality <= b.quality


@pytest.mark.parametrize(
    ("array", "levels"),
    [
        (np.zeros((10, 10), dtype=np.float32), (0, 255)),
        (np.zeros((10, 10, 3), dtype=np.uint8), (0, 255)),
        (np.zeros((10, 10), dtype=np.uint8), (235, 16)),
        (np.zeros((10, 10), dtype=np.uint8), (-1, 255)),
        (np.zeros((10, 10), dtype=np.uint8), (0, 256)),
    ],
)
def test_luma_plane_pdq_rejects_bad_input(array: np.ndarray, levels: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        pdq_from_luma_plane(array, *levels)


def test_fast_hash_uses_the_luma_plane_and_stays_close_to_rgb(shared_data: Path) -> None:
    """Measured on every sample video in docs/video.md: 1.0 bit mean, 6 max, equal quality; the test keeps a
    margin but would catch a wrong scale, range or plane (tens of bits)."""
    for name in ("chair-orig-22-sd-bar.mp4", "pattern-hd-no-bar.mp4", "doorknob-hd-no-bar.mp4"):
        path = shared_data / "video" / "sample-videos" / name
        luma = hash_video(path, fast=True)
        rgb = hash_video(path, fast=True, luma_plane=False)
        assert [f.index for f in luma.frames] == [f.index for f in rgb.frames]
        good = [(a, b) for a, b in zip(luma.frames, rgb.frames, strict=True) if b.quality >= 50]
        assert good
        distances = [hamming_distance(a.pdq, b.pdq) for a, b in good]
        assert max(distances) <= 10 and float(np.mean(distances)) <= 2.5, (name, distances)
        assert all(abs(a.quality - b.quality) <= 3 for a, b in good)


def test_luma_results_carry_margins_like_rgb_results(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.mp4", frames=30, fps=10, size=(320, 240))
    results: list = []
    h = hash_video(path, fast=True, results=results)
    assert len(results) == len(h) == 3
    assert [r.hash for r in results] == [f.pdq for f in h.frames]
    assert all(r.margins.size == 256 for r in results)
    # The synthetic waves leave most coefficients near the median, so rounding flips many bits here (real
    # video: ~1 bit, see the sample-video test); but only weak ones: every differing bit has a small margin.
    with open_video(path) as reader:
        banded = [pdq_from_rgb_banded(f.rgb) for f in reader.frames(seconds_per_frame=1.0, fast=True)]
    for a, b in zip(results, banded, strict=True):
        differing = a.bits != b.bits
        assert float(a.margins[differing].max(initial=0.0)) < float(np.median(a.margins))


def test_exact_frame_pdq_cannot_take_the_luma_plane(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.mp4", frames=10, fps=10, size=(64, 48))
    with pytest.raises(ValueError, match="luma_plane"):
        hash_video(path, frame_pdq="exact", luma_plane=True)
    assert hash_video(path, fast=True, frame_pdq="exact").frames  # exact implies RGB frames


def test_truncated_video_fails_cleanly_on_the_luma_path(tmp_path: Path) -> None:
    path = write_video(tmp_path / "c.mp4", frames=60, fps=10, size=(320, 240))
    data = path.read_bytes()
    with pytest.raises(VideoDecodeError):
        hash_video(data[: len(data) // 2], fast=True)
