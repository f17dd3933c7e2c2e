"""The audit log in the database: serialised appends, reading back, and verification with the head anchor.

Appends happen inside the caller's transaction (so an action and its record commit together) after
:meth:`AuditLog.lock` took the head row: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite an ``UPDATE`` of the
head row as the transaction's first statement takes the database write lock before anything is read (SQLite
otherwise fails a read-then-write transaction at once when another writer committed in between). Either way two
appenders queue on the head row and the chain can never fork. The anchor file is advanced after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from blindmatch.moderation.audit import AuditRecord, AuditVerification, make_record, verify_chain
from blindmatch.moderation.checkpoint import AuditCheckpoint, CheckpointResult, verify_checkpoints
from blindmatch.moderation.errors import AuditChainError
from blindmatch.service.moderation_keys import AnchorStore
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.moderation import AuditHeadRow, AuditRow

__all__ = ["AuditLog", "now_iso"]


def now_iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="microseconds")


def _details(text: str) -> dict[str, Any]:
    """The stored details; text that is no longer a JSON object (someone edited it) is kept as raw text, which
    then fails the hash check at exactly that record instead of aborting verification."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"__unparseable__": text}
    return value if isinstance(value, dict) else {"__unparseable__": text}


def _record(r: AuditRow) -> AuditRecord:
    return AuditRecord(r.seq, r.at, r.actor, r.action, r.subject, _details(r.details), r.prev_hash, r.hash)


class AuditLog:
    def __init__(self, db: Database, anchors: AnchorStore) -> None:
        self.db = db
        self.anchors = anchors

    def lock(self, s: Session) -> AuditHeadRow:
        """Take the head row for this transaction (call first in every writing transaction)."""
        if self.db.is_sqlite:
            s.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq))
        head = s.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()).scalar_one_or_none()
        if head is None:
            raise AuditChainError("the audit head row is missing (migration 0005 not applied, or it was deleted)")
        return head

    def append(
        self,
        s: Session,
        head: AuditHeadRow,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        prev = (head.seq, head.hash) if head.seq else None
        rec = make_record(prev, at=now_iso(at), actor=actor, action=action, subject=subject, details=details or {})
        s.add(
            AuditRow(
                seq=rec.seq,
                at=rec.at,
                actor=rec.actor,
                action=rec.action,
                subject=rec.subject,
                details=json.dumps(rec.details, sort_keys=True),
                prev_hash=rec.prev_hash,
                hash=rec.hash,
            )
        )
        head.seq, head.hash = rec.seq, rec.hash
        s.flush()
        return rec

    def anchor(self, rec: AuditRecord | None) -> None:
        """After the commit: move the head anchor to ``rec``."""
        if rec is not None:
            self.anchors.advance(rec.seq, rec.hash)

    def records(self, *, after: int = 0, limit: int | None = None) -> list[AuditRecord]:
        with self.db.session() as s:
            q = select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq)
            if limit is not None:
                q = q.limit(limit)
            return [_record(r) for r in s.execute(q).scalars()]

    def verify(self) -> AuditVerification:
        return verify_chain(self.records(), self.anchors.read(), self.anchors.key)

    def verify_with_checkpoints(
        self, checkpoints: Sequence[AuditCheckpoint], public_key: Ed25519PublicKey
    ) -> tuple[AuditVerification, list[CheckpointResult]]:
        """:meth:`verify`, then that the log still holds every held checkpoint (one read of the records)."""
        records = self.records()
        chain = verify_chain(records, self.anchors.read(), self.anchors.key)
        return verify_checkpoints(records, checkpoints, public_key, chain)
