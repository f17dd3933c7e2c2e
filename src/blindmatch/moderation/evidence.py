"""Evidence sealed at rest: AES-256-GCM under a service key, bound to its case, item and content hash.

Why: a database dump or a stolen disk must not yield the reported media or messages. Every item is encrypted with
a 256-bit key the service holds (a 0600 file in the data directory; loading and creating it is the service's job)
under a fresh 96-bit nonce. The associated data binds the ciphertext to ``case id``, ``evidence id`` and the
plaintext's SHA-256, so a ciphertext copied onto another case or item does not open, and the hash shown to
reviewers (and reported to NCMEC) is the hash of what decrypts. The key id travels with the ciphertext so keys can
be rotated: old items keep opening with their key while new ones use the newest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blindmatch.moderation.errors import EvidenceIntegrityError, ModerationInputError

__all__ = ["EvidenceKey", "EvidenceKeyRing", "SealedEvidence", "evidence_aad", "open_evidence", "seal_evidence"]

_AAD = b"blindmatch/evidence/v1\x00"
NONCE = 12


@dataclass(frozen=True, slots=True)
class EvidenceKey:
    key_id: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ModerationInputError("an evidence key must be 32 bytes (AES-256)")
        if not self.key_id or len(self.key_id) > 64:
            raise ModerationInputError("an evidence key id must be 1..64 characters")

    def __repr__(self) -> str:  # never print key material
        return f"EvidenceKey(key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class EvidenceKeyRing:
    """All keys that may open stored evidence; ``current`` seals new items."""

    current: EvidenceKey
    older: Mapping[str, EvidenceKey]

    def get(self, key_id: str) -> EvidenceKey:
        if key_id == self.current.key_id:
            return self.current
        try:
            return self.older[key_id]
        except KeyError:
            raise EvidenceIntegrityError(f"evidence was sealed with unknown key {key_id!r}") from None


@dataclass(frozen=True, slots=True)
class SealedEvidence:
    key_id: str
    sha256: str
    size: int
    blob: bytes  # nonce ‖ ciphertext ‖ tag


def evidence_aad(case_id: int, evidence_id: str, sha256: str) -> bytes:
    return _AAD + f"{case_id}\x00{evidence_id}\x00{sha256}".encode()


def seal_evidence(key: EvidenceKey, case_id: int, evidence_id: str, data: bytes) -> SealedEvidence:
    sha = hashlib.sha256(data).hexdigest()
    nonce = os.urandom(NONCE)
    blob = nonce + AESGCM(key.key).encrypt(nonce, data, evidence_aad(case_id, evidence_id, sha))
    return SealedEvidence(key.key_id, sha, len(data), blob)


def open_evidence(ring: EvidenceKeyRing, case_id: int, evidence_id: str, sealed: SealedEvidence) -> bytes:
    """Decrypt and check; raise :class:`EvidenceIntegrityError` on any mismatch (never return unverified bytes)."""
    key = ring.get(sealed.key_id)
    if len(sealed.blob) < NONCE + 16:
        raise EvidenceIntegrityError(f"evidence {evidence_id} is too short to be sealed data")
    try:
        data = AESGCM(key.key).decrypt(
            sealed.blob[:NONCE], sealed.blob[NONCE:], evidence_aad(case_id, evidence_id, sealed.sha256)
        )
    except InvalidTag:
        raise EvidenceIntegrityError(
            f"evidence {evidence_id} does not open for case {case_id} (wrong key, moved or tampered)"
        ) from None
    if hashlib.sha256(data).hexdigest() != sealed.sha256 or len(data) != sealed.size:
        raise EvidenceIntegrityError(f"evidence {evidence_id} decrypts to bytes that do not match its SHA-256")
    return data
