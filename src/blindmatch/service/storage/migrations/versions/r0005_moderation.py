"""Moderation: staff and sessions, cases with sealed evidence, provenance and history, file views, decisions,
enforcement actions and notices, appeals, the hash-chained audit log and its head row, ingestion checkpoints and
CyberTipline report states.

Revision ID: 0005_moderation
Revises: 0004_detection
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_moderation"
down_revision: str | Sequence[str] | None = "0004_detection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mod_audit",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_mod_audit")),
    )
    op.create_table(
        "mod_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_audit_head")),
    )
    op.create_table(
        "mod_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("subject_user", sa.String(length=160), nullable=False),
        sa.Column("subject_device", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=4), nullable=False),
        sa.Column("technologies", sa.String(length=255), nullable=False),
        sa.Column("source_details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("hold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_cases")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_mod_cases_source_ref")),
    )
    with op.batch_alter_table("mod_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_cases_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_mod_cases_subject_user"), ["subject_user"], unique=False)

    op.create_table(
        "mod_ingest_checkpoints",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_mod_ingest_checkpoints")),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    op.create_table(
        "cybertip_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("ncmec_report_id", sa.String(length=64), nullable=True),
        sa.Column("file_ids", sa.Text(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("submission", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_cybertip_reports_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cybertip_reports")),
        sa.UniqueConstraint("ncmec_report_id", name=op.f("uq_cybertip_reports_ncmec_report_id")),
    )
    with op.batch_alter_table("cybertip_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cybertip_reports_case_id"), ["case_id"], unique=False)

    op.create_table(
        "mod_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("notify", sa.String(length=16), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_actions_case_id_mod_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_actions")),
    )
    with op.batch_alter_table("mod_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_actions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mod_case_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_case_history_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_case_history")),
    )
    with op.batch_alter_table("mod_case_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_case_history_case_id"), ["case_id"], unique=False)

    op.create_table(
        "mod_case_matches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=True),
        sa.Column("list_name", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("technology", sa.String(length=32), nullable=False),
        sa.Column("source_org", sa.String(length=200), nullable=False),
        sa.Column("classification_scheme", sa.String(length=200), nullable=False),
        sa.Column("classification_label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_case_matches_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_case_matches")),
    )
    with op.batch_alter_table("mod_case_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_case_matches_case_id"), ["case_id"], unique=False)

    op.create_table(
        "mod_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=False),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("technologies", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_decisions_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_decisions")),
    )
    with op.batch_alter_table("mod_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_decisions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "mod_evidence",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mime", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_evidence_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_evidence")),
    )
    with op.batch_alter_table("mod_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_evidence_case_id"), ["case_id"], unique=False)

    op.create_table(
        "mod_file_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["mod_cases.id"], name=op.f("fk_mod_file_views_case_id_mod_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_file_views")),
    )
    with op.batch_alter_table("mod_file_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_file_views_case_id"), ["case_id"], unique=False)

    op.create_table(
        "staff_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_sessions_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "mod_appeals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=160), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["mod_actions.id"], name=op.f("fk_mod_appeals_action_id_mod_actions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_appeals")),
    )
    with op.batch_alter_table("mod_appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_appeals_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mod_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=160), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"], ["mod_actions.id"], name=op.f("fk_mod_notices_action_id_mod_actions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_notices")),
    )
    with op.batch_alter_table("mod_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mod_notices_user_id"), ["user_id"], unique=False)
    # The audit head row that appenders lock; seq 0 and the genesis hash mean "no record yet".
    head = sa.table(
        "mod_audit_head", sa.column("id", sa.Integer()), sa.column("seq", sa.Integer()), sa.column("hash", sa.String())
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "00" * 32}])


def downgrade() -> None:
    with op.batch_alter_table("mod_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_notices_user_id"))

    op.drop_table("mod_notices")
    with op.batch_alter_table("mod_appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_appeals_user_id"))

    op.drop_table("mod_appeals")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_staff_id"))

    op.drop_table("staff_sessions")
    with op.batch_alter_table("mod_file_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_file_views_case_id"))

    op.drop_table("mod_file_views")
    with op.batch_alter_table("mod_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_evidence_case_id"))

    op.drop_table("mod_evidence")
    with op.batch_alter_table("mod_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_decisions_case_id"))

    op.drop_table("mod_decisions")
    with op.batch_alter_table("mod_case_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_case_matches_case_id"))

    op.drop_table("mod_case_matches")
    with op.batch_alter_table("mod_case_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_case_history_case_id"))

    op.drop_table("mod_case_history")
    with op.batch_alter_table("mod_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_actions_user_id"))

    op.drop_table("mod_actions")
    with op.batch_alter_table("cybertip_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cybertip_reports_case_id"))

    op.drop_table("cybertip_reports")
    op.drop_table("staff")
    op.drop_table("mod_ingest_checkpoints")
    with op.batch_alter_table("mod_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mod_cases_subject_user"))
        batch_op.drop_index(batch_op.f("ix_mod_cases_status"))

    op.drop_table("mod_cases")
    op.drop_table("mod_audit_head")
    op.drop_table("mod_audit")
