"""Matching a picture in any of its 8 dihedral orientations.

The index itself is orientation-agnostic: PDQ can hash the 8 rotations/flips of an image cheaply (from one DCT),
and the caller queries all 8. This helper merges those 8 result sets into one, keeping each entry's smallest
distance, so "the rotated copy of a listed picture" is reported like the original.
"""

from __future__ import annotations

import numpy as np

from blindmatch.index.bits import as_hash_array
from blindmatch.index.errors import MalformedHashError
from blindmatch.index.pdq_index import DEFAULT_THRESHOLD, PDQIndex, SearchResult

__all__ = ["merge_results", "search_dihedral"]


def merge_results(results: list[SearchResult]) -> SearchResult:
    """Union of several results for the same picture; each id once, with its minimum distance."""
    if not results:
        return SearchResult(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int16))
    ids = np.concatenate([r.ids for r in results])
    dist = np.concatenate([r.distances for r in results]).astype(np.int16)
    order = np.lexsort((dist, ids))
    ids, dist = ids[order], dist[order]
    first = np.ones(ids.shape[0], dtype=np.bool_)
    first[1:] = ids[1:] != ids[:-1]
    ids, dist = ids[first], dist[first]
    final = np.lexsort((ids, dist))
    return SearchResult(ids[final], dist[final])


def search_dihedral(index: PDQIndex, variants: object, t: int = DEFAULT_THRESHOLD) -> SearchResult:
    """Search the (usually 8) orientation hashes of one picture and merge the matches."""
    q = as_hash_array(variants, "variants")
    if not 1 <= q.shape[0] <= 8:
        raise MalformedHashError(f"expected 1..8 orientation hashes of one picture, got {q.shape[0]}")
    return merge_results(index.search_batch(q, t))
