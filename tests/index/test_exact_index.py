"""Exact-hash (md5/sha1/sha256) index: lookups, incremental changes, persistence, validation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from blindmatch.index import (
    DuplicateIdError,
    ExactHashIndex,
    MalformedHashError,
    SnapshotCorruptError,
    SnapshotVersionError,
    UnknownIdError,
)


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def test_lookup_add_remove() -> None:
    index = ExactHashIndex("md5")
    index.add([1, 2, 3], [_md5("a"), _md5("b").upper(), bytes.fromhex(_md5("a"))])
    assert index.lookup(_md5("a")).tolist() == [1, 3]
    assert index.lookup(_md5("b")).tolist() == [2]
    assert index.lookup(_md5("zzz")).tolist() == []
    assert index.remove([1]) == 1
    assert index.lookup(_md5("a")).tolist() == [3]
    assert [r.tolist() for r in index.lookup_batch([_md5("a"), _md5("b")])] == [[3], [2]]
    assert len(index) == 2 and 3 in index and 1 not in index


def test_validation() -> None:
    index = ExactHashIndex("sha256")
    with pytest.raises(MalformedHashError):
        index.add([1], [_md5("a")])  # an md5 is too short for sha256
    with pytest.raises(MalformedHashError):
        index.lookup("x" * 64)
    with pytest.raises(MalformedHashError):
        index.lookup(b"\x00" * 31)
    with pytest.raises(MalformedHashError):
        ExactHashIndex("pdq")
    index.add([1], [hashlib.sha256(b"x").hexdigest()])
    with pytest.raises(DuplicateIdError):
        index.add([1], [hashlib.sha256(b"y").hexdigest()])
    with pytest.raises(DuplicateIdError):
        index.add([5, 5], [hashlib.sha256(b"y").hexdigest()] * 2)
    assert len(index) == 1  # failed adds changed nothing
    with pytest.raises(UnknownIdError):
        index.remove([42])


def test_persist_roundtrip_and_corruption(tmp_path: Path) -> None:
    index = ExactHashIndex("sha1")
    digests = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(100)]
    index.add(list(range(100)), digests)
    path = tmp_path / "sha1.bmi"
    index.save(path)
    loaded = ExactHashIndex.load(path)
    assert loaded.signal_type.value == "sha1" and len(loaded) == 100
    assert loaded.lookup(digests[42]).tolist() == [42]
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(SnapshotCorruptError):
        ExactHashIndex.load(path)
    ExactHashIndex("md5").save(path)
    assert len(ExactHashIndex.load(path)) == 0
    from blindmatch.index import PDQIndex

    with pytest.raises(SnapshotVersionError):
        PDQIndex.load(path)
