"""Exact PDQ Hamming-radius index: multi-index hashing over direct-addressed CSR tables.

Why this design (Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index hashing"): the 256 bits
are cut into ``m`` chunks. By the pigeonhole principle an entry within distance ``t`` of a query agrees with it,
in at least one chunk, up to a small radius (see :func:`radii_for_threshold`). So for each chunk we enumerate the
few keys within that radius of the query's chunk, read the matching entries from a table, and verify each
candidate's full distance. Nothing within ``t`` can be missed, so the result equals a brute-force scan.

Layout (``N`` entries; default 11 chunks of 24/23 bits, 80 bytes per entry against 32 raw, 847 MB at 10M):

* ``cols``: the permuted hashes, shape ``(4, N)`` uint64 — one contiguous row per 64-bit word, so candidate
  verification gathers one word at a time and drops a candidate as soon as its partial distance exceeds ``t``;
* ``ids``: int32 while every id fits, else int64. Each merge appends its entries in id order, so as long as ids
  arrive in increasing order (the matcher's keys do) positions are sorted by id and a removal is a binary search;
  only out-of-order adds make the index keep ``id_order`` (uint32 positions sorted by id, 4 more bytes/entry);
* ``alive``: tombstones, one bit per entry;
* per chunk a CSR table: ``table`` (uint32 entries grouped by the chunk's low 20 bits, 4 bytes/entry) and
  ``offsets`` (``2**20 + 1`` uint32, so a probe is two array reads). An entry is ``suffix << 28 | position``:
  the chunk's remaining 3-4 *suffix* bits ride in the top bits (hence at most ``2**28 - 1`` entries). Wider
  chunks mean far fewer false candidates; the suffix lets a bucket scan drop most of them from the same
  sequential read that yields the positions, before the expensive random reads of ``cols``.

Chunk count, measured in queries per CPU-second at t = 31 on 3 million uniform hashes: 11 chunks 4.2k, 13 chunks
3.9k, 12 chunks 3.4k, 10 chunks (22-bit prefix) 3.8k. Fewer chunks need larger probe radii (many more buckets);
more chunks leave every probed bucket's entries to the expensive random-access verification.

A candidate reachable through several chunks is reported once: it is accepted only from the first chunk whose
probe radius covers it, which needs no sort or hash set. Adds go to a small delta buffer (scanned brute force) and
are merged into the tables with an O(N) ``np.insert`` once the buffer fills; removals set tombstones, and the
arrays are compacted when more than a quarter of the entries are dead.

Queries run in one of two engines over the same arrays: the C extension ``_mihprobe`` (default when built: the
whole probe / suffix filter / verification / first-finder loop with prefetching and the GIL released, about half
the CPU per query at 10M) or the NumPy code below (the fallback). They return identical results.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blindmatch.index.bits import (
    HASH_BITS,
    ChunkPlan,
    as_hash_array,
    chunk_keys,
    chunk_word_masks,
    default_permutation,
    permute_to_cols,
    prefix_probes,
    radii_for_threshold,
    validate_threshold,
)
from blindmatch.index.engine import compiled_probe, compiled_scan, resolve_engine
from blindmatch.index.errors import (
    CapacityError,
    DuplicateIdError,
    InvalidIdError,
    MalformedHashError,
    SnapshotCorruptError,
    SnapshotVersionError,
    UnknownIdError,
)
from blindmatch.index.snapshot import read_snapshot, write_snapshot

__all__ = ["DEFAULT_THRESHOLD", "PDQIndex", "SearchResult", "as_id_array"]

DEFAULT_THRESHOLD = 31
_KIND = "blindmatch.pdq-mih"
#: 2: ids int32 when they fit, bit-packed tombstones, ``id_order`` only for out-of-order ids
_VERSION = 2
#: table entries are ``suffix << 28 | position``: positions must fit in 28 bits
_POS_BITS = 28
_POS_MASK = np.uint32((1 << _POS_BITS) - 1)
_MAX_ENTRIES = (1 << _POS_BITS) - 1
_EMPTY_IDS = np.empty(0, dtype=np.int64)
_MAX_PROBES_PER_BATCH = 1 << 21
_EMPTY_D = np.empty(0, dtype=np.int16)
#: merges that leave at least this many entries return freed heap memory to the OS (see _return_freed_memory)
_TRIM_AFTER = 1 << 18


def _suffix_lut() -> np.ndarray:
    """``lut[budget << 8 | q << 4 | s]``: is the stored suffix ``s`` within ``budget`` bits of the query suffix
    ``q``? One table read replaces xor, popcount and compare."""
    budget, q, sfx = np.meshgrid(np.arange(9), np.arange(16), np.arange(16), indexing="ij")
    lut: np.ndarray = (np.bitwise_count(sfx ^ q) <= budget).ravel()
    return lut


_SUFFIX_LUT = _suffix_lut()


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Matches of one query: entry ids and their Hamming distances, sorted by (distance, id)."""

    ids: np.ndarray
    distances: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def as_id_array(ids: object) -> np.ndarray:
    """Coerce entry ids to a 1-d int64 array or raise :class:`InvalidIdError` (floats, bools, overflow...)."""
    if isinstance(ids, (str, bytes, bytearray)):
        raise InvalidIdError(f"ids must be a sequence of integers, got {type(ids).__name__}")
    try:
        arr = np.asarray(ids)
    except (OverflowError, ValueError) as exc:
        raise InvalidIdError(f"ids must be int64 values: {exc}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidIdError(f"ids must be 1-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        if arr.dtype == object and all(isinstance(v, int) and not isinstance(v, bool) for v in arr):
            try:
                return np.array([int(v) for v in arr], dtype=np.int64)
            except OverflowError as exc:
                raise InvalidIdError(f"ids must fit in int64: {exc}") from exc
        raise InvalidIdError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidIdError("ids must fit in int64")
    return arr.astype(np.int64, copy=False)


class PDQIndex:
    """All entries within Hamming distance ``t`` of a query, exactly, for millions of 256-bit PDQ hashes.

    ``chunks`` (default 11, i.e. 24/23-bit chunks) trades probes against candidates; ``prefix_bits`` (default 20)
    is how many bits of each chunk are directly addressed, the rest (at most 4) being checked as stored suffixes;
    ``delta_max`` is how many pending adds are scanned brute force before they are merged into the tables.
    ``engine`` picks the query loop: ``"auto"`` (the compiled extension when importable), ``"compiled"`` or
    ``"numpy"``; ``None`` reads ``BLINDMATCH_INDEX_ENGINE`` (see :mod:`blindmatch.index.engine`). Both engines
    return identical results.
    """

    def __init__(
        self, chunks: int = 11, prefix_bits: int = 20, delta_max: int = 4096, engine: str | None = None
    ) -> None:
        if isinstance(delta_max, bool) or not isinstance(delta_max, int) or delta_max < 1:
            raise ValueError(f"delta_max must be a positive integer, got {delta_max!r}")
        self._engine = resolve_engine(engine)
        self._plan = ChunkPlan.even(chunks, prefix_bits)
        self._perm = default_permutation()
        self._delta_max = int(delta_max)
        self._masks = [chunk_word_masks(s, w) for s, w in zip(self._plan.starts, self._plan.widths, strict=True)]
        self._reset_main()
        self._d_cols = np.empty((4, 0), dtype=np.uint64)
        self._d_ids = np.empty(0, dtype=np.int64)

    def _reset_main(self) -> None:
        self._cols = np.empty((4, 0), dtype=np.uint64)
        self._ids = np.empty(0, dtype=np.int32)
        self._alive = np.empty(0, dtype=np.uint8)  # one bit per position (little bit order), 1 = live
        self._n_dead = 0
        self._id_order: np.ndarray | None = None  # positions sorted by id; None while ids ascend with position
        self._tables = [np.empty(0, dtype=np.uint32) for _ in self._plan.widths]
        self._offsets = [np.zeros((1 << p) + 1, dtype=np.uint32) for p in self._plan.prefixes]

    # ------------------------------------------------------------------ introspection
    def __len__(self) -> int:
        return int(self._ids.shape[0]) - self._n_dead + int(self._d_ids.shape[0])

    @property
    def chunk_widths(self) -> tuple[int, ...]:
        return self._plan.widths

    @property
    def engine(self) -> str:
        """The query loop in use: ``"compiled"`` or ``"numpy"``."""
        return self._engine

    @property
    def pending(self) -> int:
        """Entries still in the brute-force delta buffer."""
        return int(self._d_ids.shape[0])

    def nbytes(self) -> int:
        """Bytes held by the index's arrays (its resident state, excluding Python object overhead)."""
        arrays: list[np.ndarray] = [self._cols, self._ids, self._alive, self._d_cols, self._d_ids, self._perm]
        if self._id_order is not None:
            arrays.append(self._id_order)
        return sum(a.nbytes for a in arrays + self._tables + self._offsets)

    def ids(self) -> np.ndarray:
        """All live entry ids (sorted)."""
        main = self._ids[self._alive_mask()] if self._n_dead else self._ids
        return np.sort(np.concatenate([main.astype(np.int64), self._d_ids]))

    def __contains__(self, entry_id: object) -> bool:
        arr = as_id_array(entry_id)
        return bool(arr.size == 1 and (self._main_positions(arr)[0] >= 0 or np.isin(arr, self._d_ids)[0]))

    # ------------------------------------------------------------------ mutation
    def add(self, ids: object, hashes: object) -> None:
        """Add entries; they are searchable as soon as this returns. Ids must be new and unique."""
        id_arr = as_id_array(ids)
        h = as_hash_array(hashes)
        if h.shape[0] != id_arr.shape[0]:
            raise InvalidIdError(f"got {id_arr.shape[0]} ids for {h.shape[0]} hashes")
        if id_arr.size == 0:
            return
        uniq, counts = np.unique(id_arr, return_counts=True)
        if counts.max() > 1:
            raise DuplicateIdError(f"id {int(uniq[counts.argmax()])} appears {int(counts.max())} times in one add")
        present = np.isin(id_arr, self._d_ids) | (self._main_positions(id_arr) >= 0)
        if present.any():
            raise DuplicateIdError(f"id {int(id_arr[present.argmax()])} is already in the index; remove it first")
        if len(self) + self._n_dead + id_arr.size > _MAX_ENTRIES:
            raise CapacityError(f"index cannot hold more than {_MAX_ENTRIES} entries")
        cols = permute_to_cols(h, self._perm)
        if self._d_ids.size == 0:  # no concatenation copy: a bulk load of 10M entries is 320 MB of columns
            self._d_cols, self._d_ids = cols, id_arr.copy()
        else:
            self._d_cols = np.concatenate([self._d_cols, cols], axis=1)
            self._d_ids = np.concatenate([self._d_ids, id_arr])
        if self._d_ids.shape[0] >= self._delta_max:
            self.flush()

    def remove(self, ids: object, missing_ok: bool = False) -> int:
        """Remove entries by id; return how many were removed. Unknown ids raise unless ``missing_ok``."""
        id_arr = np.unique(as_id_array(ids))
        if id_arr.size == 0:
            return 0
        in_delta = np.isin(self._d_ids, id_arr)
        pos = self._main_positions(id_arr)
        found = (pos >= 0) | np.isin(id_arr, self._d_ids[in_delta])
        if not missing_ok and not found.all():
            missing = id_arr[~found]
            raise UnknownIdError(f"{missing.size} id(s) not in the index, e.g. {int(missing[0])}")
        if in_delta.any():
            keep = ~in_delta
            # boolean column selection returns a Fortran-ordered array; the compiled loop needs C order
            self._d_cols, self._d_ids = np.ascontiguousarray(self._d_cols[:, keep]), self._d_ids[keep]
        hit = pos[pos >= 0]
        np.bitwise_and.at(self._alive, hit >> 3, ~(np.uint8(1) << (hit & 7).astype(np.uint8)))
        self._n_dead += int(hit.size)
        if self._n_dead > self._ids.shape[0] // 4:
            self._compact()
        return int(found.sum())

    def flush(self) -> None:
        """Merge the delta buffer into the tables now (O(N) copy per table, no re-sort of existing entries)."""
        if self._d_ids.size == 0:
            return
        if self._n_dead > self._ids.shape[0] // 4:
            self._compact()
        n = self._ids.shape[0]
        dw, di = self._d_cols, self._d_ids
        self._d_cols, self._d_ids = np.empty((4, 0), dtype=np.uint64), np.empty(0, dtype=np.int64)
        if di.shape[0] > 1 and not bool(np.all(di[1:] > di[:-1])):
            # New positions are ours to choose: in id order, ids keep ascending with position (no id_order)
            by_id = np.argsort(di, kind="stable")
            dw, di = np.ascontiguousarray(dw[:, by_id]), di[by_id]
            del by_id
        new_pos = np.arange(n, n + di.shape[0], dtype=np.uint32)
        for c, (start, width, prefix) in enumerate(self._chunks()):
            full = chunk_keys(dw, start, width)
            keys = full & ((1 << prefix) - 1)
            order = np.argsort(keys, kind="stable")
            counts = np.bincount(keys, minlength=1 << prefix)
            # each table entry carries the chunk's suffix bits above the position: one read serves both
            entries = ((full >> prefix).astype(np.uint32) << np.uint32(_POS_BITS)) | new_pos
            del full
            entries = entries[order]
            off = self._offsets[c]
            if n == 0:
                self._tables[c] = entries
            else:
                at = off[keys[order] + 1].astype(np.int64)
                self._tables[c] = np.insert(self._tables[c], at, entries)
                del at
            del keys, order, entries
            grow = np.zeros((1 << prefix) + 1, dtype=np.uint32)
            np.cumsum(counts, out=grow[1:])
            self._offsets[c] = off + grow
        old_alive = self._alive_mask() if self._n_dead else None
        self._merge_ids(di, new_pos)
        del new_pos
        if n == 0:
            self._cols = np.ascontiguousarray(dw)  # no copy unless a caller's selection left it Fortran-ordered
        else:
            self._cols = np.concatenate([self._cols, dw], axis=1)
        del dw
        alive = np.ones(n + di.shape[0], dtype=np.bool_)
        if old_alive is not None:
            alive[:n] = old_alive
        self._alive = np.packbits(alive, bitorder="little")
        del alive
        if n + di.shape[0] >= _TRIM_AFTER:
            _return_freed_memory()

    def _merge_ids(self, di: np.ndarray, new_pos: np.ndarray) -> None:
        """Append the (id-sorted) new ids; keep them narrow and ``id_order`` absent whenever possible.

        Ids are int32 while every id fits, int64 otherwise. As long as ids never decrease along positions (the
        matcher hands out increasing keys, and each merge appends in id order), lookups by id are a plain binary
        search; only an out-of-order add makes the index build (and from then on maintain) ``id_order``.
        """
        n = self._ids.shape[0]
        i32 = np.iinfo(np.int32)
        narrow = self._ids.dtype == np.int32 and (di.size == 0 or (int(di[0]) >= i32.min and int(di[-1]) <= i32.max))
        dtype = np.int32 if narrow else np.int64
        ascending = self._id_order is None and (n == 0 or di.size == 0 or int(di[0]) >= int(self._ids[-1]))
        if ascending:
            self._ids = np.concatenate([self._ids.astype(dtype, copy=False), di.astype(dtype)])
            return
        if self._id_order is None:
            self._ids = np.concatenate([self._ids.astype(dtype, copy=False), di.astype(dtype)])
            self._id_order = np.argsort(self._ids, kind="stable").astype(np.uint32)
            return
        at = np.searchsorted(
            self._ids, di.astype(self._ids.dtype) if narrow else di, side="right", sorter=self._id_order
        )
        self._id_order = np.insert(self._id_order, at, new_pos)
        self._ids = np.concatenate([self._ids.astype(dtype, copy=False), di.astype(dtype)])

    def _alive_mask(self) -> np.ndarray:
        """The tombstone bitmap unpacked to one bool per main position."""
        n = self._ids.shape[0]
        return np.unpackbits(self._alive, count=n, bitorder="little").view(np.bool_)

    def _alive_at(self, pos: np.ndarray) -> np.ndarray:
        """Is the entry at each main position live? (one gather from the bit-packed tombstones)"""
        bits: np.ndarray = ((self._alive[pos >> 3] >> (pos & 7).astype(np.uint8)) & np.uint8(1)).view(np.bool_)
        return bits

    def _compact(self) -> None:
        """Drop tombstoned entries and rebuild the tables from the survivors (and the delta)."""
        keep = self._alive_mask()
        words = np.concatenate([self._cols[:, keep], self._d_cols], axis=1)
        ids = np.concatenate([self._ids[keep].astype(np.int64), self._d_ids])
        del keep
        self._reset_main()
        self._d_cols, self._d_ids = words, ids
        self.flush()

    def _main_positions(self, id_arr: np.ndarray) -> np.ndarray:
        """Position of each id's live main entry, or -1."""
        out = np.full(id_arr.shape[0], -1, dtype=np.int64)
        if self._ids.size == 0 or id_arr.size == 0:
            return out
        if self._ids.dtype == np.int32:  # ids outside int32 cannot be present; never widen the 10M-entry array
            i32 = np.iinfo(np.int32)
            fits = np.flatnonzero((id_arr >= i32.min) & (id_arr <= i32.max))
            sub = id_arr[fits].astype(np.int32)
        else:
            fits, sub = np.arange(id_arr.shape[0]), id_arr
        lo = np.searchsorted(self._ids, sub, side="left", sorter=self._id_order)
        hi = np.searchsorted(self._ids, sub, side="right", sorter=self._id_order)
        one = np.flatnonzero(hi - lo == 1)  # the usual case, vectorised
        pos = lo[one] if self._id_order is None else self._id_order[lo[one]].astype(np.int64)
        live = self._alive_at(pos)
        out[fits[one[live]]] = pos[live]
        for k in np.flatnonzero(hi - lo > 1):  # only after remove + re-add of an id: one live copy at most
            span = np.arange(lo[k], hi[k]) if self._id_order is None else self._id_order[lo[k] : hi[k]]
            span = span.astype(np.int64)
            live_span = span[self._alive_at(span)]
            if live_span.size:
                out[fits[k]] = int(live_span[0])
        return out

    # ------------------------------------------------------------------ search
    def search(self, query: object, t: int = DEFAULT_THRESHOLD) -> SearchResult:
        """Entries within distance ``t`` of one 32-byte hash (``bytes`` or ``(32,)`` uint8)."""
        q = [query] if isinstance(query, (bytes, bytearray)) else query
        qa = as_hash_array(q, "query")
        if qa.shape[0] != 1:
            raise MalformedHashError(f"search takes one hash, got {qa.shape[0]}; use search_batch")
        return self.search_batch(qa, t)[0]

    def search_batch(
        self,
        queries: object,
        t: int = DEFAULT_THRESHOLD,
        batch: int = 128,
        method: str = "auto",
        threads: int | None = None,
        engine: str | None = None,
    ) -> list[SearchResult]:
        """Entries within distance ``t`` of each query row of a ``(q, 32)`` uint8 array (order preserved).

        ``method`` is ``"auto"`` (probe the tables unless ``t`` is so large that a linear scan is cheaper),
        ``"probe"`` or ``"scan"``; all three return identical results, the choice only affects speed.
        Sub-batches of ``batch`` queries run on ``threads`` threads (default: up to 2 per available core count);
        NumPy releases the GIL inside its array loops, so this uses several cores. Searching is read-only and may
        run concurrently with other searches, but not with ``add``/``remove``/``flush``. ``engine`` overrides the
        index's engine for this call (``"compiled"``, ``"numpy"`` or ``"auto"``); the compiled loop releases the GIL.
        """
        engine = self._engine if engine is None else resolve_engine(engine)
        threads = _default_threads() if threads is None else threads
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        t = validate_threshold(t)
        if method not in ("auto", "probe", "scan"):
            raise ValueError(f"method must be 'auto', 'probe' or 'scan', got {method!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        qa = as_hash_array(queries, "queries")
        nq = qa.shape[0]
        if nq == 0:
            return []
        qc = permute_to_cols(qa, self._perm)
        radii = radii_for_threshold(t, self._plan.m)
        probes = max(
            sum(math.comb(p, k) for k in range(min(r, p) + 1)) for p, r in zip(self._plan.prefixes, radii, strict=True)
        )
        batch = max(1, min(batch, _MAX_PROBES_PER_BATCH // max(1, probes)))  # bound the (batch, probes) arrays

        def one(lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            sub = np.ascontiguousarray(qc[:, lo : lo + batch])
            if engine == "compiled":
                qi, pos, dist = self._search_main_compiled(sub, t, method)
                dqi, didx, ddist = self._scan_delta_compiled(sub, t)
            else:
                qi, pos, dist = self._search_main(sub, t, method)
                dqi, didx, ddist = self._scan_delta(sub, t)
            return (
                np.concatenate([qi, dqi]) + lo,
                np.concatenate([self._ids[pos], self._d_ids[didx]]),
                np.concatenate([dist, ddist]),
            )

        starts = range(0, nq, batch)
        if threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(max_workers=min(threads, len(starts))) as pool:
                parts = list(pool.map(one, starts))
        else:
            parts = [one(lo) for lo in starts]
        return _group(nq, *(np.concatenate([p[k] for p in parts]) for k in range(3)))

    def _chunks(self) -> list[tuple[int, int, int]]:
        return list(zip(self._plan.starts, self._plan.widths, self._plan.prefixes, strict=True))

    def _estimated_candidates(self, radii: Sequence[int]) -> float:
        n = self._ids.shape[0]
        total = 0.0
        for p, r in zip(self._plan.prefixes, radii, strict=True):
            if r >= 0:
                total += sum(math.comb(p, k) for k in range(min(r, p) + 1)) * n / (1 << p)
        return total

    def _use_scan(self, t: int, method: str) -> bool:
        """Scan the main arrays instead of probing? (asked, or ``t`` so large that probing touches most entries)"""
        scan_cheaper = self._estimated_candidates(radii_for_threshold(t, self._plan.m)) * 16 > self._ids.shape[0]
        return method == "scan" or (method == "auto" and scan_cheaper)

    def _search_main_compiled(self, qc: np.ndarray, t: int, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_search_main` in the C extension: same probes, same first-finder rule, GIL released."""
        if self._ids.shape[0] == 0:
            return _EMPTY_IDS, _EMPTY_IDS, _EMPTY_D
        alive = self._alive if self._n_dead else None
        if self._use_scan(t, method):
            return compiled_scan(qc, t, self._cols, alive)
        radii = radii_for_threshold(t, self._plan.m)
        return compiled_probe(qc, t, self._cols, alive, self._tables, self._offsets, self._chunks(), radii)

    def _scan_delta_compiled(self, qc: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._d_ids.size == 0:
            return _EMPTY_IDS, _EMPTY_IDS, _EMPTY_D
        return compiled_scan(qc, t, self._d_cols, None)

    def _search_main(self, qc: np.ndarray, t: int, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self._ids.shape[0]
        if n == 0:
            return _EMPTY_IDS, _EMPTY_IDS, _EMPTY_D
        radii = radii_for_threshold(t, self._plan.m)
        if self._use_scan(t, method):
            return self._scan_main(qc, t)
        out_q: list[np.ndarray] = []
        out_p: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        for c in range(self._plan.m):
            if radii[c] < 0:
                continue
            qi, pos = self._probe_chunk(qc, c, radii[c])
            if qi.size == 0:
                continue
            qi, pos, dist = self._verify(qc, t, qi, pos)
            if qi.size == 0:
                continue
            keep = self._alive_at(pos) if self._n_dead else np.ones(pos.shape[0], dtype=np.bool_)
            if c > 0:
                x = self._cols[:, pos] ^ qc[:, qi]
                for j in range(c):
                    if radii[j] >= 0:
                        dj = np.bitwise_count(x & self._masks[j][:, None]).sum(axis=0)
                        keep &= dj > radii[j]
            out_q.append(qi[keep])
            out_p.append(pos[keep])
            out_d.append(dist[keep])
        if not out_q:
            return _EMPTY_IDS, _EMPTY_IDS, _EMPTY_D
        return np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_d)

    def _probe_chunk(self, qc: np.ndarray, c: int, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidates (query index, position) whose chunk ``c`` lies within ``r`` bits of the query's.

        Every bucket whose prefix is within ``r`` is expanded; when the chunk has suffix bits, entries whose
        suffix uses up more than the remaining budget are dropped here, via a 9x256 lookup table indexed by
        ``budget << 8 | (query suffix ^ entry suffix)``, before the random-access verification.
        """
        start, width, prefix = self._plan.starts[c], self._plan.widths[c], self._plan.prefixes[c]
        masks, budget = prefix_probes(prefix, r)
        nmask = masks.shape[0]
        qfull = chunk_keys(qc, start, width)
        keys = (qfull & ((1 << prefix) - 1))[:, None] ^ masks[None, :]
        off = self._offsets[c]
        starts = off.take(keys).ravel()
        counts = off.take(keys + 1).ravel() - starts
        nz = np.flatnonzero(counts)
        if nz.size == 0:
            return _EMPTY_IDS, _EMPTY_IDS
        cnt = counts[nz].astype(np.int64)
        ends = np.cumsum(cnt)
        # One repeat gives each candidate its probe number; everything per probe (bucket start, query, suffix
        # code) is then a gather from a small array, cheaper than repeating each or binary-searching back.
        probe = np.repeat(np.arange(nz.shape[0], dtype=np.int64), cnt)
        idx = (starts[nz].astype(np.int64) - (ends - cnt)).take(probe)
        idx += np.arange(idx.shape[0], dtype=np.int64)
        entries = self._tables[c].take(idx)
        if width == prefix:
            return (nz // nmask).take(probe), (entries & _POS_MASK).astype(np.int64)
        code = (
            (np.minimum(budget, 8).astype(np.uint32) << 8)[None, :]
            | ((qfull >> prefix) << 4).astype(np.uint32)[:, None]
        ).ravel()
        sel = np.flatnonzero(_SUFFIX_LUT.take(code[nz].take(probe) | (entries >> np.uint32(_POS_BITS))))
        return (nz // nmask).take(probe.take(sel)), (entries.take(sel) & _POS_MASK).astype(np.int64)

    def _verify(
        self, qc: np.ndarray, t: int, qi: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keep candidates within ``t``, one 64-bit word at a time (most are rejected after one or two words)."""
        dist = np.zeros(pos.shape[0], dtype=np.int16)
        for w in range(4):
            dist += np.bitwise_count(self._cols[w][pos] ^ qc[w][qi])
            keep = np.flatnonzero(dist <= t)
            if keep.size < pos.shape[0]:
                qi, pos, dist = qi[keep], pos[keep], dist[keep]
            if pos.size == 0:
                break
        return qi, pos, dist

    def _scan_main(self, qc: np.ndarray, t: int, block: int = 1 << 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Brute-force scan of the main arrays (used when ``t`` is so large that probing would be slower)."""
        out_q: list[np.ndarray] = []
        out_p: list[np.ndarray] = []
        out_d: list[np.ndarray] = []
        n = self._ids.shape[0]
        for q in range(qc.shape[1]):
            for lo in range(0, n, block):
                hi = min(n, lo + block)
                dist = np.zeros(hi - lo, dtype=np.int16)
                for w in range(4):
                    dist += np.bitwise_count(self._cols[w, lo:hi] ^ qc[w, q])
                alive = np.unpackbits(self._alive[lo // 8 : (hi + 7) // 8], count=hi - lo, bitorder="little")
                hit = np.flatnonzero((dist <= t) & alive.view(np.bool_))
                out_q.append(np.full(hit.size, q, dtype=np.int64))
                out_p.append(hit + lo)
                out_d.append(dist[hit])
        return np.concatenate(out_q), np.concatenate(out_p), np.concatenate(out_d)

    def _scan_delta(self, qc: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._d_ids.size == 0:
            return _EMPTY_IDS, _EMPTY_IDS, _EMPTY_D
        dist = np.zeros((qc.shape[1], self._d_ids.shape[0]), dtype=np.int16)
        for w in range(4):
            dist += np.bitwise_count(qc[w][:, None] ^ self._d_cols[w][None, :])
        qi, di = np.nonzero(dist <= t)
        return qi.astype(np.int64), di.astype(np.int64), dist[qi, di]

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path | str) -> int:
        """Write a checksummed snapshot atomically (temp file + rename); return its size in bytes.

        Pending adds are merged first so the snapshot holds only tables, never a delta buffer.
        """
        self.flush()
        arrays: dict[str, np.ndarray] = {
            "perm": self._perm,
            "cols": self._cols,
            "ids": self._ids,
            "alive": self._alive,
        }
        if self._id_order is not None:
            arrays["id_order"] = self._id_order
        for c in range(self._plan.m):
            arrays[f"table{c}"] = self._tables[c]
            arrays[f"offsets{c}"] = self._offsets[c]
        meta = {
            "widths": list(self._plan.widths),
            "prefixes": list(self._plan.prefixes),
            "n_dead": self._n_dead,
            "delta_max": self._delta_max,
            "ids_ascending": self._id_order is None,
        }
        return write_snapshot(Path(path), _KIND, _VERSION, meta, arrays)

    @classmethod
    def load(cls, path: Path | str, verify: bool = True, engine: str | None = None) -> PDQIndex:
        """Load a snapshot written by :meth:`save`; structural damage raises :class:`SnapshotCorruptError`.

        Snapshots of format version 1 (int64 ids, a bool per tombstone, always an ``id_order``) are refused with
        :class:`SnapshotVersionError`: the index is derived data, rebuild it from its hash list.
        """
        try:
            meta, arrays = read_snapshot(Path(path), _KIND, _VERSION, verify=verify)
        except SnapshotVersionError as exc:
            raise SnapshotVersionError(f"{exc}; the index is derived data: rebuild it from its hash list") from exc
        try:
            widths = [int(w) for w in meta["widths"]]
            prefixes = [int(p) for p in meta["prefixes"]]
            index = cls(chunks=len(widths), prefix_bits=max(prefixes), delta_max=int(meta["delta_max"]), engine=engine)
            if tuple(widths) != index._plan.widths or tuple(prefixes) != index._plan.prefixes:
                raise ValueError(f"chunk widths {widths} / prefixes {prefixes} are not a supported plan")
            perm = arrays["perm"]
            if perm.shape != (HASH_BITS,) or not np.array_equal(np.sort(perm), np.arange(HASH_BITS)):
                raise ValueError("bit permutation is invalid")
            cols, ids, alive = arrays["cols"], arrays["ids"], arrays["alive"]
            n = ids.shape[0]
            if cols.shape != (4, n) or ids.ndim != 1 or alive.shape != ((n + 7) // 8,):
                raise ValueError("array lengths disagree")
            if cols.dtype != np.uint64 or ids.dtype not in (np.int32, np.int64) or alive.dtype != np.uint8:
                raise ValueError("array dtypes are wrong")
            if n % 8 and int(alive[-1]) >> (n % 8):
                raise ValueError("tombstone bitmap has bits beyond the last entry")
            id_order = _checked_id_order(meta, arrays, ids)
            tables = [arrays[f"table{c}"] for c in range(len(widths))]
            offsets = [arrays[f"offsets{c}"] for c in range(len(widths))]
            for w, p, tab, off in zip(widths, prefixes, tables, offsets, strict=True):
                if tab.shape != (n,) or off.shape != ((1 << p) + 1,) or tab.dtype != np.uint32:
                    raise ValueError("table shapes are wrong")
                if n and int(np.diff(off.astype(np.int64)).min()) < 0:
                    raise ValueError("table offsets are not monotonic")
                if int(off[0]) != 0 or int(off[-1]) != n or (n and int((tab & _POS_MASK).max()) >= n):
                    raise ValueError("table offsets or positions are out of range")
                if n and int(tab.max() >> np.uint32(_POS_BITS)) >> (w - p):
                    raise ValueError("table suffix bits exceed the chunk width")
            n_dead = int(meta["n_dead"])
            if n_dead != n - int(np.bitwise_count(alive).sum()):
                raise ValueError("tombstone count disagrees with the alive bitmap")
        except (KeyError, ValueError, TypeError) as exc:
            raise SnapshotCorruptError(f"{path}: inconsistent PDQ index snapshot ({exc})") from exc
        index._perm = perm.astype(np.uint16)
        index._cols, index._ids, index._alive, index._id_order = cols, ids, alive, id_order
        index._tables, index._offsets, index._n_dead = tables, offsets, n_dead
        return index


def _checked_id_order(meta: dict[str, object], arrays: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray | None:
    """The snapshot's ``id_order`` (None when ids ascend with position), after checking it sorts ``ids``."""
    n = ids.shape[0]
    ascending = meta["ids_ascending"]
    if not isinstance(ascending, bool):
        raise ValueError("ids_ascending must be a boolean")
    if ascending:
        if "id_order" in arrays:
            raise ValueError("ids are declared ascending but an id_order is stored")
        if n > 1 and not bool(np.all(ids[1:] >= ids[:-1])):
            raise ValueError("ids are declared ascending but are not")
        return None
    order = arrays["id_order"]
    if order.shape != (n,) or order.dtype != np.uint32:
        raise ValueError("id_order has the wrong shape or dtype")
    if n and (int(order.max()) >= n or int(np.bincount(order, minlength=n).max()) != 1):
        raise ValueError("id_order is not a permutation of the positions")
    if n > 1 and not bool(np.all(np.diff(ids[order]) >= 0)):
        raise ValueError("id_order does not sort the ids")
    return order


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def _return_freed_memory() -> None:
    """Hand the heap pages freed by a merge back to the OS.

    A merge of millions of entries allocates and frees many arrays of a few MB (offsets, counts, per-chunk keys).
    glibc keeps such freed blocks inside the process heap, so after a 10M-entry build the resident size stayed
    ~100 MB above the index's arrays (1,035 MB against 907 MB); ``malloc_trim`` releases them (910 MB).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _default_threads() -> int:
    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _group(nq: int, qi: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> list[SearchResult]:
    """Split flat (query, id, distance) triples into per-query results sorted by (distance, id)."""
    order = np.lexsort((ids, dist, qi))
    qi, ids, dist = qi[order], ids[order].astype(np.int64), dist[order].astype(np.int16)
    bounds = np.searchsorted(qi, np.arange(nq + 1))
    return [SearchResult(ids[bounds[k] : bounds[k + 1]], dist[bounds[k] : bounds[k + 1]]) for k in range(nq)]
