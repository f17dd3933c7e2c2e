"""vPDQ text forms, pruning and the matching rule, on synthetic hashes and a generated clip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _make import write_video

from blindmatch.hashing.pdq import hamming_distance, pdq_from_rgb
from blindmatch.hashing.signals import InvalidHashError
from blindmatch.hashing.vpdq import (
    InvalidVpdqError,
    VpdqFrame,
    VpdqHash,
    hash_video,
    match_vpdq,
)
from blindmatch.media.video import VideoDecodeError, open_video

RNG = np.random.default_rng(2024)


def rand_hash() -> str:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip(h: str, bits: int) -> str:
    """``h`` with its lowest ``bits`` bits flipped: exactly ``bits`` apart."""
    return f"{int(h, 16) ^ ((1 << bits) - 1):064x}"


def video(hashes: list[str], quality: int = 90) -> VpdqHash:
    return VpdqHash(tuple(VpdqFrame(i, quality, h, i / 30) for i, h in enumerate(hashes)))


# ------------------------------------------------------------------------------------------------ text forms


def test_text_round_trip_and_reference_format() -> None:
    v = VpdqHash((VpdqFrame(0, 100, "ab" * 32, 0.0), VpdqFrame(30, 49, "0f" * 32, 1.0)))
    text = v.to_text()
    assert text == f"0,100,{'ab' * 32},0.000\n30,49,{'0f' * 32},1.000\n"
    assert VpdqHash.from_text(text) == v
    assert VpdqHash.from_compact(v.to_compact()) == v
    compact = v.to_compact()
    assert compact.startswith("vpdq1;") and "," not in compact and " " not in compact and "\n" not in compact
    assert VpdqHash.from_compact(VpdqHash(()).to_compact()) == VpdqHash(())


def test_reads_the_reference_sample_files(shared_data: Path) -> None:
    v = VpdqHash.from_text((shared_data / "video/vpdq-expected/doorknob-hd-no-bar.txt").read_text())
    assert len(v) == 120 and v.frames[1].index == 1 and v.frames[1].timestamp == pytest.approx(0.033)


def test_threatexchange_json_form() -> None:
    v = VpdqHash((VpdqFrame(0, 100, "ab" * 32, 0.0), VpdqFrame(1, 49, "0f" * 32, 1.5)))
    value = v.to_threatexchange()
    assert json.loads(value) == [f"{'ab' * 32},100,0.000", f"{'0f' * 32},49,1.500"]
    assert VpdqHash.from_threatexchange(value) == v  # frames numbered by position
    assert VpdqHash.from_threatexchange("") == VpdqHash(())
    for bad in ("{", '{"a": 1}', "[1, 2]", '["abc,1,0"]', '["' + "a" * 64 + ',1"]'):
        with pytest.raises(InvalidVpdqError):
            VpdqHash.from_threatexchange(bad)


@pytest.mark.parametrize(
    "text",
    [
        "0,100,abc,0.0",
        "0,100," + "g" * 64 + ",0.0",
        "0,101," + "a" * 64 + ",0.0",
        "-1,50," + "a" * 64 + ",0.0",
        "0,50," + "a" * 64 + ",nan",
        "0,50," + "a" * 64 + ",-1",
        "x,50," + "a" * 64 + ",0",
        "0,50",
        "0,50," + "a" * 64 + ",0,extra",
    ],
)
def test_malformed_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidVpdqError):
        VpdqHash.from_text(text)
    assert issubclass(InvalidVpdqError, InvalidHashError)


@pytest.mark.parametrize("value", ["", "vpdq2;0:1:" + "a" * 64 + ":0", "vpdq1;0:1:" + "a" * 64, "vpdq1;;"])
def test_malformed_compact_is_rejected(value: str) -> None:
    with pytest.raises(InvalidVpdqError):
        VpdqHash.from_compact(value)


def test_pruning() -> None:
    a = rand_hash()
    v = video([a, a, flip(a, 2), flip(a, 3), rand_hash(), a])
    assert [f.index for f in v.pruned(0).frames] == [0, 2, 3, 4, 5]  # only identical neighbours go
    assert [f.index for f in v.pruned(2).frames] == [0, 3, 4, 5]  # within 2 of the last *retained* frame
    assert v.pruned(0).pruned(0) == v.pruned(0)
    with pytest.raises(ValueError):
        v.pruned(-1)


# ------------------------------------------------------------------------------------------------ matching


def test_distance_threshold_is_inclusive() -> None:
    a = rand_hash()
    assert match_vpdq(video([flip(a, 31)]), video([a])).matched
    assert not match_vpdq(video([flip(a, 32)]), video([a])).matched
    assert match_vpdq(video([flip(a, 32)]), video([a]), distance=32).matched


def test_eighty_percent_of_distinct_target_frames() -> None:
    target_hashes = [rand_hash() for _ in range(10)]
    # duplicates in the target do not count twice: 8 distinct of 10 matched = 80 %
    target = video(target_hashes + target_hashes[:3] * 5)
    query = video([flip(h, 5) for h in target_hashes[:8]] + [rand_hash() for _ in range(8)])
    m = match_vpdq(query, target)
    assert m.target_pct == pytest.approx(80.0) and m.query_pct == pytest.approx(50.0) and m.matched
    m7 = match_vpdq(video([flip(h, 5) for h in target_hashes[:7]]), target)
    assert m7.target_pct == pytest.approx(70.0) and m7.query_pct == pytest.approx(100.0) and not m7.matched
    assert not match_vpdq(query, target, query_pct=60.0).matched


def test_low_quality_frames_are_ignored() -> None:
    hs = [rand_hash() for _ in range(5)]
    target = VpdqHash(tuple(VpdqFrame(i, 90 if i < 4 else 10, h, 0.0) for i, h in enumerate(hs)))
    assert match_vpdq(video(hs[:4]), target).target_pct == pytest.approx(100.0)
    assert match_vpdq(video(hs, quality=49), target) == match_vpdq(video([]), target)
    empty = match_vpdq(video(hs, quality=49), target)
    assert (empty.query_pct, empty.target_pct, empty.matched) == (0.0, 0.0, False)


def test_matching_agrees_with_a_naive_double_loop() -> None:
    base = [rand_hash() for _ in range(40)]
    q = video([flip(h, int(RNG.integers(0, 60))) for h in base[:30]] + [rand_hash() for _ in range(10)])
    t = video(base)
    qd = {f.pdq for f in q.frames}
    td = {f.pdq for f in t.frames}
    q_hit = sum(any(hamming_distance(a, b) <= 31 for b in td) for a in qd)
    t_hit = sum(any(hamming_distance(a, b) <= 31 for a in qd) for b in td)
    m = match_vpdq(q, t)
    assert m.query_pct == pytest.approx(100 * q_hit / len(qd))
    assert m.target_pct == pytest.approx(100 * t_hit / len(td))


# ------------------------------------------------------------------------------------------------ hashing


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("h") / "clip.mp4", frames=45, fps=15, size=(160, 120))


def test_hash_video_is_pdq_of_each_sampled_frame(clip: Path) -> None:
    h = hash_video(clip, seconds_per_frame=1.0)
    with open_video(clip) as reader:
        frames = list(reader.frames(seconds_per_frame=1.0))
    assert [f.index for f in h.frames] == [0, 15, 30]
    assert [f.pdq for f in h.frames] == [pdq_from_rgb(f.rgb).hash for f in frames]
    assert [f.quality for f in h.frames] == [pdq_from_rgb(f.rgb).quality for f in frames]
    assert h.size == (160, 120) and h.fps == pytest.approx(15.0) and h.duration == pytest.approx(3.0)
    every = hash_video(clip.read_bytes(), seconds_per_frame=None)
    assert len(every) == 45 and every.frames[15] == h.frames[1]


def test_fast_decoding_stays_close_to_exact(shared_data: Path) -> None:
    """``fast`` skips deblocking and non-reference frames: same seconds sampled, hashes a few bits off."""
    path = shared_data / "video/sample-videos/pattern-sd-grey-bar.mp4"
    exact = hash_video(path, seconds_per_frame=1.0)
    quick = hash_video(path, seconds_per_frame=1.0, fast=True)
    assert len(quick) == len(exact) == 7
    assert all(0 <= q.timestamp - e.timestamp < 0.1 for q, e in zip(quick.frames, exact.frames, strict=True))
    same = [(q, e) for q, e in zip(quick.frames, exact.frames, strict=True) if q.index == e.index]
    assert len(same) >= 4
    assert all(hamming_distance(q.pdq, e.pdq) <= 16 for q, e in same if e.quality >= 50)


def test_max_side_hashes_smaller_frames(clip: Path) -> None:
    small = hash_video(clip, seconds_per_frame=1.0, max_side=64)
    with open_video(clip) as reader:
        frames = list(reader.frames(seconds_per_frame=1.0, max_side=64))
    assert frames[0].rgb.shape == (48, 64, 3)
    assert [f.pdq for f in small.frames] == [pdq_from_rgb(f.rgb).hash for f in frames]


def test_hash_video_errors_are_video_errors() -> None:
    with pytest.raises(VideoDecodeError):
        hash_video(b"\x00\x00\x00\x18ftypmp42" + bytes(64))


def test_threaded_decoding_gives_the_same_hash(clip: Path) -> None:
    assert hash_video(clip, seconds_per_frame=None, threads=2).frames == hash_video(clip, seconds_per_frame=None).frames
