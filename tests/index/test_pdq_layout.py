"""The compact layout: int32 ids when they fit, no ``id_order`` while ids ascend, bit-packed tombstones.

Every variant must answer exactly like brute force, survive a snapshot round trip, and keep add/remove/contains
working; snapshots that lie about the layout, and snapshots of the previous format, are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindmatch.index import PDQIndex, SnapshotCorruptError, SnapshotVersionError
from blindmatch.index import snapshot as snapshot_mod
from blindmatch.index.pdq_index import _KIND

from .helpers import clustered, flip_bits, reference

ID_KINDS = {
    "ascending-small": lambda n: np.arange(n, dtype=np.int64),
    "ascending-large": lambda n: np.arange(n, dtype=np.int64) * 3 + 2**40,
    "shuffled-small": lambda n: np.random.default_rng(n).permutation(n).astype(np.int64) - n // 2,
    "shuffled-large": lambda n: np.random.default_rng(n).permutation(n).astype(np.int64) * (2**33) - 2**50,
}


def _same(index: PDQIndex, hashes: np.ndarray, ids: np.ndarray, queries: np.ndarray, t: int = 31) -> None:
    for q, res in zip(queries, index.search_batch(queries, t, batch=5), strict=True):
        assert res.ids.dtype == np.int64
        assert dict(zip(res.ids.tolist(), res.distances.tolist(), strict=True)) == reference(hashes, ids, q, t)


@pytest.mark.parametrize("kind", sorted(ID_KINDS))
def test_id_layouts_search_remove_and_roundtrip(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 700
    ids, hashes = ID_KINDS[kind](n), clustered(rng, n, 12, 30)
    index = PDQIndex(delta_max=100)
    for lo in range(0, n, 150):  # several merges, each sorted internally
        index.add(ids[lo : lo + 150], hashes[lo : lo + 150])
    index.flush()
    small = "small" in kind
    assert index._ids.dtype == (np.int32 if small else np.int64)
    # a shuffled id stream arrives out of order across merges, so only then is an id_order needed
    assert (index._id_order is None) == kind.startswith("ascending")
    queries = np.concatenate([hashes[:12], clustered(rng, 4, 2, 40)])
    _same(index, hashes, ids, queries)
    assert all(int(i) in index for i in ids[::50]) and int(ids.max()) + 1 not in index
    gone = ids[3::7]
    assert index.remove(gone) == gone.size
    keep = ~np.isin(ids, gone)
    _same(index, hashes[keep], ids[keep], queries)
    assert np.array_equal(index.ids(), np.sort(ids[keep]))
    path = tmp_path / "i.bmi"
    index.save(path)
    loaded = PDQIndex.load(path)
    assert loaded._ids.dtype == index._ids.dtype and (loaded._id_order is None) == (index._id_order is None)
    _same(loaded, hashes[keep], ids[keep], queries)
    loaded.add([int(ids[3])], hashes[:1])  # re-adding a removed id works after the round trip
    assert int(ids[3]) in loaded and len(loaded) == int(keep.sum()) + 1


def test_one_unsorted_bulk_add_needs_no_id_order() -> None:
    """Positions of a merge are assigned in id order, so a single shuffled bulk load stays ascending."""
    rng = np.random.default_rng(2)
    ids = rng.permutation(5000).astype(np.int64)
    hashes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = PDQIndex()
    index.add(ids, hashes)
    assert index._id_order is None and index._ids.dtype == np.int32
    _same(index, hashes, ids, hashes[:20], 10)
    lean = index.nbytes()
    index.add([-1], hashes[:1])
    index.flush()  # an id smaller than every stored one: now the index needs id_order (4 bytes per entry)
    assert index._id_order is not None and index.nbytes() >= lean + 4 * 5000
    assert -1 in index and int(ids[0]) in index


def test_widening_from_int32_to_int64_keeps_everything() -> None:
    rng = np.random.default_rng(3)
    hashes = clustered(rng, 300, 5, 20)
    ids = np.concatenate([np.arange(200), 2**31 + np.arange(100)]).astype(np.int64)
    index = PDQIndex(delta_max=1000)
    index.add(ids[:200], hashes[:200])
    index.flush()
    assert index._ids.dtype == np.int32
    assert 2**31 not in index and -(2**40) not in index  # out-of-int32 lookups against int32 ids
    index.add(ids[200:], hashes[200:])
    index.flush()
    assert index._ids.dtype == np.int64 and index._id_order is None
    _same(index, hashes, ids, hashes[::30])
    assert index.remove([2**31 + 5, 7]) == 2


def test_readding_removed_ids_many_times() -> None:
    """Dead and live copies of one id coexist until compaction; exactly the live one is found."""
    rng = np.random.default_rng(4)
    base = clustered(rng, 40, 4, 20)
    index = PDQIndex(delta_max=1)
    index.add(np.arange(40), base)
    current = base.copy()
    for round_ in range(5):
        index.remove([5, 6])
        current[[5, 6]] = rng.integers(0, 256, (2, 32), dtype=np.uint8)
        index.add([5, 6], current[[5, 6]])
        assert 5 in index and len(index) == 40, round_
        _same(index, current, np.arange(40, dtype=np.int64), current[[5, 6, 7]], 20)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    wide=st.booleans(),
    chunks=st.integers(1, 5),
    delta_max=st.sampled_from([1, 7, 4096]),
)
def test_random_add_remove_sequences_match_brute_force(
    seed: int, n: int, wide: bool, chunks: int, delta_max: int
) -> None:
    rng = np.random.default_rng(seed)
    hashes = clustered(rng, n, 3, 40)
    ids = rng.choice(2**40 if wide else 4 * n, size=n, replace=False).astype(np.int64) - (2**39 if wide else n)
    index = PDQIndex(delta_max=delta_max)
    cuts = np.sort(rng.integers(0, n + 1, size=chunks))
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [n]]), strict=True):
        index.add(ids[lo:hi], hashes[lo:hi])
    gone = rng.choice(ids, size=int(rng.integers(0, n + 1)), replace=False)
    index.remove(gone)
    keep = ~np.isin(ids, gone)
    q = np.array([flip_bits(hashes[int(rng.integers(0, n))], int(rng.integers(0, 40)), rng) for _ in range(3)])
    _same(index, hashes[keep], ids[keep], q, int(rng.integers(0, 48)))
    assert np.array_equal(index.ids(), np.sort(ids[keep]))


def _saved(tmp_path: Path, shuffled: bool) -> tuple[dict[str, object], dict[str, np.ndarray], Path]:
    rng = np.random.default_rng(5)
    index = PDQIndex(delta_max=50)
    ids = np.concatenate([np.arange(200, 400), np.arange(200)]) if shuffled else np.arange(400)
    hashes = clustered(rng, 400, 8, 30)
    index.add(ids[:200], hashes[:200])
    index.add(ids[200:], hashes[200:])  # the second half's ids are all smaller: an id_order is needed
    index.remove(ids[:9])
    path = tmp_path / "s.bmi"
    index.save(path)
    meta, arrays = snapshot_mod.read_snapshot(path, _KIND, 2)
    return meta, arrays, path


@pytest.mark.parametrize(
    ("shuffled", "damage", "message"),
    [
        (False, lambda m, a: a.update(ids=a["ids"][::-1].copy()), "not"),
        (False, lambda m, a: a.update(id_order=np.arange(a["ids"].shape[0], dtype=np.uint32)), "id_order is stored"),
        (False, lambda m, a: m.update(ids_ascending="yes"), "boolean"),
        (False, lambda m, a: a.update(ids=a["ids"].astype(np.uint8)), "dtypes"),
        (False, lambda m, a: a.update(alive=a["alive"][:-1].copy()), "lengths"),
        (False, lambda m, a: m.update(n_dead=0), "tombstone count"),
        (True, lambda m, a: a.update(id_order=np.zeros_like(a["id_order"])), "permutation"),
        (True, lambda m, a: a.update(id_order=a["id_order"][::-1].copy()), "does not sort"),
        (True, lambda m, a: a.pop("id_order"), "id_order"),
    ],
)
def test_snapshot_lying_about_its_layout_is_refused(tmp_path: Path, shuffled: bool, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    meta, arrays, path = _saved(tmp_path, shuffled)
    damage(meta, arrays)
    snapshot_mod.write_snapshot(path, _KIND, 2, meta, arrays)  # valid checksum, inconsistent content
    with pytest.raises(SnapshotCorruptError, match=message):
        PDQIndex.load(path)


def test_bits_beyond_the_last_entry_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.bmi"
    index = PDQIndex()  # 13 entries: the last bitmap byte has 3 unused bits
    index.add(np.arange(13), np.zeros((13, 32), np.uint8))
    index.save(path)
    meta, arrays = snapshot_mod.read_snapshot(path, _KIND, 2)
    arrays["alive"] = arrays["alive"] | np.uint8(0x80)
    snapshot_mod.write_snapshot(path, _KIND, 2, meta, arrays)
    with pytest.raises(SnapshotCorruptError, match="beyond"):
        PDQIndex.load(path)


def test_previous_format_is_refused_with_advice(tmp_path: Path) -> None:
    """A version-1 snapshot (int64 ids, bool tombstones, id_order always) is refused, never misread."""
    path = tmp_path / "v1.bmi"
    n = 3
    arrays = {
        "perm": np.arange(256, dtype=np.uint16),
        "cols": np.zeros((4, n), np.uint64),
        "ids": np.arange(n, dtype=np.int64),
        "alive": np.ones(n, np.bool_),
        "id_order": np.arange(n, dtype=np.uint32),
    }
    snapshot_mod.write_snapshot(path, _KIND, 1, {"widths": [24] * 11}, arrays)
    with pytest.raises(SnapshotVersionError, match=r"version 1.*rebuild it from its hash list"):
        PDQIndex.load(path)


def test_nbytes_of_the_compact_layout() -> None:
    """11 chunks, ascending int32 ids, no removals: 32 + 4 + 1/8 + 11 x 4 bytes per entry plus fixed tables."""
    n = 20000
    index = PDQIndex()
    index.add(np.arange(n), np.random.default_rng(6).integers(0, 256, (n, 32), dtype=np.uint8))
    fixed = PDQIndex().nbytes()
    per_entry = (index.nbytes() - fixed) / n
    assert per_entry == 80.125, per_entry


@pytest.mark.parametrize(
    ("plan", "bits", "message"),
    [((16, 16), 1 << 28, "suffix bits exceed"), ((11, 20), 0x0FFFFFFF, "out of range")],
)
def test_table_entries_with_impossible_suffix_or_position_are_refused(
    tmp_path: Path, plan: tuple[int, int], bits: int, message: str
) -> None:
    """Table entries pack ``suffix << 28 | position``; a suffix wider than the chunk or a position past the end
    would make searches read garbage, so load refuses them."""
    index = PDQIndex(chunks=plan[0], prefix_bits=plan[1])
    index.add(np.arange(20), clustered(np.random.default_rng(8), 20, 3, 20))
    path = tmp_path / "t.bmi"
    index.save(path)
    meta, arrays = snapshot_mod.read_snapshot(path, _KIND, 2)
    arrays["table0"] = arrays["table0"] | np.uint32(bits)
    snapshot_mod.write_snapshot(path, _KIND, 2, meta, arrays)
    with pytest.raises(SnapshotCorruptError, match=message):
        PDQIndex.load(path)


def test_capacity_is_bounded_by_the_position_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    from blindmatch.index import CapacityError, pdq_index

    assert pdq_index._MAX_ENTRIES == (1 << pdq_index._POS_BITS) - 1  # positions must fit below the suffix bits
    monkeypatch.setattr(pdq_index, "_MAX_ENTRIES", 10)
    index = PDQIndex()
    index.add(np.arange(10), np.zeros((10, 32), np.uint8))
    with pytest.raises(CapacityError):
        index.add([10], np.zeros((1, 32), np.uint8))
    assert len(index) == 10
