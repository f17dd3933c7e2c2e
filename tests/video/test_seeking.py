"""Fast sampling skips the packets it does not need; the frames it returns must equal a full fast decode's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _make import write_video

from blindmatch.hashing.vpdq import hash_video
from blindmatch.media.video import VideoError, VideoReader, open_video


@pytest.fixture
def no_seeking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def full(self: VideoReader, stream: object, want: object) -> Iterator[object]:
        yield from self._av.decode(stream)  # type: ignore[arg-type]

    monkeypatch.setattr(VideoReader, "_seeking_decode", full)
    yield


def _frames(path: Path | bytes) -> list[tuple[int, float, bytes]]:
    with open_video(path) as reader:
        return [(f.index, f.timestamp, f.rgb.tobytes()) for f in reader.frames(seconds_per_frame=1.0, fast=True)]


def test_sample_videos_hash_identically_with_and_without_skipping(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = sorted((shared_data / "video" / "sample-videos").glob("*.mp4"))
    assert len(paths) >= 10
    skipping = {p.name: hash_video(p, seconds_per_frame=1.0, fast=True) for p in paths}
    monkeypatch.setattr(VideoReader, "_seeking_decode", lambda self, s, w: self._av.decode(s))
    for p in paths:
        full = hash_video(p, seconds_per_frame=1.0, fast=True)
        assert skipping[p.name].frames == full.frames, p.name


@pytest.mark.parametrize("gop", [1, 7, 25, 60])
def test_generated_videos_with_every_keyframe_interval(tmp_path: Path, gop: int) -> None:
    path = write_video(tmp_path / f"g{gop}.mp4", frames=90, fps=15, size=(96, 64), gop=gop)
    seeking = _frames(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(VideoReader, "_seeking_decode", lambda self, s, w: self._av.decode(s))
        full = _frames(path)
    assert [(i, t) for i, t, _ in seeking] == [(i, t) for i, t, _ in full]
    assert [int(t) for _, t, _ in seeking] == [0, 1, 2, 3, 4, 5]
    assert all(a[2] == b[2] for a, b in zip(seeking, full, strict=True))


def test_truncated_and_corrupted_videos_still_fail_cleanly_when_skipping(tmp_path: Path) -> None:
    data = write_video(tmp_path / "t.mp4", frames=60, fps=10, size=(160, 120), gop=10).read_bytes()
    with pytest.raises(VideoError):
        _frames(data[: len(data) // 2])
    broken = bytearray(data)
    rng = np.random.default_rng(3)
    start = len(broken) // 3
    broken[start : start + len(broken) // 3] = rng.integers(0, 256, len(broken) // 3, dtype=np.uint8).tobytes()
    with pytest.raises(VideoError):
        _frames(bytes(broken))
