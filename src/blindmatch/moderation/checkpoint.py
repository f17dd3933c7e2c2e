"""Signed audit checkpoints: copies of the log's head that other people keep, so a rewrite is caught later.

The head anchor (:mod:`blindmatch.moderation.audit`) stops someone with database access only. Someone who also
holds the server's file system has the anchor key and can rewrite the whole log, re-chain it and re-anchor it.
What they cannot do is change copies of the head that were handed out *before* the rewrite. A checkpoint is such a
copy: the head hash at a time, signed with the service's Ed25519 checkpoint key so nobody can forge one in the
service's name. The operator publishes checkpoints on a schedule (e.g. daily, to auditors, a public page or a
write-once store); whoever holds them later asks the service to show that its log still contains every one of
them (:func:`verify_checkpoints`).

A checkpoint deliberately carries **no sequence number**: the number of records would tell anyone watching how
much moderation happened, and a sender could watch it move after sending (a case opening is a record). The head
hash is pseudorandom, so a checkpoint reveals only when it was made. Verification finds the record by its hash.

This module is pure: signing, parsing and checking against records; keys and files live in the service.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from blindmatch.moderation.audit import GENESIS, AuditProblem, AuditRecord, AuditVerification
from blindmatch.moderation.errors import ModerationInputError

# The custodian tools' names for an Ed25519 key: the same 64-hex-digit public key and 16-hex-digit key id.
from blindmatch.privacy.keyfiles import public_key_hex
from blindmatch.privacy.manifest import key_id

__all__ = [
    "AuditCheckpoint",
    "CheckpointError",
    "CheckpointResult",
    "key_id",
    "parse_checkpoint",
    "public_key_from_hex",
    "public_key_hex",
    "sign_checkpoint",
    "verify_checkpoints",
]

_CONTEXT = b"blindmatch-audit-checkpoint-v1\x00"
_FIELDS = {"v", "key_id", "at", "head", "signature"}


class CheckpointError(ModerationInputError):
    """A checkpoint file or public key that cannot be read (malformed, wrong lengths, unknown version)."""


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise CheckpointError("the checkpoint public key must be 64 hex digits") from None
    if len(raw) != 32:
        raise CheckpointError(f"the checkpoint public key must be 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    key_id: str
    at: str  # ISO 8601 UTC of signing
    head: str  # hex SHA-256 chain hash of the newest record at that time
    signature: str  # hex Ed25519 over _CONTEXT + message()

    def message(self) -> bytes:
        body = {"v": 1, "key_id": self.key_id, "at": self.at, "head": self.head}
        return _CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def to_json(self) -> dict[str, object]:
        return {"v": 1, "key_id": self.key_id, "at": self.at, "head": self.head, "signature": self.signature}


def _is_hex(value: object, nbytes: int) -> bool:
    if not isinstance(value, str) or len(value) != 2 * nbytes:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def parse_checkpoint(obj: object) -> AuditCheckpoint:
    """A checkpoint from its JSON object; every field checked (a held copy may come from anywhere)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError("a checkpoint must be a JSON object")
    if set(obj) != _FIELDS:
        raise CheckpointError(f"a checkpoint has exactly the fields {sorted(_FIELDS)}, not {sorted(map(str, obj))}")
    if obj["v"] != 1 or isinstance(obj["v"], bool):
        raise CheckpointError(f"unknown checkpoint version {obj['v']!r}")
    at = obj["at"]
    if not isinstance(at, str):
        raise CheckpointError("checkpoint 'at' must be an ISO 8601 time")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise CheckpointError(f"checkpoint 'at' is not an ISO 8601 time: {at[:40]!r}") from None
    if when.tzinfo is None:
        raise CheckpointError("checkpoint 'at' must carry its UTC offset")
    if not _is_hex(obj["key_id"], 8) or not _is_hex(obj["head"], 32) or not _is_hex(obj["signature"], 64):
        raise CheckpointError("checkpoint key_id, head and signature must be 16, 64 and 128 hex digits")
    return AuditCheckpoint(obj["key_id"], at, obj["head"], obj["signature"])


def sign_checkpoint(key: Ed25519PrivateKey, head: str, at: datetime) -> AuditCheckpoint:
    """Sign the head hash ``head`` (hex) as of ``at`` (timezone-aware)."""
    if at.tzinfo is None:
        raise CheckpointError("a checkpoint time must be timezone-aware")
    if not _is_hex(head, 32):
        raise CheckpointError("the head must be a 64-hex-digit chain hash")
    unsigned = AuditCheckpoint(key_id(key.public_key()), at.isoformat(timespec="seconds"), head, "")
    return AuditCheckpoint(unsigned.key_id, unsigned.at, head, key.sign(unsigned.message()).hex())


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """What one held checkpoint says about the log: where its head is (``seq``) or why it does not count."""

    checkpoint: AuditCheckpoint
    seq: int | None
    problem: AuditProblem | None
    message: str


def _check_one(cp: AuditCheckpoint, public_key: Ed25519PublicKey, at_hash: Mapping[str, int]) -> CheckpointResult:
    if cp.key_id != key_id(public_key):
        return CheckpointResult(cp, None, AuditProblem.CHECKPOINT_SIGNATURE, f"signed by key {cp.key_id}, not ours")
    try:
        public_key.verify(bytes.fromhex(cp.signature), cp.message())
    except InvalidSignature:
        return CheckpointResult(cp, None, AuditProblem.CHECKPOINT_SIGNATURE, "the signature does not verify")
    seq = at_hash.get(cp.head)
    if seq is None:
        msg = f"the head checkpointed at {cp.at} is not in the log: rewritten or cut off after it was published"
        return CheckpointResult(cp, None, AuditProblem.CHECKPOINT_MISSING, msg)
    return CheckpointResult(cp, seq, None, f"found at record {seq}")


def verify_checkpoints(
    records: Sequence[AuditRecord],
    checkpoints: Sequence[AuditCheckpoint],
    public_key: Ed25519PublicKey,
    chain: AuditVerification,
) -> tuple[AuditVerification, list[CheckpointResult]]:
    """Extend the chain's own verification (``chain``, from :func:`~blindmatch.moderation.audit.verify_chain`
    over the same ``records``) with held checkpoints.

    Each checkpoint must be signed by ``public_key`` and its head must be a record of the log; and a checkpoint
    made later must never sit at an earlier record than one made before it (a log that went backwards was
    rolled back and regrown). A problem with the chain itself is reported first."""
    at_hash = {GENESIS: 0} | {r.hash: r.seq for r in records}  # a checkpoint of the empty log is at record 0
    results = [_check_one(cp, public_key, at_hash) for cp in checkpoints]
    if not chain.ok:
        return chain, results
    n, last = chain.records, chain.last_seq
    for r in results:
        if r.problem is not None:
            return AuditVerification(False, n, last, None, r.problem, r.message), results
    placed = sorted(((datetime.fromisoformat(r.checkpoint.at), r.seq or 0) for r in results), key=lambda x: x[0])
    for (t0, s0), (t1, s1) in itertools.pairwise(placed):
        if t1 > t0 and s1 < s0:
            msg = f"the checkpoint of {t1.isoformat()} sits at record {s1}, before the one of {t0.isoformat()} ({s0})"
            return AuditVerification(False, n, last, s1, AuditProblem.CHECKPOINT_ORDER, msg), results
    msg = f"chain intact; {len(results)} checkpoint(s) found in the log" if results else chain.message
    return AuditVerification(True, n, last, None, None, msg), results
