"""The signed table manifest and k-of-n custodian signatures.

A manifest says *which* table a client is about to trust: list id and version, token scheme and its
parameters, table size, cuckoo hash seed, ``L = α·G``, the Merkle root over the slots, the audit commitment (a
hash of the auditor-only dummy seed) and the batched DLEQ audit proof, the previous root (for deltas) and a
timestamp; and, only when the list offers warn-before-send, ``L_w = α_w·G`` and the SHA-256 of the warn filter
(:mod:`.warn`; both absent otherwise, so manifests without the mode keep their exact bytes and signatures).
It is serialised as canonical JSON (sorted keys, no whitespace, bytes as lower-case hex) so every custodian signs
the same bytes. Clients accept a manifest only with valid Ed25519 signatures from at least
``k`` distinct trusted custodian keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import ManifestError, SignatureError

__all__ = [
    "MANIFEST_FORMAT",
    "CustodianSignature",
    "Manifest",
    "SignedManifest",
    "TrustPolicy",
    "key_id",
    "sign_manifest",
    "verify_signatures",
]

MANIFEST_FORMAT = 1
_BYTES_FIELDS = (
    "hash_seed",
    "lpub",
    "merkle_root",
    "previous_root",
    "audit_commitment",
    "audit_proof",
    "warn_lpub",
    "warn_filter",
)
#: Present together or not at all (warn-before-send is optional); omitted from the JSON when empty.
_WARN_FIELDS = frozenset({"warn_lpub", "warn_filter"})


@dataclass(frozen=True, slots=True)
class Manifest:
    list_id: str
    list_version: int
    scheme_name: str
    scheme_params: Mapping[str, object]
    table_size: int
    cuckoo_ways: int
    hash_seed: bytes
    lpub: bytes
    merkle_root: bytes
    audit_commitment: bytes
    audit_proof: bytes
    created_at: str
    previous_root: bytes = b""
    format: int = MANIFEST_FORMAT
    warn_lpub: bytes = b""  # α_w·G of the warn-before-send key (empty: the list offers no warn mode)
    warn_filter: bytes = b""  # SHA-256 of the warn filter file

    @property
    def has_warn(self) -> bool:
        return bool(self.warn_lpub)

    def to_json_obj(self) -> dict[str, object]:
        obj: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in _WARN_FIELDS and not self.has_warn:
                continue
            obj[name] = value.hex() if isinstance(value, bytes) else (dict(value) if name == "scheme_params" else value)
        return obj

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.to_json_obj(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> bytes:
        return hashlib.sha256(b"blindmatch/manifest/v1\x00" + self.canonical_bytes()).digest()

    @classmethod
    def from_json_obj(cls, obj: object) -> Manifest:
        if not isinstance(obj, dict):
            raise ManifestError("manifest must be a JSON object")
        expected = set(cls.__dataclass_fields__)
        if not _WARN_FIELDS & set(obj):
            expected -= _WARN_FIELDS
        if set(obj) != expected:
            raise ManifestError(f"manifest fields differ from the expected set: {sorted(set(obj) ^ expected)}")
        if type(obj["format"]) is not int or obj["format"] != MANIFEST_FORMAT:
            raise ManifestError(f"unsupported manifest format {obj['format']!r}")
        kwargs: dict[str, object] = {}
        try:
            for name in expected:
                value = obj[name]
                if name in _BYTES_FIELDS:
                    if not isinstance(value, str):
                        raise ManifestError(f"manifest field {name} must be hex")
                    kwargs[name] = bytes.fromhex(value)
                else:
                    kwargs[name] = value
        except ValueError as exc:
            raise ManifestError(f"manifest has a malformed hex field: {exc}") from None
        for name, typ in (
            ("list_id", str),
            ("scheme_name", str),
            ("created_at", str),
            ("scheme_params", dict),
        ):
            if not isinstance(kwargs[name], typ):
                raise ManifestError(f"manifest field {name} has the wrong type")
        if kwargs["cuckoo_ways"] not in (2, 3) or isinstance(kwargs["cuckoo_ways"], bool):
            raise ManifestError("manifest field cuckoo_ways must be 2 or 3")
        for name in ("list_version", "table_size"):
            v = kwargs[name]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ManifestError(f"manifest field {name} must be a non-negative integer")
        sizes = [("hash_seed", 16), ("lpub", 32), ("merkle_root", 32), ("audit_commitment", 32)]
        if "warn_lpub" in expected:
            sizes += [("warn_lpub", 32), ("warn_filter", 32)]
        for name, n in sizes:
            if len(kwargs[name]) != n:  # type: ignore[arg-type]
                raise ManifestError(f"manifest field {name} must be {n} bytes")
        return cls(**kwargs)  # type: ignore[arg-type]


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short stable name of a custodian key: hex of the first 8 bytes of SHA-256(raw key)."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


@dataclass(frozen=True, slots=True)
class CustodianSignature:
    key_id: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedManifest:
    manifest: Manifest
    signatures: tuple[CustodianSignature, ...] = field(default_factory=tuple)

    def with_signature(self, sig: CustodianSignature) -> SignedManifest:
        return SignedManifest(self.manifest, (*self.signatures, sig))

    def to_bytes(self) -> bytes:
        obj = {
            "manifest": self.manifest.to_json_obj(),
            "signatures": [{"key_id": s.key_id, "signature": s.signature.hex()} for s in self.signatures],
        }
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedManifest:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"signed manifest is not JSON: {exc}") from None
        if not isinstance(obj, dict) or set(obj) != {"manifest", "signatures"}:
            raise ManifestError("signed manifest must have exactly 'manifest' and 'signatures'")
        sigs = obj["signatures"]
        if not isinstance(sigs, list):
            raise ManifestError("'signatures' must be a list")
        out = []
        for s in sigs:
            if (
                not isinstance(s, dict)
                or not isinstance(s.get("key_id"), str)
                or not isinstance(s.get("signature"), str)
            ):
                raise ManifestError("each signature needs string key_id and signature")
            try:
                out.append(CustodianSignature(s["key_id"], bytes.fromhex(s["signature"])))
            except ValueError:
                raise ManifestError("signature is not hex") from None
        return cls(Manifest.from_json_obj(obj["manifest"]), tuple(out))


def sign_manifest(manifest: Manifest, private_key: Ed25519PrivateKey) -> CustodianSignature:
    return CustodianSignature(key_id(private_key.public_key()), private_key.sign(manifest.digest()))


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Which custodian keys a client trusts, and how many distinct ones must sign (k of n)."""

    keys: Mapping[str, Ed25519PublicKey]
    threshold: int = 1

    @classmethod
    def of(cls, keys: list[Ed25519PublicKey], threshold: int = 1) -> TrustPolicy:
        if not 1 <= threshold <= len(keys):
            raise ManifestError(f"signature threshold {threshold} must be between 1 and {len(keys)}")
        return cls({key_id(k): k for k in keys}, threshold)


def verify_signatures(signed: SignedManifest, policy: TrustPolicy) -> list[str]:
    """Return the ids of the distinct trusted keys with a valid signature; raise unless there are ``k``."""
    digest = signed.manifest.digest()
    good: set[str] = set()
    for sig in signed.signatures:
        key = policy.keys.get(sig.key_id)
        if key is None or sig.key_id in good:
            continue
        try:
            key.verify(sig.signature, digest)
        except InvalidSignature:
            continue
        good.add(sig.key_id)
    if len(good) < policy.threshold:
        raise SignatureError(
            f"manifest has {len(good)} valid trusted signature(s), the policy needs {policy.threshold}"
        )
    return sorted(good)
