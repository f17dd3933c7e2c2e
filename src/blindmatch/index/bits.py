"""Bit-level helpers for 256-bit PDQ hashes: validation, a fixed bit permutation, chunking and probe masks.

Internally a hash is four little-endian uint64 words; bit ``k`` is bit ``k % 64`` of word ``k // 64``. Before
indexing, every hash (stored or queried) goes through one fixed pseudo-random permutation of its 256 bits. Hamming
distance is unchanged by a common permutation, but real PDQ bits are correlated with their neighbours (they come
from a 16x16 DCT grid), so contiguous chunks of raw bits would hash very unevenly; scattering them makes the
multi-index-hashing buckets close to uniform. The permutation is stored in snapshots so a reload never depends on
the seed staying the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

from blindmatch.hashing.signals import normalize_hash
from blindmatch.index.errors import InvalidThresholdError, MalformedHashError

__all__ = [
    "HASH_BITS",
    "HASH_BYTES",
    "ChunkPlan",
    "as_hash_array",
    "chunk_keys",
    "default_permutation",
    "flip_masks",
    "hex_to_hash_array",
    "permute_to_cols",
    "prefix_probes",
    "radii_for_threshold",
    "validate_threshold",
]

HASH_BITS = 256
HASH_BYTES = 32
_PERM_SEED = 0x5D9_B11D


def default_permutation() -> np.ndarray:
    """The fixed bit permutation (uint16, length 256) new indexes use."""
    return np.random.default_rng(_PERM_SEED).permutation(HASH_BITS).astype(np.uint16)


def hex_to_hash_array(values: Sequence[str]) -> np.ndarray:
    """Parse PDQ hex strings (strictly, via ``normalize_hash``) into an ``(n, 32)`` uint8 array."""
    try:
        canon = [normalize_hash("pdq", v) for v in values]
    except ValueError as exc:
        raise MalformedHashError(str(exc)) from exc
    if not canon:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(canon)), dtype=np.uint8).reshape(-1, HASH_BYTES).copy()


def as_hash_array(hashes: object, what: str = "hashes") -> np.ndarray:
    """Coerce ``hashes`` to a C-contiguous ``(n, 32)`` uint8 array, rejecting anything ambiguous.

    Accepted: an ``(n, 32)`` uint8 array, a single ``(32,)`` uint8 array (n = 1), or a sequence of 32-byte
    ``bytes``. Hex strings are refused here on purpose (use :func:`hex_to_hash_array`) so that a string is never
    silently reinterpreted as raw bytes.
    """
    if isinstance(hashes, np.ndarray):
        if hashes.dtype != np.uint8:
            raise MalformedHashError(f"{what} must have dtype uint8, got {hashes.dtype}")
        if hashes.ndim == 1:
            hashes = hashes.reshape(1, -1)
        if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES:
            raise MalformedHashError(f"{what} must have shape (n, {HASH_BYTES}), got {hashes.shape}")
        return np.ascontiguousarray(hashes)
    if isinstance(hashes, (str, bytes, bytearray)):
        kind = type(hashes).__name__
        raise MalformedHashError(f"{what} must be an (n, 32) uint8 array or a sequence of 32-byte values, not a {kind}")
    try:
        items = list(hashes)  # type: ignore[call-overload]
    except TypeError:
        raise MalformedHashError(f"{what} must be an array or a sequence, got {type(hashes).__name__}") from None
    for i, h in enumerate(items):
        if not isinstance(h, (bytes, bytearray)):
            raise MalformedHashError(f"{what}[{i}] must be 32 bytes, got {type(h).__name__}")
        if len(h) != HASH_BYTES:
            raise MalformedHashError(f"{what}[{i}] must be {HASH_BYTES} bytes, got {len(h)}")
    if not items:
        return np.empty((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(b"".join(items), dtype=np.uint8).reshape(-1, HASH_BYTES).copy()


@lru_cache(maxsize=8)
def _permutation_lut(perm_bytes: bytes) -> np.ndarray:
    """``lut[i, w, v]``: word ``w`` of the permuted image of a hash whose only non-zero byte is byte ``i`` = ``v``."""
    perm = np.frombuffer(perm_bytes, dtype=np.uint16)
    dest = np.empty(HASH_BITS, dtype=np.int64)
    dest[perm] = np.arange(HASH_BITS)  # old bit perm[j] moves to new bit j
    lut = np.zeros((HASH_BYTES, 4, 256), dtype=np.uint64)
    values = np.arange(256)
    for i in range(HASH_BYTES):
        for b in range(8):
            j = int(dest[8 * i + b])
            has_bit = ((values >> b) & 1).astype(bool)
            lut[i, j // 64, has_bit] |= np.uint64(1 << (j % 64))
    lut.setflags(write=False)
    return lut


def permute_to_cols(hashes: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Apply the bit permutation to ``(n, 32)`` uint8 hashes; return ``(4, n)`` uint64 word columns.

    Done with per-byte lookup tables (32 bytes x 4 words OR-ed together) rather than unpacking to 256 bits per
    hash: ~15x faster and no ``n x 256`` temporary, which matters when building 10 million entries.
    """
    lut = _permutation_lut(np.ascontiguousarray(perm, dtype=np.uint16).tobytes())
    n = hashes.shape[0]
    by_byte = np.ascontiguousarray(hashes.T)
    out = np.zeros((4, n), dtype=np.uint64)
    for i in range(HASH_BYTES):
        col = by_byte[i]
        for w in range(4):
            out[w] |= lut[i, w].take(col)
    return out


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How the 256 (permuted) bits are cut into ``m`` contiguous chunks, largest first.

    ``starts[i]``/``widths[i]`` give chunk ``i``'s bit range. The low ``prefixes[i]`` bits of a chunk's key address
    a direct CSR offsets table (``2**prefix + 1`` entries, so the table stays a few MB); the remaining
    ``widths[i] - prefixes[i]`` (at most 4) *suffix* bits are stored in the top bits of each table entry and
    checked while scanning a bucket. That makes chunks wider than the directly addressable size: fewer false
    candidates reach the expensive random-access verification, at no extra memory.
    """

    starts: tuple[int, ...]
    widths: tuple[int, ...]
    prefixes: tuple[int, ...]

    @staticmethod
    def even(m: int, prefix_bits: int = 20) -> ChunkPlan:
        if not 8 <= m <= 64:
            raise ValueError(f"number of chunks must be in 8..64, got {m}")
        if not 8 <= prefix_bits <= 24:
            raise ValueError(f"prefix bits must be in 8..24, got {prefix_bits}")
        base, extra = divmod(HASH_BITS, m)
        widths = [base + 1] * extra + [base] * (m - extra)
        prefixes = [min(w, prefix_bits) for w in widths]
        if any(w - p > 4 for w, p in zip(widths, prefixes, strict=True)):
            raise ValueError(f"{m} chunks of {max(widths)} bits need more than 4 suffix bits over {prefix_bits}")
        starts = [sum(widths[:i]) for i in range(m)]
        return ChunkPlan(tuple(starts), tuple(widths), tuple(prefixes))

    @property
    def m(self) -> int:
        return len(self.widths)


@lru_cache(maxsize=256)
def prefix_probes(prefix: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Prefix XOR masks of weight ``<= radius``, and for each the suffix distance still allowed (radius - weight)."""
    masks = flip_masks(prefix, radius)
    budget = (radius - np.bitwise_count(masks.astype(np.uint64))).astype(np.int16)
    budget.setflags(write=False)
    return masks, budget


def chunk_keys(cols: np.ndarray, start: int, width: int) -> np.ndarray:
    """Extract bits ``[start, start+width)`` of each column of ``(4, n)`` uint64 ``cols`` as an int64 key array."""
    w, shift = divmod(start, 64)
    key = cols[w] >> np.uint64(shift)
    if shift + width > 64:
        key = key | (cols[w + 1] << np.uint64(64 - shift))
    out: np.ndarray = (key & np.uint64((1 << width) - 1)).astype(np.int64)
    return out


def chunk_word_masks(start: int, width: int) -> np.ndarray:
    """Four uint64 masks selecting chunk bits ``[start, start+width)`` in the word representation."""
    full = ((1 << width) - 1) << start
    return np.array([(full >> (64 * i)) & ((1 << 64) - 1) for i in range(4)], dtype=np.uint64)


@lru_cache(maxsize=256)
def flip_masks(width: int, radius: int) -> np.ndarray:
    """All ``width``-bit XOR masks of weight ``0..radius`` (the probe keys around a query chunk), as int64."""
    if width <= 22:  # filter all 2**width values by weight (vectorised; at most 32 MB transient)
        every = np.arange(1 << width, dtype=np.int64)
        small = every[np.bitwise_count(every) <= radius]
        small.setflags(write=False)
        return small
    out: list[int] = []
    for r in range(radius + 1):
        for combo in combinations(range(width), r):
            v = 0
            for b in combo:
                v |= 1 << b
            out.append(v)
    arr = np.array(out, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def validate_threshold(t: object) -> int:
    """Return ``t`` as an int in 0..256 or raise :class:`InvalidThresholdError`."""
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
        raise InvalidThresholdError(f"threshold must be an integer, got {type(t).__name__}")
    ti = int(t)
    if not 0 <= ti <= HASH_BITS:
        raise InvalidThresholdError(f"threshold must be in 0..{HASH_BITS}, got {ti}")
    return ti


def radii_for_threshold(t: int, m: int) -> tuple[int, ...]:
    """Per-chunk probe radius that still guarantees every entry within ``t`` is found (refined pigeonhole).

    Write ``t = s*m + a`` with ``0 <= a < m``. If an entry were missed, the first ``a+1`` chunks would each differ in
    at least ``s+1`` bits and the other ``m-a-1`` chunks in at least ``s`` bits, ``(a+1)(s+1) + (m-a-1)s = t+1``
    bits in total, which contradicts distance <= t. So chunks ``0..a`` are probed with radius ``s`` and the rest with
    ``s-1`` (``-1`` means "not probed").
    """
    s, a = divmod(t, m)
    return tuple(s if i <= a else s - 1 for i in range(m))
