"""Messenger relay: accounts with consent, devices, one-time prekeys, queue, blobs, reports.

Revision ID: 0002_relay
Revises: 0001_hash_lists
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_relay"
down_revision: str | Sequence[str] | None = "0001_hash_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, col: str, ref: str, refcol: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([col], [f"{ref}.{refcol}"], name=f"fk_{table}_{col}_{ref}", ondelete="CASCADE")


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "relay_accounts",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("consent_granted", sa.Boolean(), nullable=False),
        sa.Column("consent_policy", sa.String(32), nullable=True),
        sa.Column("consent_at", tz, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_relay_accounts"),
    )
    op.create_table(
        "relay_consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("at", tz, nullable=False),
        _fk("relay_consent_events", "user_id", "relay_accounts", "user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_consent_events"),
    )
    op.create_table(
        "relay_devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("ed25519", sa.String(64), nullable=False),
        sa.Column("curve25519", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        _fk("relay_devices", "user_id", "relay_accounts", "user_id"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_devices"),
        sa.UniqueConstraint("user_id", "device_id", name="uq_relay_devices_user_id_device_id"),
        sa.UniqueConstraint("token_hash", name="uq_relay_devices_token_hash"),
    )
    op.create_table(
        "relay_prekeys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_pk", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        _fk("relay_prekeys", "device_pk", "relay_devices", "id"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_prekeys"),
        sa.UniqueConstraint("device_pk", "key_id", name="uq_relay_prekeys_device_pk_key_id"),
    )
    op.create_table(
        "relay_conversations",
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_relay_conversations"),
    )
    op.create_table(
        "relay_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_pk", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("server_ts", sa.BigInteger(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(32), nullable=False),
        _fk("relay_messages", "sender_pk", "relay_devices", "id"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_messages"),
        sa.UniqueConstraint("sender_pk", "message_id", name="uq_relay_messages_sender_pk_message_id"),
    )
    op.create_table(
        "relay_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("recipient_pk", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("tag", sa.LargeBinary(32), nullable=False),
        _fk("relay_deliveries", "message_pk", "relay_messages", "id"),
        _fk("relay_deliveries", "recipient_pk", "relay_devices", "id"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_deliveries"),
        sa.UniqueConstraint("message_pk", "recipient_pk", name="uq_relay_deliveries_message_pk_recipient_pk"),
    )
    op.create_index("ix_relay_deliveries_recipient", "relay_deliveries", ["recipient_pk", "id"])
    op.create_table(
        "relay_blobs",
        sa.Column("blob_id", sa.String(64), nullable=False),
        sa.Column("owner_pk", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        _fk("relay_blobs", "owner_pk", "relay_devices", "id"),
        sa.PrimaryKeyConstraint("blob_id", name="pk_relay_blobs"),
    )
    op.create_table(
        "relay_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reporter", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_relay_reports"),
    )


def downgrade() -> None:
    op.drop_table("relay_reports")
    op.drop_table("relay_blobs")
    op.drop_index("ix_relay_deliveries_recipient", table_name="relay_deliveries")
    op.drop_table("relay_deliveries")
    op.drop_table("relay_messages")
    op.drop_table("relay_conversations")
    op.drop_table("relay_prekeys")
    op.drop_table("relay_devices")
    op.drop_table("relay_consent_events")
    op.drop_table("relay_accounts")
