"""A Merkle tree over the blinded table's slots.

The signed manifest carries only the root; the table itself can be served by any untrusted mirror. Leaves are
``SHA-256(0x00 || index (8 bytes BE) || slot)`` — binding each slot to its position, so slots cannot be
swapped — and inner nodes ``SHA-256(0x01 || left || right)``; the leaf count is padded to a power of two with
the constant ``SHA-256(0x02)`` so that the tree shape depends only on the table size. Levels are kept as flat
``bytearray`` buffers, which makes incremental updates (a table delta) cost ``O(changed · log n)`` hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import MerkleProofError

__all__ = ["MerkleProof", "MerkleTree", "leaf_hash", "verify_proof"]

_H = 32
_EMPTY = hashlib.sha256(b"\x02").digest()


def leaf_hash(index: int, slot: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + index.to_bytes(8, "big") + slot).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True)
class MerkleProof:
    """Inclusion proof of one slot: its index, the table size and the sibling hashes bottom-up."""

    index: int
    size: int
    siblings: tuple[bytes, ...]


class MerkleTree:
    """All levels of the tree, leaves first; mutable only through :meth:`update`."""

    def __init__(self, slots: Sequence[bytes]) -> None:
        self.size = len(slots)
        if self.size == 0:
            raise MerkleProofError("cannot build a Merkle tree over zero slots")
        width = 1
        while width < self.size:
            width *= 2
        leaves = bytearray(b"".join(leaf_hash(i, s) for i, s in enumerate(slots)))
        leaves += _EMPTY * (width - self.size)
        self._levels: list[bytearray] = [leaves]
        while width > 1:
            prev = self._levels[-1]
            width //= 2
            nxt = bytearray(width * _H)
            for i in range(width):
                nxt[i * _H : (i + 1) * _H] = _node(
                    bytes(prev[2 * i * _H : (2 * i + 1) * _H]),
                    bytes(prev[(2 * i + 1) * _H : (2 * i + 2) * _H]),
                )
            self._levels.append(nxt)

    @property
    def root(self) -> bytes:
        return bytes(self._levels[-1])

    def _get(self, level: int, i: int) -> bytes:
        return bytes(self._levels[level][i * _H : (i + 1) * _H])

    def update(self, changes: Iterable[tuple[int, bytes]]) -> bytes:
        """Replace some slots and return the new root, rehashing only the affected paths."""
        dirty: set[int] = set()
        for index, slot in changes:
            if not 0 <= index < self.size:
                raise MerkleProofError(f"slot index {index} outside table of {self.size}")
            self._levels[0][index * _H : (index + 1) * _H] = leaf_hash(index, slot)
            dirty.add(index)
        for level in range(1, len(self._levels)):
            dirty = {i // 2 for i in dirty}
            for i in dirty:
                self._levels[level][i * _H : (i + 1) * _H] = _node(
                    self._get(level - 1, 2 * i), self._get(level - 1, 2 * i + 1)
                )
        return self.root

    def proof(self, index: int) -> MerkleProof:
        if not 0 <= index < self.size:
            raise MerkleProofError(f"slot index {index} outside table of {self.size}")
        siblings = []
        i = index
        for level in range(len(self._levels) - 1):
            siblings.append(self._get(level, i ^ 1))
            i //= 2
        return MerkleProof(index, self.size, tuple(siblings))


def verify_proof(root: bytes, slot: bytes, proof: MerkleProof) -> None:
    """Raise :class:`MerkleProofError` unless ``slot`` sits at ``proof.index`` of the tree with ``root``."""
    if not 0 <= proof.index < proof.size:
        raise MerkleProofError("proof index outside the table")
    depth = max(proof.size - 1, 0).bit_length()
    if len(proof.siblings) != depth or any(len(s) != _H for s in proof.siblings):
        raise MerkleProofError(f"proof for a table of {proof.size} slots needs {depth} 32-byte siblings")
    h = leaf_hash(proof.index, slot)
    i = proof.index
    for sib in proof.siblings:
        h = _node(sib, h) if i & 1 else _node(h, sib)
        i //= 2
    if h != root:
        raise MerkleProofError("Merkle proof does not lead to the signed root")
