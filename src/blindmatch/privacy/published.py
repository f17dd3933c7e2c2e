"""What leaves the custodian: the published table, incremental deltas, and the client's verification of both.

Binary layouts (all integers big-endian):

* table ``"BMT1" | u32 n | signed-manifest JSON (n bytes) | table_size × 32-byte slots``
* delta ``"BMD1" | base root (32) | u32 n | signed-manifest JSON | u32 k | k × (u32 index | 32-byte slot)``

A client trusts a table only after :func:`verify_table`: k-of-n signatures, every slot a valid ristretto255
point, the recomputed Merkle root equal to the signed one, ``L`` valid. A delta is applied only if its base
root is the client's current root, the new manifest is signed, names the base as ``previous_root``, has a
higher list version and the same size, seed and ``L``, and the patched table hashes to the new signed root.
The client keeps the Merkle levels, so a delta costs ``O(k log m)`` hashes instead of a re-download.
"""

from __future__ import annotations

import copy
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import DecodeError, InvalidPointError, ManifestError, TableDeltaError, TableVerificationError
from .group import Point
from .manifest import Manifest, SignedManifest, TrustPolicy, sign_manifest, verify_signatures
from .merkle import MerkleTree
from .scheme import TokenScheme
from .table import CustodianTable
from .warn import WarnPublication

__all__ = [
    "VerifiedTable",
    "apply_delta",
    "encode_delta",
    "encode_table",
    "make_manifest",
    "verify_table",
]

_TABLE_MAGIC = b"BMT1"
_DELTA_MAGIC = b"BMD1"


def make_manifest(
    table: CustodianTable,
    *,
    list_id: str,
    list_version: int,
    scheme: TokenScheme,
    signers: Sequence[Ed25519PrivateKey],
    previous_root: bytes = b"",
    created_at: str | None = None,
    warn: WarnPublication | None = None,
) -> SignedManifest:
    """Describe ``table`` in a manifest (including a fresh audit proof) and sign it with every key in ``signers``.
    ``warn`` (from :func:`.warn.build_warn_filter` over the same tokens) offers warn-before-send."""
    manifest = Manifest(
        list_id=list_id,
        list_version=list_version,
        scheme_name=scheme.name,
        scheme_params=scheme.params(),
        table_size=table.size,
        cuckoo_ways=table.ways,
        hash_seed=table.hash_seed,
        lpub=table.lpub.raw,
        merkle_root=table.root,
        audit_commitment=hashlib.sha256(b"blindmatch/audit-seed\x00" + table.audit_seed).digest(),
        audit_proof=table.audit_proof().encode(),
        created_at=created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        previous_root=previous_root,
        warn_lpub=warn.lpub.raw if warn else b"",
        warn_filter=warn.digest if warn else b"",
    )
    signed = SignedManifest(manifest)
    for key in signers:
        signed = signed.with_signature(sign_manifest(manifest, key))
    return signed


def encode_table(signed: SignedManifest, slots: Sequence[bytes]) -> bytes:
    js = signed.to_bytes()
    return _TABLE_MAGIC + struct.pack(">I", len(js)) + js + b"".join(slots)


def encode_delta(base_root: bytes, signed: SignedManifest, changes: Sequence[tuple[int, bytes]]) -> bytes:
    js = signed.to_bytes()
    body = b"".join(struct.pack(">I", i) + s for i, s in changes)
    return _DELTA_MAGIC + base_root + struct.pack(">I", len(js)) + js + struct.pack(">I", len(changes)) + body


@dataclass(slots=True)
class VerifiedTable:
    """A table whose signatures and root the client has checked; the only kind vouchers can be made against."""

    signed: SignedManifest
    slots: list[bytes]
    lpub: Point
    tree: MerkleTree
    signers: list[str]

    @property
    def manifest(self) -> Manifest:
        return self.signed.manifest

    @property
    def root(self) -> bytes:
        return self.tree.root


def _read_manifest(data: bytes, offset: int) -> tuple[SignedManifest, int]:
    if len(data) < offset + 4:
        raise DecodeError("truncated before the manifest length")
    (n,) = struct.unpack_from(">I", data, offset)
    offset += 4
    if len(data) < offset + n:
        raise DecodeError("truncated inside the manifest")
    return SignedManifest.from_bytes(data[offset : offset + n]), offset + n


def _check_slot(index: int, slot: bytes) -> None:
    try:
        Point.decode(slot)
    except InvalidPointError as exc:
        raise TableVerificationError(f"slot {index} is not a valid point: {exc}") from None


def verify_table(data: bytes, policy: TrustPolicy, *, min_list_version: int = 0) -> VerifiedTable:
    """Parse and fully verify a published table (signatures, points, Merkle root); raise on any mismatch.

    ``min_list_version``: the highest version the client has already accepted; an older (rolled-back) table
    from a stale mirror is refused."""
    if data[:4] != _TABLE_MAGIC:
        raise DecodeError("not a blindmatch table (bad magic or version)")
    signed, offset = _read_manifest(data, 4)
    signers = verify_signatures(signed, policy)
    m = signed.manifest
    if m.list_version < min_list_version:
        raise TableVerificationError(
            f"table is list version {m.list_version}, older than the accepted version {min_list_version}"
        )
    if m.table_size < 1:
        raise ManifestError("table size must be positive")
    if len(data) != offset + 32 * m.table_size:
        raise DecodeError(f"table body is {len(data) - offset} bytes, manifest says {m.table_size} slots of 32")
    slots = [data[offset + 32 * i : offset + 32 * (i + 1)] for i in range(m.table_size)]
    for i, s in enumerate(slots):
        _check_slot(i, s)
    try:
        lpub = Point.decode(m.lpub)
    except InvalidPointError as exc:
        raise TableVerificationError(f"L is not a valid point: {exc}") from None
    tree = MerkleTree(slots)
    if tree.root != m.merkle_root:
        raise TableVerificationError("Merkle root of the slots differs from the signed root")
    return VerifiedTable(signed, slots, lpub, tree, signers)


def apply_delta(table: VerifiedTable, data: bytes, policy: TrustPolicy) -> VerifiedTable:
    """Verify a delta against ``table`` and return the updated table (``table`` itself is left untouched)."""
    if data[:4] != _DELTA_MAGIC:
        raise DecodeError("not a blindmatch table delta (bad magic or version)")
    if len(data) < 36:
        raise DecodeError("truncated delta header")
    base_root = data[4:36]
    signed, offset = _read_manifest(data, 36)
    if len(data) < offset + 4:
        raise DecodeError("truncated before the change count")
    (k,) = struct.unpack_from(">I", data, offset)
    offset += 4
    if len(data) != offset + 36 * k:
        raise DecodeError(f"delta body does not hold exactly {k} changes")
    if base_root != table.root:
        raise TableDeltaError("delta was made for a different table version (base root mismatch)")
    signers = verify_signatures(signed, policy)
    old, new = table.manifest, signed.manifest
    if new.previous_root != base_root:
        raise TableDeltaError("signed manifest does not name the client's table as its predecessor")
    if new.list_version <= old.list_version:
        raise TableDeltaError(f"delta goes from list version {old.list_version} to {new.list_version}: not newer")
    if (new.table_size, new.cuckoo_ways, new.hash_seed, new.lpub, new.list_id) != (
        old.table_size,
        old.cuckoo_ways,
        old.hash_seed,
        old.lpub,
        old.list_id,
    ):
        raise TableDeltaError("a delta cannot change the table size, hash seed, key or list id")
    changes = []
    for c in range(k):
        (i,) = struct.unpack_from(">I", data, offset + 36 * c)
        slot = data[offset + 36 * c + 4 : offset + 36 * (c + 1)]
        if i >= new.table_size:
            raise TableDeltaError(f"delta changes slot {i} outside the table of {new.table_size}")
        _check_slot(i, slot)
        changes.append((i, slot))
    tree = copy.deepcopy(table.tree)
    if tree.update(changes) != new.merkle_root:
        raise TableDeltaError("patched table does not hash to the signed root")
    slots = list(table.slots)
    for i, s in changes:
        slots[i] = s
    return VerifiedTable(signed, slots, table.lpub, tree, signers)
