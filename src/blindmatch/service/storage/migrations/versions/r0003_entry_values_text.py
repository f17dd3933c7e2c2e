"""List entry values become unbounded text: a video's vPDQ (one PDQ per sampled frame) outgrows 128 characters.

Revision ID: 0003_entry_values_text
Revises: 0002_relay
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_entry_values_text"
down_revision: str | Sequence[str] | None = "0002_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.alter_column("value", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("list_entries") as batch:
        batch.alter_column("value", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False)
