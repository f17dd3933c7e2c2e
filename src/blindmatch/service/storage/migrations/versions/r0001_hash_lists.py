"""Hash lists, list entries (with tombstones) and sync checkpoints.

Revision ID: 0001_hash_lists
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_hash_lists"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hash_lists"),
        sa.UniqueConstraint("name", name="uq_hash_lists_name"),
    )
    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("source_org", sa.Text(), nullable=False),
        sa.Column("classification_scheme", sa.Text(), nullable=False),
        sa.Column("classification_label", sa.Text(), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_in_version", sa.Integer(), nullable=False),
        sa.Column("removed_in_version", sa.Integer(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["hash_lists.id"], name="fk_list_entries_list_id_hash_lists", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_list_entries"),
        sa.UniqueConstraint("list_id", "entry_id", name="uq_list_entries_list_id_entry_id"),
    )
    op.create_index("ix_list_entries_signal_live", "list_entries", ["signal_type", "removed_in_version"])
    op.create_index("ix_list_entries_list_added", "list_entries", ["list_id", "added_in_version"])
    op.create_index("ix_list_entries_list_removed", "list_entries", ["list_id", "removed_in_version"])
    op.create_table(
        "list_sync_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("adapter", sa.String(length=200), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["hash_lists.id"], name="fk_list_sync_checkpoints_list_id_hash_lists", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_list_sync_checkpoints"),
        sa.UniqueConstraint("list_id", "adapter", name="uq_list_sync_checkpoints_list_id_adapter"),
    )


def downgrade() -> None:
    op.drop_table("list_sync_checkpoints")
    op.drop_index("ix_list_entries_list_removed", table_name="list_entries")
    op.drop_index("ix_list_entries_list_added", table_name="list_entries")
    op.drop_index("ix_list_entries_signal_live", table_name="list_entries")
    op.drop_table("list_entries")
    op.drop_table("hash_lists")
