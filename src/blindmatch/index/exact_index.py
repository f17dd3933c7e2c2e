"""Exact-hash index for md5 / sha1 / sha256 (and video_md5): dictionary lookups with the PDQ index's shape.

Cryptographic hashes either match or they do not, so a ``dict`` from digest bytes to entry ids is both the
fastest and the simplest structure. It shares the PDQ index's contract: caller-chosen int64 ids, ``add`` /
``remove`` taking effect immediately, strict validation, and checksummed atomic snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from blindmatch.hashing.signals import (
    EXACT_SIGNAL_TYPES,
    HASH_HEX_LENGTHS,
    SignalType,
    normalize_hash,
    parse_signal_type,
)
from blindmatch.index.errors import (
    DuplicateIdError,
    InvalidIdError,
    MalformedHashError,
    SnapshotCorruptError,
    UnknownIdError,
)
from blindmatch.index.pdq_index import as_id_array
from blindmatch.index.snapshot import read_snapshot, write_snapshot

__all__ = ["ExactHashIndex"]

_KIND = "blindmatch.exact"
_VERSION = 1


class ExactHashIndex:
    """Entry ids by exact digest for one exact signal type. Several ids may share a digest (different lists)."""

    def __init__(self, signal_type: str | SignalType) -> None:
        st = parse_signal_type(signal_type)
        if st not in EXACT_SIGNAL_TYPES:
            raise MalformedHashError(f"{st.value} is not an exact-match signal type")
        self.signal_type = st
        self._nbytes = HASH_HEX_LENGTHS[st] // 2
        self._by_digest: dict[bytes, list[int]] = {}
        self._by_id: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, entry_id: object) -> bool:
        return isinstance(entry_id, int) and entry_id in self._by_id

    def _digest(self, value: object) -> bytes:
        """Accept the canonical hex form (any case) or the raw digest bytes; anything else is rejected."""
        if isinstance(value, (bytes, bytearray)):
            if len(value) != self._nbytes:
                raise MalformedHashError(
                    f"{self.signal_type.value} digest must be {self._nbytes} bytes, got {len(value)}"
                )
            return bytes(value)
        try:
            return bytes.fromhex(normalize_hash(self.signal_type, value))
        except ValueError as exc:
            raise MalformedHashError(str(exc)) from exc

    def add(self, ids: object, hashes: Sequence[object]) -> None:
        """Add entries (all-or-nothing: a bad hash or a duplicate id leaves the index unchanged)."""
        id_arr = as_id_array(ids)
        if isinstance(hashes, (str, bytes, bytearray)):
            raise MalformedHashError("hashes must be a sequence of hashes, not a single value")
        digests = [self._digest(h) for h in hashes]
        if len(digests) != id_arr.shape[0]:
            raise InvalidIdError(f"got {id_arr.shape[0]} ids for {len(digests)} hashes")
        seen: set[int] = set()
        for i in id_arr.tolist():
            if i in seen or i in self._by_id:
                raise DuplicateIdError(f"id {i} is already in the index (or repeated in this add)")
            seen.add(i)
        for i, d in zip(id_arr.tolist(), digests, strict=True):
            self._by_id[i] = d
            self._by_digest.setdefault(d, []).append(i)

    def remove(self, ids: object, missing_ok: bool = False) -> int:
        """Remove entries by id; unknown ids raise :class:`UnknownIdError` unless ``missing_ok``."""
        id_list = sorted(set(as_id_array(ids).tolist()))
        missing = [i for i in id_list if i not in self._by_id]
        if missing and not missing_ok:
            raise UnknownIdError(f"{len(missing)} id(s) not in the index, e.g. {missing[0]}")
        removed = 0
        for i in id_list:
            d = self._by_id.pop(i, None)
            if d is None:
                continue
            bucket = self._by_digest[d]
            bucket.remove(i)
            if not bucket:
                del self._by_digest[d]
            removed += 1
        return removed

    def lookup(self, value: object) -> np.ndarray:
        """Sorted ids of the entries whose digest equals ``value``."""
        return np.array(sorted(self._by_digest.get(self._digest(value), ())), dtype=np.int64)

    def lookup_batch(self, values: Iterable[object]) -> list[np.ndarray]:
        return [self.lookup(v) for v in values]

    def save(self, path: Path | str) -> int:
        ids = np.fromiter(self._by_id.keys(), dtype=np.int64, count=len(self._by_id))
        digests = np.frombuffer(b"".join(self._by_id.values()), dtype=np.uint8).reshape(-1, self._nbytes)
        meta = {"signal_type": self.signal_type.value}
        return write_snapshot(Path(path), _KIND, _VERSION, meta, {"ids": ids, "digests": digests})

    @classmethod
    def load(cls, path: Path | str) -> ExactHashIndex:
        meta, arrays = read_snapshot(Path(path), _KIND, _VERSION)
        try:
            index = cls(str(meta["signal_type"]))
            ids, digests = arrays["ids"], arrays["digests"]
            if ids.dtype != np.int64 or digests.shape != (ids.shape[0], index._nbytes):
                raise ValueError("array shapes disagree with the signal type")
            index.add(ids, [bytes(row) for row in digests])
        except (KeyError, ValueError, TypeError) as exc:
            raise SnapshotCorruptError(f"{path}: inconsistent exact index snapshot ({exc})") from exc
        return index
