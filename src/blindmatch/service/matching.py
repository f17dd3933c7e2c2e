"""The matcher: one in-memory index per hash list, kept in step with the database.

Why per list: lists differ in threshold, can be disabled on their own, and change at their own pace. Each list's
index is loaded from its last snapshot on disk and brought up to date with ``ListStore.changes_since``, so neither a
restart nor a list edit rebuilds anything from scratch. Only integer keys and hashes live in memory; the provenance
of a match (source organisation, classification as given) is read from the database when a match happens, which is
rare, instead of being held for every entry.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blindmatch.hashing.signals import (
    EXACT_SIGNAL_TYPES,
    SignalType,
    normalize_hash,
    parse_signal_type,
)
from blindmatch.hashing.vpdq import VpdqHash
from blindmatch.index.errors import MatchIndexError
from blindmatch.index.exact_index import ExactHashIndex
from blindmatch.index.pdq_index import PDQIndex
from blindmatch.index.vpdq_index import VpdqIndex
from blindmatch.lists.model import HashList, ListEntry
from blindmatch.service.storage.list_store import ListStore

__all__ = ["MIN_PDQ_QUALITY", "LookupResult", "Match", "Matcher", "UnknownListError"]

log = logging.getLogger(__name__)

#: PDQ hashes below this quality are too flat to mean anything; they are flagged, never matched.
MIN_PDQ_QUALITY = 50
_SNAPSHOT_FORMAT = 1
#: Lists up to this many PDQ entries get a compact index layout (16 chunks of 16-bit prefixes: ~4 MB of probe
#: tables instead of ~46 MB); larger ones the default layout tuned for 10 million hashes (docs/benchmarks.md).
SMALL_LIST_PDQ = 1_000_000


def _new_pdq_index(expected_entries: int) -> PDQIndex:
    if expected_entries <= SMALL_LIST_PDQ:
        return PDQIndex(chunks=16, prefix_bits=16)
    return PDQIndex()


class UnknownListError(LookupError):
    """A lookup named a list that does not exist."""


@dataclass(frozen=True, slots=True)
class Match:
    """One list entry a query matched, with where it came from."""

    list_name: str
    entry_id: str
    signal_type: str
    value: str
    distance: int
    source_org: str = ""
    classification_scheme: str = ""
    classification_label: str = ""
    licence: str = ""
    #: For videos: percent of the query's and of the listed video's distinct good frames that matched.
    query_pct: float | None = None
    target_pct: float | None = None

    def as_dict(self) -> dict[str, object]:
        extra: dict[str, object] = {}
        if self.target_pct is not None:
            extra = {"query_pct": round(self.query_pct or 0.0, 2), "target_pct": round(self.target_pct, 2)}
        return extra | {
            "list": self.list_name,
            "entry_id": self.entry_id,
            "signal_type": self.signal_type,
            "value": self.value,
            "distance": self.distance,
            "source_org": self.source_org,
            "classification_scheme": self.classification_scheme,
            "classification_label": self.classification_label,
            "licence": self.licence,
        }


@dataclass(frozen=True, slots=True)
class LookupResult:
    signal_type: str
    value: str
    matches: tuple[Match, ...]
    quality: int | None = None
    #: True when a PDQ query was below :data:`MIN_PDQ_QUALITY` and therefore not matched.
    low_quality: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "signal_type": self.signal_type,
            "value": self.value,
            "quality": self.quality,
            "low_quality": self.low_quality,
            "matches": [m.as_dict() for m in self.matches],
        }


@dataclass
class _ListIndex:
    """One list's searchable state: integer keys for entry ids, the PDQ, exact-hash and video indexes."""

    name: str
    version: int = 0
    #: The list's creation time: a list deleted and re-created under the same name restarts its versions, so
    #: (name, version) alone could graft the old list's entries onto the new one.
    created: str = ""
    next_key: int = 1
    keys: dict[str, int] = field(default_factory=dict)
    entry_of: dict[int, str] = field(default_factory=dict)
    pdq: PDQIndex = field(default_factory=PDQIndex)
    exact: dict[str, ExactHashIndex] = field(default_factory=dict)  # one per exact signal type
    #: Created on the first video entry (an empty PDQ index still costs its probe tables).
    vpdq: VpdqIndex | None = None
    value_of: dict[int, tuple[str, str]] = field(default_factory=dict)
    dirty: bool = False

    def drop(self, entry_id: str) -> None:
        key = self.keys.pop(entry_id, None)
        if key is None:
            return
        self.entry_of.pop(key, None)
        signal, _ = self.value_of.pop(key)
        if signal == SignalType.PDQ.value:
            self.pdq.remove([key], missing_ok=True)
        elif signal == SignalType.VPDQ.value:
            if self.vpdq is not None:
                self.vpdq.remove(str(key))
        elif signal in self.exact:
            self.exact[signal].remove([key], missing_ok=True)
        self.dirty = True

    def add_exact(self, signal: str, key: int, value: str) -> None:
        if signal not in self.exact:
            self.exact[signal] = ExactHashIndex(signal)
        self.exact[signal].add([key], [value])

    def add_video(self, key: int, compact: str) -> None:
        if self.vpdq is None:
            self.vpdq = VpdqIndex()
        self.vpdq.add(str(key), VpdqHash.from_compact(compact))

    def put(self, entries: Sequence[ListEntry]) -> None:
        """Insert (or replace) live entries; PDQ hashes are added to the index in one batch."""
        pdq_keys: list[int] = []
        pdq_hashes: list[bytes] = []
        for e in entries:
            self.drop(e.entry_id)
            key = self.next_key
            self.next_key += 1
            self.keys[e.entry_id] = key
            self.entry_of[key] = e.entry_id
            signal = SignalType(e.signal_type).value
            self.value_of[key] = (signal, e.value)
            if signal == SignalType.PDQ.value:
                pdq_keys.append(key)
                pdq_hashes.append(bytes.fromhex(e.value))
            elif signal == SignalType.VPDQ.value:
                self.add_video(key, e.value)
            elif SignalType(signal) in EXACT_SIGNAL_TYPES:
                self.add_exact(signal, key, e.value)
        if pdq_keys:
            arr = np.frombuffer(b"".join(pdq_hashes), dtype=np.uint8).reshape(-1, 32)
            self.pdq.add(np.asarray(pdq_keys, dtype=np.int64), arr)
        if entries:
            self.dirty = True

    # ----------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """Write ``pdq-v<version>.idx`` then ``meta.json`` (atomically); the meta names the index file it goes with."""
        directory.mkdir(parents=True, exist_ok=True)
        idx_name = f"pdq-v{self.version}.idx"
        self.pdq.save(directory / idx_name)
        meta = {
            "format": _SNAPSHOT_FORMAT,
            "list": self.name,
            "created": self.created,
            "version": self.version,
            "next_key": self.next_key,
            "pdq_file": idx_name,
            "entries": [[eid, key, *self.value_of[key]] for eid, key in self.keys.items()],
        }
        tmp = directory / "meta.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, directory / "meta.json")
        for old in directory.glob("pdq-v*.idx"):
            if old.name != idx_name:
                old.unlink(missing_ok=True)
        self.dirty = False

    @classmethod
    def load(cls, name: str, directory: Path) -> _ListIndex:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != _SNAPSHOT_FORMAT or meta.get("list") != name:
            raise ValueError(f"snapshot in {directory} is not a format-{_SNAPSHOT_FORMAT} snapshot of list {name!r}")
        idx = cls(
            name=name,
            version=int(meta["version"]),
            created=str(meta.get("created", "")),
            next_key=int(meta["next_key"]),
        )
        idx.pdq = PDQIndex.load(directory / str(meta["pdq_file"]))
        for eid, key, signal, value in meta["entries"]:
            idx.keys[eid] = key
            idx.entry_of[key] = eid
            idx.value_of[key] = (signal, value)
            if signal == SignalType.VPDQ.value:
                idx.add_video(key, value)
            elif signal != SignalType.PDQ.value:
                idx.add_exact(signal, key, value)
        pdq_count = sum(1 for s, _ in idx.value_of.values() if s == SignalType.PDQ.value)
        if pdq_count != len(idx.pdq):
            raise ValueError(f"snapshot of {name!r}: {pdq_count} PDQ entries in meta, {len(idx.pdq)} in index")
        return idx


class Matcher:
    """Looks hashes up in every enabled list (or the named ones) and reports matches with provenance."""

    def __init__(self, store: ListStore, snapshot_dir: Path | None = None, refresh_seconds: float = 5.0) -> None:
        self._store = store
        self._dir = snapshot_dir
        self._refresh_seconds = refresh_seconds
        self._lists: dict[str, _ListIndex] = {}
        self._meta: dict[str, HashList] = {}
        self._lock = threading.RLock()
        self._last_refresh = 0.0
        self._last_save = 0.0

    # ----------------------------------------------------------------- keeping in step
    def refresh(self, *, force: bool = True) -> dict[str, int]:
        """Bring every list's index up to the database's version; return the version of each list."""
        with self._lock:
            if not force and time.monotonic() - self._last_refresh < self._refresh_seconds:
                return {n: i.version for n, i in self._lists.items()}
            current = {hl.name: hl for hl in self._store.lists()}
            for gone in set(self._lists) - set(current):
                del self._lists[gone]
                if self._dir is not None:
                    shutil.rmtree(self._dir / gone, ignore_errors=True)
            for name, hl in current.items():
                idx = self._lists.get(name)
                if idx is None:
                    idx = self._load_or_new(name)
                    self._lists[name] = idx
                created = hl.created_at.isoformat() if hl.created_at else ""
                if idx.version > hl.version or (idx.version and idx.created != created):
                    # a snapshot from another database, or of a deleted list re-created under this name
                    log.warning("index of %s belongs to another incarnation of the list; rebuilding", name)
                    idx = self._lists[name] = _ListIndex(name=name)
                idx.created = created
                if idx.version < hl.version:
                    changes = self._store.changes_since(name, idx.version)
                    if idx.version == 0 and not idx.keys:  # first build: size the index for the list
                        n_pdq = sum(1 for e in changes.added if SignalType(e.signal_type) is SignalType.PDQ)
                        idx.pdq = _new_pdq_index(n_pdq)
                    for e in changes.removed:
                        idx.drop(e.entry_id)
                    idx.put(list(changes.added))
                    idx.version = changes.to_version
                    idx.dirty = True
            self._meta = current
            self._last_refresh = time.monotonic()
            return {n: i.version for n, i in self._lists.items()}

    def invalidate(self) -> None:
        """Make the next lookup re-read list versions (called after edits made through this process)."""
        with self._lock:
            self._last_refresh = 0.0

    def save(self) -> None:
        """Persist every changed list's snapshot (called after refreshes and at shutdown)."""
        if self._dir is None:
            return
        with self._lock:
            for name, idx in self._lists.items():
                if idx.dirty:
                    idx.save(self._dir / name)
            self._last_save = time.monotonic()

    def _load_or_new(self, name: str) -> _ListIndex:
        if self._dir is not None and (self._dir / name / "meta.json").exists():
            try:
                return _ListIndex.load(name, self._dir / name)
            except (OSError, ValueError, KeyError, TypeError, MatchIndexError) as exc:
                log.warning("index snapshot of %s unusable (%s); rebuilding from the database", name, exc)
        return _ListIndex(name=name)

    # ----------------------------------------------------------------- lookups
    def lookup(
        self,
        signal_type: str | SignalType,
        value: str,
        *,
        lists: Iterable[str] | None = None,
        quality: int | None = None,
        threshold: int | None = None,
        dihedral: Sequence[str] = (),
        video_target_pct: float | None = None,
    ) -> LookupResult:
        """Match one hash. PDQ queries below quality 50 are flagged and not matched.

        ``dihedral`` may carry the query image's other 7 dihedral PDQ hashes (rotations and flips); an entry
        matched by several is reported once, with its smallest distance. ``video_target_pct`` overrides the vPDQ
        rule's share of a listed video's frames that must match (default 80 %): private matching sees only a few
        frames of a video and verifies them frame by frame (``0`` = any frame within the distance).
        """
        st = parse_signal_type(signal_type)
        canonical = normalize_hash(st, value)
        self.refresh(force=False)
        if st is SignalType.PDQ and quality is not None and quality < MIN_PDQ_QUALITY:
            return LookupResult(st.value, canonical, (), quality=quality, low_quality=True)
        variants = [canonical] + [normalize_hash(st, d) for d in dihedral]
        video_pct: dict[tuple[str, int], tuple[float, float]] = {}
        with self._lock:
            targets = self._targets(lists)
            found: dict[tuple[str, int], int] = {}
            for hl, idx in targets:
                if st is SignalType.VPDQ:
                    query = VpdqHash.from_compact(canonical)
                    if idx.vpdq is None:
                        hits = []
                    elif video_target_pct is None:
                        hits = idx.vpdq.search(query)
                    else:
                        hits = idx.vpdq.search(query, target_pct=video_target_pct)
                    for vm in hits:
                        found[(hl.name, int(vm.video_id))] = 0
                        video_pct[(hl.name, int(vm.video_id))] = (vm.query_pct, vm.target_pct)
                elif st is SignalType.PDQ:
                    t = hl.pdq_threshold if threshold is None else threshold
                    queries = np.frombuffer(b"".join(bytes.fromhex(v) for v in variants), dtype=np.uint8)
                    for res in idx.pdq.search_batch(queries.reshape(-1, 32), t):
                        for key, dist in zip(res.ids.tolist(), res.distances.tolist(), strict=True):
                            k = (hl.name, key)
                            found[k] = min(dist, found.get(k, dist))
                else:
                    exact = idx.exact.get(st.value)
                    for key in exact.lookup(canonical).tolist() if exact is not None else []:
                        found[(hl.name, key)] = 0
            wanted: dict[str, dict[str, int]] = {}
            pct_of: dict[tuple[str, str], tuple[float, float]] = {}
            for (list_name, key), dist in found.items():
                entry_id = self._lists[list_name].entry_of[key]
                wanted.setdefault(list_name, {})[entry_id] = dist
                if (list_name, key) in video_pct:
                    pct_of[(list_name, entry_id)] = video_pct[(list_name, key)]
        matches = []
        for list_name, by_entry in wanted.items():
            entries = self._store.get_entries(list_name, list(by_entry))
            for entry_id, dist in by_entry.items():
                e = entries.get(entry_id)
                if e is None or not e.live:  # removed between index refresh and now
                    continue
                matches.append(
                    Match(
                        list_name=list_name,
                        entry_id=entry_id,
                        signal_type=SignalType(e.signal_type).value,
                        value=e.value,
                        distance=dist,
                        source_org=e.source_org,
                        classification_scheme=e.classification_scheme,
                        classification_label=e.classification_label,
                        licence=e.licence,
                        query_pct=pct_of.get((list_name, entry_id), (None, None))[0],
                        target_pct=pct_of.get((list_name, entry_id), (None, None))[1],
                    )
                )
        matches.sort(key=lambda m: (m.distance, m.list_name, m.entry_id))
        return LookupResult(st.value, canonical, tuple(matches), quality=quality)

    def _targets(self, lists: Iterable[str] | None) -> list[tuple[HashList, _ListIndex]]:
        if lists is None:
            return [(self._meta[n], i) for n, i in self._lists.items() if n in self._meta and self._meta[n].enabled]
        out = []
        for name in lists:
            if name not in self._lists or name not in self._meta:
                raise UnknownListError(f"no list named {name!r}")
            out.append((self._meta[name], self._lists[name]))
        return out

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                n: {
                    "version": i.version,
                    "entries": len(i.keys),
                    "pdq": len(i.pdq),
                    "index_bytes": i.pdq.nbytes(),
                }
                for n, i in self._lists.items()
            }
