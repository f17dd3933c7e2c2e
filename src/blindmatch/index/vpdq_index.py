"""Many listed videos' vPDQ frame hashes in one :class:`PDQIndex`, with video verdicts by the vPDQ rule.

Why: comparing an upload with every listed video by brute force costs (listed videos × frames × query
frames). The vPDQ README suggests indexing all listed frames and only scoring videos that share a frame with
the query. Here that is exact rather than a pre-filter: every distinct, good-quality frame hash of every
listed video is one index entry (an int key mapped back to its video), one radius search per query frame finds
all frame pairs within the distance, and the per-video percentages computed from those pairs are exactly what
:func:`blindmatch.hashing.vpdq.match_vpdq` computes pairwise — videos sharing no frame score 0 and are never
touched.

Persistence: a directory holding the PDQ index snapshot (``frames.idx``, checksummed) and ``videos.json``
(video ids, their frame keys and hashes), both written to temporary names and renamed, so a crash leaves the
previous pair readable; loading checks that the two agree.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blindmatch.hashing.vpdq import (
    DEFAULT_DISTANCE,
    DEFAULT_QUALITY,
    DEFAULT_TARGET_PCT,
    VpdqHash,
    distinct_hashes,
)
from blindmatch.index.bits import hex_to_hash_array
from blindmatch.index.errors import DuplicateIdError, InvalidIdError, SnapshotCorruptError, UnknownIdError
from blindmatch.index.pdq_index import PDQIndex

__all__ = ["VideoMatch", "VpdqIndex"]

_KIND = "blindmatch.vpdq-index"
_VERSION = 1
_FRAMES = "frames.idx"
_VIDEOS = "videos.json"


@dataclass(frozen=True, slots=True)
class VideoMatch:
    """A listed video and how much of each side matched (percent of distinct good-quality frames)."""

    video_id: str
    query_pct: float
    target_pct: float


@dataclass(frozen=True, slots=True)
class _Video:
    keys: tuple[int, ...]
    hashes: tuple[str, ...]


class VpdqIndex:
    """Listed videos by id; :meth:`search` returns the videos an uploaded video matches.

    ``distance`` and ``quality`` are fixed per index (frames below ``quality`` are never stored), as in the
    reference: Hamming distance <= 31, quality >= 50.
    """

    def __init__(self, *, distance: int = DEFAULT_DISTANCE, quality: int = DEFAULT_QUALITY) -> None:
        if not 0 <= distance <= 256 or not 0 <= quality <= 100:
            raise ValueError(f"distance must be 0..256 and quality 0..100, got {distance}, {quality}")
        self.distance = distance
        self.quality = quality
        self._frames = PDQIndex()
        self._videos: dict[str, _Video] = {}
        self._owner: dict[int, str] = {}
        self._next_key = 0

    def __len__(self) -> int:
        return len(self._videos)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._videos

    @property
    def frame_count(self) -> int:
        """Index entries: distinct good-quality frame hashes over all videos."""
        return len(self._owner)

    def add(self, video_id: str, video: VpdqHash) -> int:
        """Index a listed video; return how many distinct frames were stored (0 if none had good quality: such
        a video can never match, as in the reference)."""
        if not isinstance(video_id, str) or not video_id:
            raise InvalidIdError(f"video ids must be non-empty strings, got {video_id!r}")
        if video_id in self._videos:
            raise DuplicateIdError(f"video {video_id!r} is already in the index; remove it first")
        hashes = tuple(distinct_hashes(video, self.quality))
        keys = tuple(range(self._next_key, self._next_key + len(hashes)))
        if hashes:
            self._frames.add(np.array(keys, dtype=np.int64), hex_to_hash_array(list(hashes)))
        self._next_key += len(hashes)
        self._videos[video_id] = _Video(keys, hashes)
        for k in keys:
            self._owner[k] = video_id
        return len(hashes)

    def remove(self, video_id: str) -> None:
        """Forget a listed video (its frames stop matching at once)."""
        video = self._videos.pop(video_id, None)
        if video is None:
            raise UnknownIdError(f"video {video_id!r} is not in the index")
        if video.keys:
            self._frames.remove(np.array(video.keys, dtype=np.int64))
        for k in video.keys:
            del self._owner[k]

    def search(
        self,
        query: VpdqHash,
        *,
        target_pct: float = DEFAULT_TARGET_PCT,
        query_pct: float = 0.0,
    ) -> list[VideoMatch]:
        """Listed videos with at least ``target_pct`` % of their frames matched (and the query at least
        ``query_pct`` %), best first. Percentages equal :func:`match_vpdq` against each video."""
        q = distinct_hashes(query, self.quality)
        if not q or not self._videos:
            return []
        results = self._frames.search_batch(hex_to_hash_array(q), self.distance)
        target_hits: dict[str, set[int]] = defaultdict(set)
        query_hits: dict[str, int] = defaultdict(int)
        for res in results:
            seen: set[str] = set()
            for key in res.ids.tolist():
                vid = self._owner[key]
                target_hits[vid].add(key)
                seen.add(vid)
            for vid in seen:
                query_hits[vid] += 1
        out = []
        for vid, keys in target_hits.items():
            t_pct = 100.0 * len(keys) / len(self._videos[vid].keys)
            q_pct = 100.0 * query_hits[vid] / len(q)
            if t_pct >= target_pct and q_pct >= query_pct:
                out.append(VideoMatch(vid, q_pct, t_pct))
        out.sort(key=lambda m: (-m.target_pct, -m.query_pct, m.video_id))
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path | str) -> None:
        """Write ``frames.idx`` and ``videos.json`` into ``directory`` (created if needed), atomically each."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self._frames.save(d / _FRAMES)
        doc = {
            "kind": _KIND,
            "version": _VERSION,
            "distance": self.distance,
            "quality": self.quality,
            "next_key": self._next_key,
            "videos": {vid: {"keys": list(v.keys), "hashes": list(v.hashes)} for vid, v in self._videos.items()},
        }
        tmp = d / (_VIDEOS + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(d / _VIDEOS)

    @classmethod
    def load(cls, directory: Path | str) -> VpdqIndex:
        """Read what :meth:`save` wrote; missing or inconsistent files raise :class:`SnapshotCorruptError`."""
        d = Path(directory)
        frames = PDQIndex.load(d / _FRAMES)
        try:
            doc = json.loads((d / _VIDEOS).read_text(encoding="utf-8"))
            if doc["kind"] != _KIND or doc["version"] != _VERSION:
                raise ValueError(f"not a version {_VERSION} {_KIND} file")
            index = cls(distance=int(doc["distance"]), quality=int(doc["quality"]))
            index._next_key = int(doc["next_key"])
            for vid, entry in doc["videos"].items():
                keys = tuple(int(k) for k in entry["keys"])
                hashes = tuple(str(h) for h in entry["hashes"])
                if len(keys) != len(hashes):
                    raise ValueError(f"video {vid!r}: {len(keys)} keys for {len(hashes)} hashes")
                index._videos[vid] = _Video(keys, hashes)
                for k in keys:
                    if k in index._owner or not 0 <= k < index._next_key:
                        raise ValueError(f"frame key {k} is repeated or out of range")
                    index._owner[k] = vid
        except FileNotFoundError as exc:
            raise SnapshotCorruptError(f"{d}: missing {_VIDEOS}") from exc
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise SnapshotCorruptError(f"{d / _VIDEOS}: inconsistent vPDQ index metadata ({exc})") from exc
        stored = frames.ids()
        expected = np.array(sorted(index._owner), dtype=np.int64)
        if not np.array_equal(stored, expected):
            raise SnapshotCorruptError(f"{d}: {_FRAMES} and {_VIDEOS} disagree on the indexed frames")
        index._frames = frames
        return index
