"""The moderation service's secrets on disk: the evidence key ring, the audit anchor (key and head file) and the
audit checkpoint signing key.

All are files in ``data_dir/moderation/`` created with mode 0600 from the first byte (temporary file, then an
atomic rename), so a half-written key is never read and no other local user can read one. The evidence key id is
derived from the key (first 16 hex digits of its SHA-256), so an item names its key without the id being a secret.
Older evidence keys (``evidence-old-*.key``) stay readable after a rotation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindmatch.moderation.audit import HeadAnchor, sign_anchor
from blindmatch.moderation.errors import AuditChainError, ModerationInputError
from blindmatch.moderation.evidence import EvidenceKey, EvidenceKeyRing
from blindmatch.service.secret_files import file_lock, write_secret

__all__ = [
    "AnchorStore",
    "load_checkpoint_key",
    "load_evidence_ring",
    "read_or_create_secret",
    "rotate_evidence_key",
    "write_secret",
]


def read_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The key in ``path``, created (random) if absent; two processes starting at once agree on one key."""
    with file_lock(path.with_name(path.name + ".lock")):
        if path.exists():
            data = path.read_bytes()
            if len(data) != size:
                raise ModerationInputError(f"{path} must hold {size} bytes, it holds {len(data)}")
            return data
        data = os.urandom(size)
        write_secret(path, data)
        return data


def _key(data: bytes) -> EvidenceKey:
    return EvidenceKey(hashlib.sha256(data).hexdigest()[:16], data)


def load_evidence_ring(directory: Path) -> EvidenceKeyRing:
    current = _key(read_or_create_secret(directory / "evidence.key"))
    older = {}
    for p in sorted(directory.glob("evidence-old-*.key")):
        k = _key(p.read_bytes())
        older[k.key_id] = k
    return EvidenceKeyRing(current, older)


def rotate_evidence_key(directory: Path) -> str:
    """Keep the current key as ``evidence-old-<id>.key`` and start a new one; returns the new key id."""
    current = directory / "evidence.key"
    old = _key(read_or_create_secret(current))
    write_secret(directory / f"evidence-old-{old.key_id}.key", old.key)
    new = os.urandom(32)
    write_secret(current, new)
    return _key(new).key_id


class AnchorStore:
    """``audit-anchor.json``: the newest audited (seq, hash), HMAC'd with ``audit-anchor.key``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "audit-anchor.json"
        self.key = read_or_create_secret(directory / "audit-anchor.key")
        self._lock = directory / "audit-anchor.lock"

    def read(self) -> HeadAnchor | None:
        if not self.path.exists():
            return None
        try:
            return HeadAnchor.from_json(json.loads(self.path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise AuditChainError(f"cannot read the audit anchor {self.path}: {exc}") from None

    def advance(self, seq: int, head_hash: str) -> None:
        """Move the anchor forward to (seq, hash); never backward (a slower writer must not undo a newer one)."""
        with file_lock(self._lock):
            try:
                current = self.read()
            except AuditChainError:
                current = None
            if current is not None and current.seq >= seq:
                return
            write_secret(self.path, json.dumps(sign_anchor(self.key, seq, head_hash).to_json()).encode())


def load_checkpoint_key(directory: Path) -> Ed25519PrivateKey:
    """``audit-checkpoint.key``: the Ed25519 seed that signs published audit checkpoints (created if absent).
    Its public half is what holders of checkpoints verify with; publish it once, with the first checkpoint."""
    return Ed25519PrivateKey.from_private_bytes(read_or_create_secret(directory / "audit-checkpoint.key"))
