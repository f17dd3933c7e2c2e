"""Entry points for the CLI and the service: build, update, verify and describe a blinded table.

These functions do the parsing (hex PDQ hashes, key objects) and return plain values; reading and writing
files is left to the caller. The custodian's secret state (α, audit seed, slot assignment) is serialised by
:func:`custodian_to_bytes` — it must be stored like a private key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..hashing.signals import SignalType, normalize_hash
from .audit import AuditPackage, audit_package
from .errors import DecodeError
from .group import Scalar
from .manifest import SignedManifest, TrustPolicy
from .published import VerifiedTable, encode_delta, encode_table, make_manifest
from .published import verify_table as _verify_table
from .scheme import TokenScheme
from .table import CustodianTable
from .warn import WarnPublication, build_warn_filter

__all__ = [
    "BuiltTable",
    "build_table",
    "custodian_from_bytes",
    "custodian_to_bytes",
    "transparency",
    "update_table",
    "verify_table",
    "warn_filter_for",
]


@dataclass(frozen=True, slots=True)
class BuiltTable:
    custodian: CustodianTable
    signed: SignedManifest
    table_bytes: bytes
    warn: WarnPublication | None = None  # the warn filter to publish next to the table (warn-before-send lists)

    def audit_package(self) -> AuditPackage:
        return audit_package(self.custodian)


def _pdq_bytes(values: Iterable[str]) -> list[bytes]:
    return [bytes.fromhex(normalize_hash(SignalType.PDQ, v)) for v in values]


def _list_tokens(scheme: TokenScheme, hashes: Iterable[str]) -> list[bytes]:
    return [t for h in _pdq_bytes(hashes) for t in scheme.list_tokens(h)]


def build_table(
    pdq_hashes: Iterable[str],
    scheme: TokenScheme,
    *,
    list_id: str,
    list_version: int,
    signers: Sequence[Ed25519PrivateKey],
    load: float | None = None,
    cuckoo_ways: int = 3,
    warn_key: Scalar | None = None,
) -> BuiltTable:
    """Blind a list (hex PDQ hashes) into a signed, publishable table (bytes for :func:`verify_table`).

    ``cuckoo_ways`` 3 (default) or 2: three hash functions fill ~85 % of the slots instead of 45 % (table about
    half the size) but every voucher token then carries three wraps (+24 bytes) and costs one more client mult.
    ``warn_key`` (a key of its own, never α) also builds the warn-before-send filter and names it in the manifest.
    """
    custodian = CustodianTable.build(_list_tokens(scheme, pdq_hashes), load=load, ways=cuckoo_ways)
    warn = warn_filter_for(custodian, warn_key) if warn_key is not None else None
    signed = make_manifest(
        custodian, list_id=list_id, list_version=list_version, scheme=scheme, signers=signers, warn=warn
    )
    return BuiltTable(custodian, signed, encode_table(signed, custodian.slots), warn)


def update_table(
    custodian: CustodianTable,
    added: Iterable[str],
    removed: Iterable[str],
    scheme: TokenScheme,
    *,
    list_id: str,
    list_version: int,
    signers: Sequence[Ed25519PrivateKey],
    warn_key: Scalar | None = None,
) -> tuple[bytes, bytes]:
    """Apply list changes to ``custodian`` (in place); return ``(delta bytes, full new table bytes)``.
    With ``warn_key`` the new version keeps warn-before-send: rebuild its filter with :func:`warn_filter_for`."""
    base = custodian.root
    changes = custodian.update(_list_tokens(scheme, added), _list_tokens(scheme, removed), epoch=list_version)
    warn = warn_filter_for(custodian, warn_key) if warn_key is not None else None
    signed = make_manifest(
        custodian,
        list_id=list_id,
        list_version=list_version,
        scheme=scheme,
        signers=signers,
        previous_root=base,
        warn=warn,
    )
    return encode_delta(base, signed, changes), encode_table(signed, custodian.slots)


def warn_filter_for(custodian: CustodianTable, warn_key: Scalar) -> WarnPublication:
    """The warn filter of the custodian's current tokens (deterministic: the same tokens give the same file)."""
    return build_warn_filter(warn_key, custodian.tokens())


def verify_table(data: bytes, trusted_keys: Sequence[Ed25519PublicKey], threshold: int = 1) -> VerifiedTable:
    """Full client-side verification of a published table against ``threshold``-of-``trusted_keys``."""
    return _verify_table(data, TrustPolicy.of(list(trusted_keys), threshold))


def transparency(data: bytes, trusted_keys: Sequence[Ed25519PublicKey] = (), threshold: int = 1) -> str:
    """Human-readable manifest and root; verified (and says so) when trusted keys are given."""
    if trusted_keys:
        table = verify_table(data, trusted_keys, threshold)
        signed, status = table.signed, f"VERIFIED by {threshold}-of-{len(trusted_keys)} ({', '.join(table.signers)})"
    else:
        if data[:4] != b"BMT1" or len(data) < 8:
            raise DecodeError("not a blindmatch table")
        n = int.from_bytes(data[4:8], "big")
        signed, status = SignedManifest.from_bytes(data[8 : 8 + n]), "NOT VERIFIED (no trusted keys given)"
    m = signed.manifest
    lines = [
        f"status:        {status}",
        f"list:          {m.list_id} version {m.list_version}",
        f"scheme:        {m.scheme_name} {json.dumps(dict(m.scheme_params), sort_keys=True)}",
        f"table size:    {m.table_size} slots",
        f"merkle root:   {m.merkle_root.hex()}",
        f"previous root: {m.previous_root.hex() or '-'}",
        f"L = alpha*G:   {m.lpub.hex()}",
        f"audit commit:  {m.audit_commitment.hex()}",
        f"warn mode:     {f'L_w {m.warn_lpub.hex()}, filter {m.warn_filter.hex()}' if m.has_warn else 'off'}",
        f"created at:    {m.created_at}",
        f"signatures:    {', '.join(s.key_id for s in signed.signatures) or '-'}",
    ]
    return "\n".join(lines)


def custodian_to_bytes(custodian: CustodianTable) -> bytes:
    """Serialise the custodian's SECRET state (α, seeds, assignment): store it like a private key."""
    return json.dumps(
        {
            "format": 1,
            "alpha": custodian.alpha.raw.hex(),
            "audit_seed": custodian.audit_seed.hex(),
            "hash_seed": custodian.hash_seed.hex(),
            "size": custodian.size,
            "ways": custodian.ways,
            "assignment": {str(i): t.hex() for i, t in sorted(custodian.assignment.items())},
            "dummy_epochs": {str(i): e for i, e in sorted(custodian.dummy_epochs.items()) if e},
        },
        sort_keys=True,
    ).encode()


def custodian_from_bytes(data: bytes) -> CustodianTable:
    try:
        obj = json.loads(data)
        if obj.get("format") != 1:
            raise DecodeError("unsupported custodian state format")
        return CustodianTable(
            Scalar.decode(bytes.fromhex(obj["alpha"])),
            bytes.fromhex(obj["audit_seed"]),
            bytes.fromhex(obj["hash_seed"]),
            int(obj["size"]),
            {int(i): bytes.fromhex(t) for i, t in obj["assignment"].items()},
            {int(i): int(e) for i, e in obj["dummy_epochs"].items()},
            int(obj.get("ways", 2)),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise DecodeError(f"malformed custodian state: {exc}") from None
