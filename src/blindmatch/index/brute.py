"""Brute-force reference search: the definition of a correct answer, used by tests and benchmark recall checks."""

from __future__ import annotations

import numpy as np

from blindmatch.index.bits import as_hash_array, validate_threshold
from blindmatch.index.pdq_index import SearchResult, as_id_array

__all__ = ["brute_force_search"]


def brute_force_search(ids: object, hashes: object, queries: object, t: int) -> list[SearchResult]:
    """Compare every query with every hash (no index); results sorted by (distance, id) like ``PDQIndex``."""
    t = validate_threshold(t)
    id_arr = as_id_array(ids)
    h = as_hash_array(hashes).view(np.uint64)
    q = as_hash_array(queries, "queries").view(np.uint64)
    out: list[SearchResult] = []
    for row in q:
        dist = np.bitwise_count(h ^ row).sum(axis=1, dtype=np.int16)
        hit = np.flatnonzero(dist <= t)
        order = np.lexsort((id_arr[hit], dist[hit]))
        out.append(SearchResult(id_arr[hit][order], dist[hit][order]))
    return out
