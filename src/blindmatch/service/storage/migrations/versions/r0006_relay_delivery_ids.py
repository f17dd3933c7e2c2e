"""Relay: delivery ids are never reused on SQLite (AUTOINCREMENT), so "deliveries after id N" is reliable.

Without AUTOINCREMENT SQLite hands out max(rowid)+1, so once the newest deliveries are acked (deleted) the next
ones get the same ids again; a WebSocket that had sent up to id N would then skip them. PostgreSQL sequences never
go back, so only SQLite's table is rebuilt.

Revision ID: 0006_relay_delivery_ids
Revises: 0005_moderation
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_relay_delivery_ids"
down_revision: str | Sequence[str] | None = "0005_moderation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "relay_deliveries", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.alter_column("id", autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("relay_deliveries", recreate="always") as batch:
        batch.alter_column("id", autoincrement=True)
