"""Private detection: per-account voucher state (sealed at rest) and threshold events for moderation.

Revision ID: 0004_detection
Revises: 0003_entry_values_text
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_detection"
down_revision: str | Sequence[str] | None = "0003_entry_values_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "detection_accounts",
        sa.Column("account_id", sa.String(160), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_detection_accounts"),
    )
    op.create_table(
        "threshold_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(160), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("collisions", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Integer(), nullable=False),
        sa.Column("opened_total", sa.Integer(), nullable=False),
        sa.Column("matches", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_threshold_events"),
    )
    op.create_index("ix_threshold_events_account_id", "threshold_events", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_threshold_events_account_id", table_name="threshold_events")
    op.drop_table("threshold_events")
    op.drop_table("detection_accounts")
