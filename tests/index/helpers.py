"""Synthetic hash sets for the index tests (independent of the code under test)."""

from __future__ import annotations

import numpy as np


def flip_bits(h: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Copy of 32-byte hash ``h`` with exactly ``k`` distinct bits flipped."""
    bits = np.unpackbits(h)
    bits[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits)


def reference(hashes: np.ndarray, ids: np.ndarray, query: np.ndarray, t: int) -> dict[int, int]:
    """id -> distance for every entry within ``t`` (bit-unpacking brute force, unlike the code under test)."""
    if hashes.shape[0] == 0:
        return {}
    d = (np.unpackbits(hashes, axis=1) != np.unpackbits(query)[None, :]).sum(axis=1)
    return {int(i): int(x) for i, x in zip(ids[d <= t], d[d <= t], strict=True)}


def clustered(rng: np.random.Generator, n: int, centres: int, max_flips: int) -> np.ndarray:
    """``n`` hashes as near-duplicates (0..max_flips bits) of a few centres, plus exact duplicates."""
    c = rng.integers(0, 256, size=(max(1, centres), 32), dtype=np.uint8)
    out = np.empty((n, 32), dtype=np.uint8)
    for i in range(n):
        out[i] = flip_bits(c[rng.integers(0, c.shape[0])], int(rng.integers(0, max_flips + 1)), rng)
    return out
