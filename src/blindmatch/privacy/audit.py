"""Third-party audit of a published table: does it hold exactly the hotline's list, and nothing else?

An auditor (e.g. a second child-safety organisation) receives from the custodian the audit seed and the slot
assignment (:class:`AuditPackage`) and, independently, the list itself. It recomputes every slot's preimage —
``H(token)`` for assigned slots, ``H_dummy(seed, i, epoch)`` for the rest — checks the assignment is
consistent with the public cuckoo hash functions and covers exactly the list's tokens, and verifies the
manifest's batched DLEQ proof that each slot is α times its preimage. A table with an extra (non-list) token,
a missing token, or a slot that is not α·preimage fails. The auditor never learns α.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .dleq import DleqError, DleqProof, verify_batch
from .errors import InvalidScalarError, TableMismatchError
from .group import Point
from .published import VerifiedTable
from .table import CustodianTable, cuckoo_positions, dummy_preimage, proof_context, token_point

__all__ = ["AuditPackage", "AuditReport", "audit_package", "audit_table"]


@dataclass(frozen=True, slots=True)
class AuditPackage:
    """Auditor-only material: must not reach clients (it would let them tell dummies from real slots)."""

    audit_seed: bytes
    assignment: Mapping[int, bytes]
    dummy_epochs: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class AuditReport:
    table_size: int
    list_tokens: int
    dummy_slots: int
    root: bytes


def audit_package(table: CustodianTable) -> AuditPackage:
    return AuditPackage(table.audit_seed, dict(table.assignment), dict(table.dummy_epochs))


def audit_table(table: VerifiedTable, list_tokens: Iterable[bytes], package: AuditPackage) -> AuditReport:
    """Raise :class:`TableMismatchError` unless the table is exactly the list's tokens plus honest dummies."""
    m = table.manifest
    commitment = hashlib.sha256(b"blindmatch/audit-seed\x00" + package.audit_seed).digest()
    if commitment != m.audit_commitment:
        raise TableMismatchError("audit seed does not match the manifest's commitment")
    expected = set(list_tokens)
    assigned = set(package.assignment.values())
    if assigned != expected:
        raise TableMismatchError(
            f"table holds {len(assigned - expected)} token(s) not on the list and misses {len(expected - assigned)}"
        )
    if len(assigned) != len(package.assignment):
        raise TableMismatchError("a token is assigned to more than one slot")
    preimages: list[Point] = []
    for i in range(m.table_size):
        tok = package.assignment.get(i)
        if tok is not None:
            if i not in cuckoo_positions(tok, m.table_size, m.hash_seed, m.cuckoo_ways):
                raise TableMismatchError(f"slot {i} holds a token whose hash functions do not point there")
            preimages.append(token_point(tok))
        else:
            if i not in package.dummy_epochs:
                raise TableMismatchError(f"slot {i} is neither assigned nor a declared dummy")
            preimages.append(dummy_preimage(package.audit_seed, i, package.dummy_epochs[i]))
    try:
        proof = DleqProof.decode(m.audit_proof)
        verify_batch(
            table.lpub,
            preimages,
            [Point(s) for s in table.slots],
            proof,
            proof_context(table.root, table.lpub),
        )
    except (DleqError, InvalidScalarError) as exc:
        raise TableMismatchError(f"audit proof failed: {exc}") from None
    return AuditReport(m.table_size, len(expected), m.table_size - len(assigned), table.root)
