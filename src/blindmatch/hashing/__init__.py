"""blindmatch.hashing: PDQ (own numpy implementation, bit-exact with the reference) and exact file hashes."""

from blindmatch.hashing.exact import ExactHashes, exact_hashes_of_bytes, exact_hashes_of_file
from blindmatch.hashing.files import FAST_MIN_SIDE, QUALITY_THRESHOLD, FileHashes, hash_bytes, hash_file
from blindmatch.hashing.pdq import (
    DIHEDRAL_NAMES,
    PdqError,
    PdqInputError,
    PdqMode,
    PdqResult,
    hamming_distance,
    pdq_dihedral,
    pdq_from_image,
    pdq_from_luma,
    pdq_from_rgb,
)

__all__ = [
    "DIHEDRAL_NAMES",
    "FAST_MIN_SIDE",
    "QUALITY_THRESHOLD",
    "ExactHashes",
    "FileHashes",
    "PdqError",
    "PdqInputError",
    "PdqMode",
    "PdqResult",
    "exact_hashes_of_bytes",
    "exact_hashes_of_file",
    "hamming_distance",
    "hash_bytes",
    "hash_file",
    "pdq_dihedral",
    "pdq_from_image",
    "pdq_from_luma",
    "pdq_from_rgb",
]
