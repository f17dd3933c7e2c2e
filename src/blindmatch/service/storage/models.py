"""ORM tables of the hash lists: lists, their entries (tombstoned, never deleted) and sync checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from blindmatch.service.storage.base import Base

__all__ = ["HashListRow", "ListEntryRow", "SyncCheckpointRow", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class HashListRow(Base):
    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    pdq_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=31)
    source: Mapped[str] = mapped_column(Text, nullable=False, default="")
    provenance: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ListEntryRow(Base):
    __tablename__ = "list_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "entry_id"),
        Index("ix_list_entries_signal_live", "signal_type", "removed_in_version"),
        Index("ix_list_entries_list_added", "list_id", "added_in_version"),
        Index("ix_list_entries_list_removed", "list_id", "removed_in_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False)
    entry_id: Mapped[str] = mapped_column(String(200), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(16), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    source_org: Mapped[str] = mapped_column(Text, nullable=False, default="")
    classification_scheme: Mapped[str] = mapped_column(Text, nullable=False, default="")
    classification_label: Mapped[str] = mapped_column(Text, nullable=False, default="")
    licence: Mapped[str] = mapped_column(Text, nullable=False, default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    added_in_version: Mapped[int] = mapped_column(Integer, nullable=False)
    removed_in_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class SyncCheckpointRow(Base):
    __tablename__ = "list_sync_checkpoints"
    __table_args__ = (UniqueConstraint("list_id", "adapter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False)
    adapter: Mapped[str] = mapped_column(String(200), nullable=False)
    checkpoint: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
