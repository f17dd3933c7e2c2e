"""The append-only, hash-chained audit log: record encoding, chaining and verification.

Each record is encoded canonically (JSON, sorted keys, no whitespace, UTF-8) and its hash is
``SHA-256(prev_hash ‖ canonical(record))``, with ``prev_hash`` the previous record's hash (32 zero bytes for the
first). Changing, deleting, inserting or swapping any record therefore breaks the chain from that point on.

What a chain alone cannot show is that its *tail* was cut off: dropping the last records leaves a valid shorter
chain. The service therefore keeps a **head anchor** outside the database: the newest (seq, hash), authenticated
with HMAC-SHA256 under a key in the data directory. Verification fails if the anchored record is missing
(truncated) or differs (chain rewritten). Someone holding both the database and the anchor key can still rewrite
everything; the anchor raises the bar from "database write access" to "database and server file system".

:func:`verify_chain` is pure: given the records in ``seq`` order and the anchor, it names the first bad record and
why (``edited``, ``gap``, ``reordered``, ``truncated``, ``anchor``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from blindmatch.moderation.errors import ModerationInputError

__all__ = [
    "GENESIS",
    "AuditProblem",
    "AuditRecord",
    "AuditVerification",
    "HeadAnchor",
    "canonical",
    "chain_hash",
    "make_record",
    "sign_anchor",
    "verify_anchor",
    "verify_chain",
]

GENESIS = "00" * 32
_ANCHOR_CONTEXT = b"blindmatch-audit-anchor-v1\x00"


class AuditProblem(StrEnum):
    EDITED = "edited"  # a record's content no longer matches its hash, or its hash was replaced
    GAP = "gap"  # a sequence number is missing (a record was deleted)
    REORDERED = "reordered"  # a record sits at a position it was not written at
    TRUNCATED = "truncated"  # the newest records were removed (the anchor names a later record)
    ANCHOR = "anchor"  # the head anchor is missing, unreadable or not authentic
    # held checkpoints (blindmatch.moderation.checkpoint):
    CHECKPOINT_SIGNATURE = "checkpoint-signature"  # not signed by the service's checkpoint key
    CHECKPOINT_MISSING = "checkpoint-missing"  # its head is not in the log: rewritten or cut off since
    CHECKPOINT_ORDER = "checkpoint-order"  # a later checkpoint sits before an earlier one: rolled back, regrown


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str  # ISO 8601 UTC, kept as text so the hashed bytes never depend on a database's datetime handling
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


def _check_json(value: object, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ModerationInputError(f"audit detail keys must be strings ({path})")
            _check_json(v, f"{path}.{k}")
        return
    # floats are refused: their text form is not canonical across encoders
    raise ModerationInputError(f"audit detail {path} has unsupported type {type(value).__name__}")


def canonical(seq: int, at: str, actor: str, action: str, subject: str, details: Mapping[str, Any]) -> bytes:
    """The exact bytes that are hashed for one record."""
    _check_json(dict(details), "details")
    obj = {"v": 1, "seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "details": details}
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, canonical_bytes: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_bytes).hexdigest()


def make_record(
    prev: tuple[int, str] | None, *, at: str, actor: str, action: str, subject: str, details: Mapping[str, Any]
) -> AuditRecord:
    """The next record after ``prev`` = (seq, hash) of the current head (None for the first record)."""
    seq, prev_hash = (prev[0] + 1, prev[1]) if prev else (1, GENESIS)
    body = canonical(seq, at, actor, action, subject, details)
    return AuditRecord(seq, at, actor, action, subject, dict(details), prev_hash, chain_hash(prev_hash, body))


def _record_hash(r: AuditRecord, seq: int | None = None) -> str:
    body = canonical(r.seq if seq is None else seq, r.at, r.actor, r.action, r.subject, r.details)
    return chain_hash(r.prev_hash, body)


@dataclass(frozen=True, slots=True)
class HeadAnchor:
    seq: int
    hash: str
    mac: str

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "mac": self.mac}

    @classmethod
    def from_json(cls, obj: object) -> HeadAnchor:
        if not isinstance(obj, dict):
            raise ModerationInputError("audit anchor must be a JSON object")
        seq, h, mac = obj.get("seq"), obj.get("hash"), obj.get("mac")
        if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(h, str) or not isinstance(mac, str):
            raise ModerationInputError("audit anchor needs integer seq and string hash and mac")
        return cls(seq, h, mac)


def _anchor_mac(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, _ANCHOR_CONTEXT + f"{seq}:{head_hash}".encode(), hashlib.sha256).hexdigest()


def sign_anchor(key: bytes, seq: int, head_hash: str) -> HeadAnchor:
    return HeadAnchor(seq, head_hash, _anchor_mac(key, seq, head_hash))


def verify_anchor(key: bytes, anchor: HeadAnchor) -> bool:
    return hmac.compare_digest(anchor.mac, _anchor_mac(key, anchor.seq, anchor.hash))


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    records: int
    last_seq: int
    first_bad_seq: int | None = None
    problem: AuditProblem | None = None
    message: str = "chain intact"


def _bad(records: int, last: int, seq: int | None, problem: AuditProblem, message: str) -> AuditVerification:
    return AuditVerification(False, records, last, seq, problem, message)


def _moved_from(r: AuditRecord, positions: Sequence[int]) -> int | None:
    """The sequence number at which ``r``'s content was originally written, if it was written elsewhere."""
    for s in positions:
        if s != r.seq and _record_hash(r, s) == r.hash:
            return s
    return None


def verify_chain(
    records: Sequence[AuditRecord], anchor: HeadAnchor | None, anchor_key: bytes | None
) -> AuditVerification:
    """Check every link and the head anchor; the first problem found is reported.

    ``records`` must be in the order storage returns them by ``seq``; a missing anchor is a failure once any
    record exists (without it tail truncation would go unnoticed)."""
    n = len(records)
    last = records[-1].seq if records else 0
    positions = [r.seq for r in records]
    prev_hash, expected = GENESIS, 1
    for r in records:
        if r.seq < expected:
            return _bad(n, last, r.seq, AuditProblem.REORDERED, f"record {r.seq} appears after record {expected - 1}")
        if r.seq > expected:
            return _bad(n, last, expected, AuditProblem.GAP, f"records {expected}..{r.seq - 1} are missing")
        if _record_hash(r) != r.hash:
            moved = _moved_from(r, positions)
            if moved is not None:
                return _bad(n, last, r.seq, AuditProblem.REORDERED, f"record {r.seq} was written as record {moved}")
            return _bad(n, last, r.seq, AuditProblem.EDITED, f"record {r.seq} does not match its hash")
        if r.prev_hash != prev_hash:
            return _bad(n, last, r.seq, AuditProblem.EDITED, f"record {r.seq} does not link to record {r.seq - 1}")
        prev_hash, expected = r.hash, r.seq + 1
    if anchor is None or anchor_key is None:
        if n:
            msg = "no head anchor: truncation of the tail cannot be ruled out"
            return _bad(n, last, None, AuditProblem.ANCHOR, msg)
        return AuditVerification(True, 0, 0)
    if not verify_anchor(anchor_key, anchor):
        return _bad(n, last, None, AuditProblem.ANCHOR, "the head anchor's MAC does not verify")
    if anchor.seq > last:
        return _bad(
            n, last, last + 1, AuditProblem.TRUNCATED, f"the anchor names record {anchor.seq}; the log ends at {last}"
        )
    if anchor.seq >= 1 and records[anchor.seq - 1].hash != anchor.hash:
        return _bad(n, last, anchor.seq, AuditProblem.EDITED, f"record {anchor.seq} differs from the anchored head")
    return AuditVerification(True, n, last)
