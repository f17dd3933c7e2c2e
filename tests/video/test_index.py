"""VpdqIndex: verdicts equal pairwise match_vpdq, add/remove, persistence, corrupt snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blindmatch.hashing.vpdq import VpdqFrame, VpdqHash, match_vpdq
from blindmatch.index.errors import DuplicateIdError, InvalidIdError, SnapshotCorruptError, UnknownIdError
from blindmatch.index.vpdq_index import VpdqIndex

RNG = np.random.default_rng(99)


def rand_hash() -> str:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def near(h: str, bits: int) -> str:
    """``h`` with ``bits`` random bits flipped."""
    value = int(h, 16)
    for b in RNG.choice(256, size=bits, replace=False):
        value ^= 1 << int(b)
    return f"{value:064x}"


def video(hashes: list[str], quality: int = 90) -> VpdqHash:
    return VpdqHash(tuple(VpdqFrame(i, quality, h, float(i)) for i, h in enumerate(hashes)))


@pytest.fixture()
def library() -> dict[str, VpdqHash]:
    """20 listed videos; 'shared-a' and 'shared-b' share half their frames."""
    vids = {f"v{i:02d}": video([rand_hash() for _ in range(int(RNG.integers(3, 30)))]) for i in range(18)}
    common = [rand_hash() for _ in range(10)]
    vids["shared-a"] = video(common + [rand_hash() for _ in range(10)])
    vids["shared-b"] = video(common + [rand_hash() for _ in range(10)])
    return vids


def _queries(library: dict[str, VpdqHash]) -> list[VpdqHash]:
    out = []
    for v in [*list(library.values())[:6], library["shared-a"]]:
        frames = [f.pdq for f in v.frames]
        keep = frames[: max(1, int(len(frames) * RNG.uniform(0.5, 1.0)))]
        out.append(video([near(h, int(RNG.integers(0, 40))) for h in keep] + [rand_hash() for _ in range(5)]))
    out.append(video([rand_hash() for _ in range(20)]))
    return out


def _brute(library: dict[str, VpdqHash], q: VpdqHash, pct: float) -> dict[str, tuple[float, float]]:
    out = {}
    for vid, v in library.items():
        m = match_vpdq(q, v, target_pct=pct)
        if m.matched and m.target_pct > 0:
            out[vid] = (m.query_pct, m.target_pct)
    return out


def test_search_equals_pairwise_matching(library: dict[str, VpdqHash]) -> None:
    index = VpdqIndex()
    for vid, v in library.items():
        index.add(vid, v)
    assert len(index) == 20 and index.frame_count == sum(len({f.pdq for f in v.frames}) for v in library.values())
    verdicts = {0.0: 0, 80.0: 0}
    queries = [*_queries(library), library["v05"], video([near(f.pdq, 20) for f in library["v06"].frames])]
    for q in queries:
        for pct in verdicts:
            got = {m.video_id: (m.query_pct, m.target_pct) for m in index.search(q, target_pct=pct)}
            want = _brute(library, q, pct)
            assert got.keys() == want.keys()
            for vid in got:
                assert got[vid] == pytest.approx(want[vid])
            verdicts[pct] += len(got)
    assert verdicts[80.0] >= 2 and verdicts[0.0] > verdicts[80.0]
    # thresholds can be changed per search: 0 % returns every video sharing a frame
    q = video([f.pdq for f in library["shared-a"].frames][:10])
    ids = [m.video_id for m in index.search(q, target_pct=0.0)]
    assert set(ids) == {"shared-a", "shared-b"}
    assert index.search(q, target_pct=0.0, query_pct=100.0)[0].query_pct == 100.0


def test_add_remove(library: dict[str, VpdqHash]) -> None:
    index = VpdqIndex()
    index.add("a", library["v00"])
    index.add("b", library["v01"])
    q = library["v00"]
    assert [m.video_id for m in index.search(q)] == ["a"]
    with pytest.raises(DuplicateIdError):
        index.add("a", library["v02"])
    with pytest.raises(InvalidIdError):
        index.add("", library["v02"])
    index.remove("a")
    assert index.search(q) == [] and "a" not in index and "b" in index
    with pytest.raises(UnknownIdError):
        index.remove("a")
    index.add("a", library["v02"])  # ids can be reused after removal
    assert [m.video_id for m in index.search(library["v02"])] == ["a"]
    # a video with only low-quality frames is stored but can never match (as in the reference)
    assert index.add("dark", video([rand_hash()], quality=10)) == 0
    assert index.search(video([f.pdq for f in library["v03"].frames])) == []


def test_save_load_round_trip(tmp_path: Path, library: dict[str, VpdqHash]) -> None:
    index = VpdqIndex()
    for vid, v in library.items():
        index.add(vid, v)
    index.remove("v03")
    index.save(tmp_path / "idx")
    loaded = VpdqIndex.load(tmp_path / "idx")
    assert len(loaded) == len(index) and loaded.frame_count == index.frame_count
    for q in _queries(library):
        assert loaded.search(q) == index.search(q)
    loaded.add("new", library["v03"])  # keys continue after the stored ones
    assert loaded.search(library["v03"])[0].video_id == "new"


def test_corrupt_snapshots(tmp_path: Path, library: dict[str, VpdqHash]) -> None:
    index = VpdqIndex()
    index.add("a", library["v00"])
    index.add("b", library["v01"])
    d = tmp_path / "idx"
    index.save(d)
    meta = json.loads((d / "videos.json").read_text())
    bad = dict(meta, videos={"a": meta["videos"]["a"]})  # frames of 'b' still in frames.idx
    (d / "videos.json").write_text(json.dumps(bad))
    with pytest.raises(SnapshotCorruptError, match="disagree"):
        VpdqIndex.load(d)
    (d / "videos.json").write_text("{not json")
    with pytest.raises(SnapshotCorruptError):
        VpdqIndex.load(d)
    (d / "videos.json").write_text(json.dumps(dict(meta, kind="other")))
    with pytest.raises(SnapshotCorruptError):
        VpdqIndex.load(d)
    (d / "videos.json").unlink()
    with pytest.raises(SnapshotCorruptError, match="missing"):
        VpdqIndex.load(d)
