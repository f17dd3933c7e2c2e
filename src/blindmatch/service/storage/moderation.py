"""Tables of the moderation service: staff and sessions, cases with their evidence, provenance and history, file
views, decisions, enforcement actions and notices, appeals, the audit chain, ingestion checkpoints and the
CyberTipline report lifecycle (driven by :mod:`blindmatch.reporting`).

What is deliberately *not* stored in clear: evidence bytes and the texts of reported messages (``ciphertext``,
sealed by :mod:`blindmatch.moderation.evidence`), staff passwords (scrypt) and session tokens (SHA-256). Match
provenance, hashes and routing facts (who reported whom) are stored in clear: reviewers and reports need them and
they reveal no content.

``mod_audit_head`` has exactly one row (id 1) holding the newest (seq, hash): appenders lock it (``SELECT ... FOR
UPDATE`` on PostgreSQL, SQLite's write lock taken first) so concurrent appends queue up instead of forking the chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from blindmatch.service.storage.base import Base

__all__ = [
    "AppealRow",
    "AuditHeadRow",
    "AuditRow",
    "CaseHistoryRow",
    "CaseMatchRow",
    "CaseRow",
    "CyberTipReportRow",
    "DecisionRow",
    "EnforcementRow",
    "EvidenceRow",
    "FileViewRow",
    "IngestCheckpointRow",
    "NoticeRow",
    "StaffRow",
    "StaffSessionRow",
]

_TZ = DateTime(timezone=True)


class StaffRow(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: ``scrypt$N$r$p$salt_hex$hash_hex``
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)


class StaffSessionRow(Base):
    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)


class CaseRow(Base):
    __tablename__ = "mod_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    #: What the case was opened from ("threshold:<event id>", "report:<report id>", "scan:<uuid>"): unique, so
    #: ingesting the same event twice cannot open two cases.
    source_ref: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    subject_user: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    subject_device: Mapped[str] = mapped_column(String(160), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    jurisdiction: Mapped[str] = mapped_column(String(4), nullable=False)
    technologies: Mapped[str] = mapped_column(String(255), nullable=False, default="")  # comma-separated
    source_details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON, no content
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    hold_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    hold_until: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)


class CaseMatchRow(Base):
    __tablename__ = "mod_case_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    evidence_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    list_name: Mapped[str] = mapped_column(String(200), nullable=False)
    entry_id: Mapped[str] = mapped_column(String(200), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    distance: Mapped[int] = mapped_column(Integer, nullable=False)
    technology: Mapped[str] = mapped_column(String(32), nullable=False)
    source_org: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    classification_scheme: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    classification_label: Mapped[str] = mapped_column(String(200), nullable=False, default="")


class CaseHistoryRow(Base):
    __tablename__ = "mod_case_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="{}")


class EvidenceRow(Base):
    __tablename__ = "mod_evidence"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    mime: Mapped[str] = mapped_column(String(128), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    hashes: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON: md5, sha1, pdq of the file
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # None once purged/destroyed
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    purged_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    purged_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class FileViewRow(Base):
    __tablename__ = "mod_file_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    evidence_id: Mapped[str] = mapped_column(String(32), nullable=False)
    staff: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(_TZ, nullable=False)


class DecisionRow(Base):
    __tablename__ = "mod_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    staff: Mapped[str] = mapped_column(String(64), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    from_status: Mapped[str] = mapped_column(String(20), nullable=False)
    to_status: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    technologies: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    at: Mapped[datetime] = mapped_column(_TZ, nullable=False)


class EnforcementRow(Base):
    __tablename__ = "mod_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("mod_cases.id", ondelete="SET NULL"), nullable=True)
    user_id: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    staff: Mapped[str] = mapped_column(String(64), nullable=False)
    statement: Mapped[str] = mapped_column(Text, nullable=False)  # JSON StatementOfReasons
    notify: Mapped[str] = mapped_column(String(16), nullable=False)
    until: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    lifted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class NoticeRow(Base):
    __tablename__ = "mod_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("mod_actions.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    #: When the user gets to see it; None = suppressed at an authority's request until staff release it.
    release_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)


class AppealRow(Base):
    __tablename__ = "mod_appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("mod_actions.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class AuditRow(Base):
    __tablename__ = "mod_audit"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    details: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHeadRow(Base):
    __tablename__ = "mod_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class IngestCheckpointRow(Base):
    __tablename__ = "mod_ingest_checkpoints"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False)


class CyberTipReportRow(Base):
    """One CyberTipline report's lifecycle (draft → submitted → files_uploaded → finished, or retracted)."""

    __tablename__ = "cybertip_reports"
    __table_args__ = (UniqueConstraint("ncmec_report_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mod_cases.id", ondelete="CASCADE"), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    ncmec_report_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_ids: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON: evidence id -> NCMEC file id
    xml: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The reporting driver's whole stored state (``Submission.to_dict()``): pending call, per-file progress.
    submission: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(_TZ, nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
    retracted_at: Mapped[datetime | None] = mapped_column(_TZ, nullable=True)
