"""Matching indexes: which list entries does a hash match?

* :class:`PDQIndex` — every entry within a Hamming distance of a 256-bit PDQ hash, exactly (multi-index hashing),
  with incremental ``add``/``remove`` and crash-safe snapshots; its query loop runs in a C extension when built,
  else in NumPy (:mod:`blindmatch.index.engine` chooses, and logs the choice);
* :class:`ExactHashIndex` — md5/sha1/sha256 digests by dictionary lookup, same contract;
* :func:`search_dihedral` — merge the results of a picture's 8 orientation hashes;
* :func:`brute_force_search` — the reference answer the index is tested against.
"""

from blindmatch.index.bits import hex_to_hash_array
from blindmatch.index.brute import brute_force_search
from blindmatch.index.dihedral import merge_results, search_dihedral
from blindmatch.index.errors import (
    CapacityError,
    DuplicateIdError,
    EngineUnavailableError,
    InvalidIdError,
    InvalidThresholdError,
    MalformedHashError,
    MatchIndexError,
    ProbeArgumentError,
    SnapshotCorruptError,
    SnapshotError,
    SnapshotVersionError,
    UnknownEngineError,
    UnknownIdError,
)
from blindmatch.index.exact_index import ExactHashIndex
from blindmatch.index.pdq_index import DEFAULT_THRESHOLD, PDQIndex, SearchResult

__all__ = [
    "DEFAULT_THRESHOLD",
    "CapacityError",
    "DuplicateIdError",
    "EngineUnavailableError",
    "ExactHashIndex",
    "InvalidIdError",
    "InvalidThresholdError",
    "MalformedHashError",
    "MatchIndexError",
    "PDQIndex",
    "ProbeArgumentError",
    "SearchResult",
    "SnapshotCorruptError",
    "SnapshotError",
    "SnapshotVersionError",
    "UnknownEngineError",
    "UnknownIdError",
    "brute_force_search",
    "hex_to_hash_array",
    "merge_results",
    "search_dihedral",
]
