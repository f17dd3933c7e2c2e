"""Incremental add/remove, duplicates, empty index, persistence and input validation of the PDQ index."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from blindmatch.index import (
    DuplicateIdError,
    InvalidIdError,
    InvalidThresholdError,
    MalformedHashError,
    PDQIndex,
    SnapshotCorruptError,
    SnapshotError,
    SnapshotVersionError,
    UnknownIdError,
    hex_to_hash_array,
    search_dihedral,
)
from blindmatch.index import snapshot as snapshot_mod

from .helpers import clustered, flip_bits, reference


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return np.arange(1000, 1600, dtype=np.int64), clustered(rng, 600, 20, 30)


def _as_dict(index: PDQIndex, q: np.ndarray, t: int = 31) -> dict[int, int]:
    res = index.search(q, t)
    return dict(zip(res.ids.tolist(), res.distances.tolist(), strict=True))


def test_empty_index() -> None:
    index = PDQIndex()
    assert len(index) == 0
    assert index.search(bytes(32)).ids.shape == (0,)
    assert index.search_batch(np.zeros((0, 32), np.uint8)) == []
    assert [len(r) for r in index.search_batch(np.zeros((3, 32), np.uint8), 64)] == [0, 0, 0]


def test_add_remove_take_effect_without_flush(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex(delta_max=100)
    index.add(ids[:500], hashes[:500])  # merged into tables (>= delta_max)
    index.add(ids[500:550], hashes[500:550])  # stays pending in the delta buffer
    assert index.pending == 50 and len(index) == 550
    q = hashes[520]
    assert _as_dict(index, q) == reference(hashes[:550], ids[:550], q, 31)
    removed = index.remove([int(ids[520]), int(ids[3])])
    assert removed == 2 and len(index) == 548
    keep = np.ones(550, bool)
    keep[[520, 3]] = False
    for q in (hashes[520], hashes[3], hashes[10]):
        assert _as_dict(index, q) == reference(hashes[:550][keep], ids[:550][keep], q, 31)
    assert int(ids[3]) not in index and int(ids[4]) in index


def test_remove_then_readd_same_id_with_new_hash(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex(delta_max=1)
    index.add(ids, hashes)
    index.remove([int(ids[0])])
    new = np.full(32, 0xAB, np.uint8)
    index.add([int(ids[0])], new[None, :])
    index.flush()
    assert index.search(new, 0).ids.tolist() == [int(ids[0])]
    assert int(ids[0]) not in index.search(hashes[0], 0).ids.tolist()
    index.remove([int(ids[0])])  # the live copy is found although a dead one shares its id
    assert int(ids[0]) not in index


def test_compaction_after_many_removals(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex(delta_max=1)
    index.add(ids, hashes)
    index.remove(ids[::2])  # > 25 % dead: triggers compaction
    assert len(index) == 300
    assert index.nbytes() < PDQIndex(delta_max=1).nbytes() + 300 * 150  # dead entries were dropped
    for q in hashes[:20]:
        assert _as_dict(index, q) == reference(hashes[1::2], ids[1::2], q, 31)


def test_duplicate_and_unknown_ids(data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex()
    with pytest.raises(DuplicateIdError):
        index.add([1, 1], hashes[:2])
    assert len(index) == 0  # nothing half-added
    index.add(ids[:10], hashes[:10])
    with pytest.raises(DuplicateIdError):
        index.add([int(ids[5])], hashes[:1])
    index.flush()
    with pytest.raises(DuplicateIdError):
        index.add([int(ids[5])], hashes[:1])
    with pytest.raises(UnknownIdError, match="not in the index"):
        index.remove([99999])
    assert index.remove([99999, int(ids[0])], missing_ok=True) == 1


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 31), np.uint8),
        np.zeros((2, 32), np.int64),
        np.zeros((2, 2, 32), np.uint8),
        "00" * 32,
        [b"\x00" * 31],
        [bytes(32), "00" * 32],
        42,
    ],
)
def test_malformed_hashes_rejected(bad: object) -> None:
    index = PDQIndex()
    with pytest.raises(MalformedHashError):
        index.add(list(range(2)), bad)
    with pytest.raises(MalformedHashError):
        index.search_batch(bad)


def test_bad_ids_and_lengths() -> None:
    index = PDQIndex()
    with pytest.raises(InvalidIdError):
        index.add([1.5, 2.0], np.zeros((2, 32), np.uint8))
    with pytest.raises(InvalidIdError):
        index.add([2**64], np.zeros((1, 32), np.uint8))
    with pytest.raises(InvalidIdError, match="3 ids for 2 hashes"):
        index.add([1, 2, 3], np.zeros((2, 32), np.uint8))
    with pytest.raises(InvalidIdError):
        index.add(np.array([True, False]), np.zeros((2, 32), np.uint8))


def test_hex_parsing_is_strict() -> None:
    good = "f" * 64
    assert hex_to_hash_array([good.upper()]).tolist() == [[255] * 32]
    for bad in ("f" * 63, "g" * 64, 12):
        with pytest.raises(MalformedHashError):
            hex_to_hash_array([bad])  # type: ignore[list-item]


@pytest.mark.parametrize("t", [-1, 257, 1.5, True, "31", None])
def test_threshold_bounds(t: object) -> None:
    index = PDQIndex()
    index.add([1], np.zeros((1, 32), np.uint8))
    with pytest.raises(InvalidThresholdError):
        index.search(bytes(32), t)  # type: ignore[arg-type]


def test_search_rejects_bad_method_and_batch() -> None:
    index = PDQIndex()
    with pytest.raises(ValueError, match="method"):
        index.search_batch(np.zeros((1, 32), np.uint8), method="magic")
    with pytest.raises(ValueError, match="batch"):
        index.search_batch(np.zeros((1, 32), np.uint8), batch=0)
    with pytest.raises(MalformedHashError, match="one hash"):
        index.search(np.zeros((2, 32), np.uint8))


def test_dihedral_merge_keeps_minimum_distance() -> None:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, 32, dtype=np.uint8)
    index = PDQIndex()
    index.add([7, 8], np.array([base, flip_bits(base, 40, rng)]))
    variants = np.array([flip_bits(base, 10, rng), base, rng.integers(0, 256, 32, dtype=np.uint8)])
    res = search_dihedral(index, variants, 31)
    assert res.ids.tolist() == [7] and res.distances.tolist() == [0]
    with pytest.raises(MalformedHashError):
        search_dihedral(index, np.zeros((9, 32), np.uint8))


# ---------------------------------------------------------------- persistence


def test_save_load_roundtrip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex(delta_max=64)
    index.add(ids, hashes)
    index.remove(ids[:5])
    index.add([5, 6], hashes[:2])  # pending: save must include it
    path = tmp_path / "pdq.bmi"
    size = index.save(path)
    assert size == path.stat().st_size
    loaded = PDQIndex.load(path)
    assert len(loaded) == len(index) == 597
    queries = np.concatenate([hashes[:30], clustered(np.random.default_rng(9), 10, 3, 40)])
    for a, b in zip(index.search_batch(queries), loaded.search_batch(queries), strict=True):
        assert a.ids.tolist() == b.ids.tolist() and a.distances.tolist() == b.distances.tolist()
    loaded.add([12345], hashes[:1])  # a reloaded index stays mutable
    assert 12345 in loaded.search(hashes[0], 0).ids.tolist()


def test_corrupted_snapshot_is_rejected(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    ids, hashes = data
    index = PDQIndex()
    index.add(ids, hashes)
    path = tmp_path / "pdq.bmi"
    index.save(path)
    raw = path.read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x10
    for damaged in (bytes(flipped), raw[: len(raw) // 3], raw[:10], b"", b"not a snapshot at all" * 10):
        path.write_bytes(damaged)
        with pytest.raises(SnapshotCorruptError):
            PDQIndex.load(path)
    with pytest.raises(SnapshotError, match="does not exist"):
        PDQIndex.load(tmp_path / "missing.bmi")


def test_wrong_kind_or_version(tmp_path: Path) -> None:
    path = tmp_path / "x.bmi"
    snapshot_mod.write_snapshot(path, "something-else", 1, {}, {"a": np.zeros(3, np.uint8)})
    with pytest.raises(SnapshotVersionError, match="something-else"):
        PDQIndex.load(path)
    snapshot_mod.write_snapshot(path, "blindmatch.pdq-mih", 99, {}, {})
    with pytest.raises(SnapshotVersionError, match="version 99"):
        PDQIndex.load(path)


def test_consistent_checksum_but_inconsistent_arrays(tmp_path: Path) -> None:
    """A well-formed file whose arrays do not describe a valid index (e.g. hand-edited) is refused."""
    path = tmp_path / "x.bmi"
    snapshot_mod.write_snapshot(path, "blindmatch.pdq-mih", 2, {"widths": [1]}, {"ids": np.zeros(2, np.int64)})
    with pytest.raises(SnapshotCorruptError, match="inconsistent"):
        PDQIndex.load(path)


def test_crash_during_save_leaves_previous_snapshot(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, hashes = data
    path = tmp_path / "pdq.bmi"
    old = PDQIndex()
    old.add(ids[:100], hashes[:100])
    old.save(path)
    before = path.read_bytes()
    bigger = PDQIndex()
    bigger.add(ids, hashes)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("simulated power loss before rename")

    monkeypatch.setattr(snapshot_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        bigger.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert len(PDQIndex.load(path)) == 100
    assert os.listdir(tmp_path) == ["pdq.bmi"]  # the temp file was cleaned up
