"""The custodian's blinded cuckoo table.

Every list token ``x`` is placed at one of two positions ``h_1(x), h_2(x)`` of a table of ``m`` slots (cuckoo
hashing, random-walk eviction, rehash with a fresh seed on failure). A filled slot holds ``α·H(x)``; an empty
slot holds ``α·H_dummy(audit_seed, i)``. Both are α times a random-oracle point, so a client (who knows
neither α nor the audit seed) cannot tell them apart — it cannot learn that its token is *absent* by looking
at its two slots. Auditors receive the audit seed and the slot→token assignment, recompute every preimage
point ``U_i`` and check the custodian's batched DLEQ proof that each slot equals ``α·U_i`` (see
:mod:`.audit`).

The custodian keeps :class:`CustodianTable` (α, the audit seed, the assignment) private; clients get only the
slots and the signed manifest (:mod:`.published`). Incremental updates re-place only what changed and emit the
changed slots (:meth:`CustodianTable.update`).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .dleq import DleqProof, prove_batch
from .errors import TableBuildError
from .group import Point, Scalar, hash_to_point
from .merkle import MerkleTree

__all__ = [
    "DEFAULT_LOAD",
    "DEFAULT_LOADS",
    "CustodianTable",
    "cuckoo_positions",
    "dummy_preimage",
    "token_point",
]

#: Fraction of slots filled per number of hash functions: d-choice, one-slot-per-bucket cuckoo hashing succeeds
#: w.h.p. below 1/2 (d = 2) and 0.918 (d = 3); we stay safely below.
DEFAULT_LOADS = {2: 0.45, 3: 0.85}
MAX_LOADS = {2: 0.5, 3: 0.9}
DEFAULT_LOAD = DEFAULT_LOADS[2]
_MAX_KICKS = 1000
_MAX_REHASH = 16


def cuckoo_positions(token: bytes, size: int, hash_seed: bytes, ways: int = 2) -> tuple[int, ...]:
    """The ``ways`` candidate slots of ``token`` (keyed BLAKE2b; the seed is public, in the manifest)."""
    out = []
    for j in range(1, ways + 1):
        d = hashlib.blake2b(token, key=hash_seed, person=b"bm-cuckoo-%d" % j, digest_size=8).digest()
        out.append(int.from_bytes(d, "big") % size)
    return tuple(out)


def token_point(token: bytes) -> Point:
    """H(x): the point a list token or a client token is hashed to before blinding."""
    return hash_to_point(b"token", token)


def dummy_preimage(audit_seed: bytes, index: int, epoch: int = 0) -> Point:
    """The preimage point of an empty slot: from the (auditor-only) seed, the slot index and the list version
    at which the dummy was written (so a slot that becomes empty again gets a value never seen before)."""
    return hash_to_point(b"dummy", audit_seed, index.to_bytes(8, "big"), epoch.to_bytes(8, "big"))


def proof_context(root: bytes, lpub: Point) -> bytes:
    return b"blindmatch/table-audit/v1" + root + lpub.raw


def _place(tokens: Sequence[bytes], size: int, hash_seed: bytes, ways: int) -> dict[int, bytes] | None:
    """Cuckoo-insert all tokens; ``None`` if some insertion exceeds the kick budget."""
    rng = random.Random(hash_seed)  # deterministic eviction walk: the same list gives the same table
    slots: dict[int, bytes] = {}
    for tok in tokens:
        if not _insert(slots, tok, size, hash_seed, ways, rng):
            return None
    return slots


def _insert(slots: dict[int, bytes], token: bytes, size: int, seed: bytes, ways: int, rng: random.Random) -> bool:
    cur = token
    for _ in range(_MAX_KICKS):
        positions = cuckoo_positions(cur, size, seed, ways)
        for p in positions:
            if p not in slots:
                slots[p] = cur
                return True
        victim_pos = rng.choice(positions)
        cur, slots[victim_pos] = slots[victim_pos], cur
    return False  # the caller works on a copy and discards it


@dataclass(frozen=True, slots=True)
class TableState:
    """Public part of one table version: the slot encodings, the hash seed, L = α·G and the root."""

    slots: tuple[bytes, ...]
    hash_seed: bytes
    lpub: Point
    root: bytes


class CustodianTable:
    """The custodian's private view of a table: α, the audit seed, which token sits in which slot."""

    def __init__(
        self,
        alpha: Scalar,
        audit_seed: bytes,
        hash_seed: bytes,
        size: int,
        assignment: dict[int, bytes],
        dummy_epochs: dict[int, int] | None = None,
        ways: int = 3,
    ) -> None:
        if ways not in DEFAULT_LOADS:
            raise TableBuildError(f"cuckoo tables support {sorted(DEFAULT_LOADS)} hash functions, not {ways}")
        self.ways = ways
        self.alpha = alpha
        self.audit_seed = audit_seed
        self.hash_seed = hash_seed
        self.size = size
        self.assignment = dict(assignment)
        self.dummy_epochs = {i: (dummy_epochs or {}).get(i, 0) for i in range(size) if i not in assignment}
        self.lpub = Point.base_mul(alpha)
        self.preimages: list[Point] = [self._preimage(i) for i in range(size)]
        self.slots: list[bytes] = [u.mul(alpha).raw for u in self.preimages]
        self.tree = MerkleTree(self.slots)

    @classmethod
    def build(
        cls,
        tokens: Iterable[bytes],
        *,
        load: float | None = None,
        alpha: Scalar | None = None,
        audit_seed: bytes | None = None,
        ways: int = 3,
    ) -> CustodianTable:
        """Place the (deduplicated) tokens; rehash with a new seed, then grow the table, if insertion fails."""
        if ways not in DEFAULT_LOADS:
            raise TableBuildError(f"cuckoo tables support {sorted(DEFAULT_LOADS)} hash functions, not {ways}")
        load = DEFAULT_LOADS[ways] if load is None else load
        if not 0.05 <= load <= MAX_LOADS[ways]:
            raise TableBuildError(
                f"cuckoo load {load} outside the supported range [0.05, {MAX_LOADS[ways]}] for {ways} ways"
            )
        uniq = sorted(set(tokens))
        if any(not isinstance(t, bytes) or not 8 <= len(t) <= 64 for t in uniq):
            raise TableBuildError("tokens must be bytes of length 8..64")
        size = max(8, math.ceil(len(uniq) / load))
        for attempt in range(_MAX_REHASH):
            hash_seed = secrets.token_bytes(16)
            placed = _place(uniq, size, hash_seed, ways)
            if placed is not None:
                return cls(
                    alpha or Scalar.random(), audit_seed or secrets.token_bytes(32), hash_seed, size, placed, None, ways
                )
            if attempt % 4 == 3:
                size = math.ceil(size * 1.1)
        raise TableBuildError(f"cuckoo insertion of {len(uniq)} tokens failed after {_MAX_REHASH} rehashes")

    def _preimage(self, i: int) -> Point:
        tok = self.assignment.get(i)
        return token_point(tok) if tok is not None else dummy_preimage(self.audit_seed, i, self.dummy_epochs[i])

    @property
    def root(self) -> bytes:
        return self.tree.root

    def state(self) -> TableState:
        return TableState(tuple(self.slots), self.hash_seed, self.lpub, self.root)

    def audit_proof(self) -> DleqProof:
        """Batched DLEQ proof that slot_i = α·U_i for every i (checked by :func:`.audit.audit_table`)."""
        vs = [Point(s) for s in self.slots]
        return prove_batch(self.alpha, self.preimages, vs, proof_context(self.root, self.lpub))

    def tokens(self) -> set[bytes]:
        return set(self.assignment.values())

    def update(
        self, added: Iterable[bytes], removed: Iterable[bytes], *, epoch: int, cover: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Apply list changes in place; return the changed ``(slot index, new slot)`` pairs for a delta.

        Removed tokens become dummies written at ``epoch`` (never a value the slot had before); added tokens are
        cuckoo-inserted, which may move existing tokens. ``cover`` extra dummy slots (default: as many as the
        real changes) are re-randomised too, so a client diffing versions cannot tell which changed slots were
        empty before. If an insertion fails the table is left unchanged and :class:`TableBuildError` asks for a
        full rebuild.
        """
        if epoch <= max(self.dummy_epochs.values(), default=0):
            raise TableBuildError("update epoch must exceed every earlier epoch")
        where = {tok: i for i, tok in self.assignment.items()}
        new_assign = dict(self.assignment)
        for tok in set(removed):
            if tok in where:
                del new_assign[where[tok]]
        rng = random.Random(self.hash_seed + self.root)
        for tok in sorted(set(added) - set(new_assign.values())):
            if not _insert(new_assign, tok, self.size, self.hash_seed, self.ways, rng):
                raise TableBuildError("incremental insertion failed; rebuild the table (full download)")
        changed = {i for i in set(self.assignment) | set(new_assign) if self.assignment.get(i) != new_assign.get(i)}
        spare = [i for i in range(self.size) if i not in new_assign and i not in changed]
        n_cover = len(changed) if cover is None else cover
        changed |= set(secrets.SystemRandom().sample(spare, min(n_cover, len(spare))))
        self.assignment = new_assign
        for i in changed:
            if i in new_assign:
                self.dummy_epochs.pop(i, None)
            else:
                self.dummy_epochs[i] = epoch
            self.preimages[i] = self._preimage(i)
            self.slots[i] = self.preimages[i].mul(self.alpha).raw
        out = [(i, self.slots[i]) for i in sorted(changed)]
        self.tree.update(out)
        return out
