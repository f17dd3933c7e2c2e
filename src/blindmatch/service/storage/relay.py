"""Relay storage: accounts, devices, one-time prekeys, the store-and-forward queue, blobs, consent, reports.

What is stored is what the relay needs to route: identity *public* keys, per-device token hashes, envelopes
(ciphertext), franking commitments, sequence numbers and timestamps. Acknowledged deliveries are deleted.

Guarantees, on SQLite and PostgreSQL alike:

* a one-time prekey is handed out at most once: a claim deletes the row by primary key and only the transaction
  whose DELETE affected a row wins (losers retry with another key);
* a message is stored at most once per (sender device, message id): a resend returns the first result;
* sequence numbers are dense and increasing per conversation: the counter row is bumped inside the transaction
  that inserts the message, so concurrent senders serialise on it;
* ``submit`` returns only after the transaction committed, so an accepted message survives a crash.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from blindmatch.messaging.crypto.franking import FrankingTag
from blindmatch.messaging.crypto.identity import DeviceKeys, SignedPrekey
from blindmatch.messaging.relay import Delivery, SendRequest
from blindmatch.service.storage.base import Base
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.errors import StorageError

__all__ = [
    "AuthenticatedDevice",
    "DeviceExistsError",
    "RelayStore",
    "SubmitResult",
    "UnknownRecipientError",
    "hash_token",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class RelayAccountRow(Base):
    __tablename__ = "relay_accounts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    consent_granted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    consent_policy: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RelayConsentEventRow(Base):
    """Every consent change, kept for audit (who agreed to which policy version, when; and withdrawals)."""

    __tablename__ = "relay_consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("relay_accounts.user_id", ondelete="CASCADE"), nullable=False)
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    policy_version: Mapped[str] = mapped_column(String(32), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RelayDeviceRow(Base):
    __tablename__ = "relay_devices"
    __table_args__ = (UniqueConstraint("user_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("relay_accounts.user_id", ondelete="CASCADE"), nullable=False)
    device_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ed25519: Mapped[str] = mapped_column(String(64), nullable=False)
    curve25519: Mapped[str] = mapped_column(String(64), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RelayPrekeyRow(Base):
    __tablename__ = "relay_prekeys"
    __table_args__ = (UniqueConstraint("device_pk", "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("relay_devices.id", ondelete="CASCADE"), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(128), nullable=False)


class RelayConversationRow(Base):
    __tablename__ = "relay_conversations"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RelayMessageRow(Base):
    __tablename__ = "relay_messages"
    __table_args__ = (UniqueConstraint("sender_pk", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_pk: Mapped[int] = mapped_column(ForeignKey("relay_devices.id", ondelete="CASCADE"), nullable=False)
    message_id: Mapped[str] = mapped_column(String(128), nullable=False)
    conversation_id: Mapped[str] = mapped_column(String(128), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    server_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class RelayDeliveryRow(Base):
    __tablename__ = "relay_deliveries"
    __table_args__ = (
        UniqueConstraint("message_pk", "recipient_pk"),
        Index("ix_relay_deliveries_recipient", "recipient_pk", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("relay_messages.id", ondelete="CASCADE"), nullable=False)
    recipient_pk: Mapped[int] = mapped_column(ForeignKey("relay_devices.id", ondelete="CASCADE"), nullable=False)
    envelope: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    kid: Mapped[str] = mapped_column(String(64), nullable=False)
    tag: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class RelayBlobRow(Base):
    __tablename__ = "relay_blobs"

    blob_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_pk: Mapped[int] = mapped_column(ForeignKey("relay_devices.id", ondelete="CASCADE"), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RelayReportRow(Base):
    """A verified report, still sealed to the moderation key (the relay keeps only routing facts in clear)."""

    __tablename__ = "relay_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reporter: Mapped[str] = mapped_column(String(64), nullable=False)
    sender: Mapped[str] = mapped_column(String(64), nullable=False)
    message_id: Mapped[str] = mapped_column(String(128), nullable=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


_ACCOUNTS = cast(Table, RelayAccountRow.__table__)
_CONSENT = cast(Table, RelayConsentEventRow.__table__)
_DEVICES = cast(Table, RelayDeviceRow.__table__)
_PREKEYS = cast(Table, RelayPrekeyRow.__table__)
_CONVS = cast(Table, RelayConversationRow.__table__)
_MESSAGES = cast(Table, RelayMessageRow.__table__)
_DELIVERIES = cast(Table, RelayDeliveryRow.__table__)
_BLOBS = cast(Table, RelayBlobRow.__table__)
_REPORTS = cast(Table, RelayReportRow.__table__)


class RelayStorageError(StorageError):
    """Base class of relay storage errors."""


class DeviceExistsError(RelayStorageError, ValueError):
    """That (user, device) is already registered, or the user exists and the caller is not one of its devices."""


class UnknownRecipientError(RelayStorageError, LookupError):
    """A user or device named in a request is not registered."""


def _rows(result: object) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def hash_token(token: str) -> str:
    """Device tokens are stored as SHA-256: a database leak does not let anyone act as a device."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthenticatedDevice:
    pk: int
    user_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class SubmitResult:
    message_id: str
    seq: int
    server_ts_ms: int
    duplicate: bool
    tags: tuple[tuple[str, str, FrankingTag], ...]


Tagger = Callable[[bytes, str, str, str, int], FrankingTag]


class RelayStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _begin_write(self, s: Session) -> None:
        """On SQLite, take the write lock first: a transaction that reads and then upgrades to writing fails
        with "database is locked" (no busy wait) when another writer committed in between."""
        if self.db.is_sqlite:
            s.execute(update(_CONVS).where(_CONVS.c.next_seq < 0).values(next_seq=_CONVS.c.next_seq))

    # -- accounts and devices ---------------------------------------------------------------------------------

    def register_device(self, keys: DeviceKeys, token: str, *, acting: AuthenticatedDevice | None = None) -> None:
        """Create the account (first device) or add a device to it (``acting`` must be a device of that user)."""
        now = utcnow()
        try:
            with self.db.session() as s:
                self._begin_write(s)
                exists = s.execute(select(_ACCOUNTS.c.user_id).where(_ACCOUNTS.c.user_id == keys.user_id)).first()
                if exists is None:
                    s.execute(insert(_ACCOUNTS).values(user_id=keys.user_id, created_at=now, consent_granted=False))
                elif acting is None or acting.user_id != keys.user_id:
                    raise DeviceExistsError(
                        f"user {keys.user_id!r} exists; add devices while authenticated as one of its devices"
                    )
                s.execute(
                    insert(_DEVICES).values(
                        user_id=keys.user_id,
                        device_id=keys.device_id,
                        ed25519=keys.ed25519,
                        curve25519=keys.curve25519,
                        token_hash=hash_token(token),
                        created_at=now,
                    )
                )
        except IntegrityError:
            raise DeviceExistsError(f"{keys.user_id}/{keys.device_id} is already registered") from None

    def authenticate(self, token: str) -> AuthenticatedDevice | None:
        with self.db.session() as s:
            row = s.execute(
                select(_DEVICES.c.id, _DEVICES.c.user_id, _DEVICES.c.device_id).where(
                    _DEVICES.c.token_hash == hash_token(token)
                )
            ).first()
        return None if row is None else AuthenticatedDevice(row.id, row.user_id, row.device_id)

    def devices(self, user_id: str) -> list[DeviceKeys]:
        with self.db.session() as s:
            rows = s.execute(select(_DEVICES).where(_DEVICES.c.user_id == user_id).order_by(_DEVICES.c.device_id))
            out = [DeviceKeys(r.user_id, r.device_id, r.ed25519, r.curve25519) for r in rows]
        if not out:
            raise UnknownRecipientError(f"no user {user_id!r}")
        return out

    def _device_pk(self, s: Session, user_id: str, device_id: str) -> Any:
        return s.execute(
            select(_DEVICES).where(and_(_DEVICES.c.user_id == user_id, _DEVICES.c.device_id == device_id))
        ).first()

    def device_pks(self, user_id: str, device_id: str) -> list[int]:
        with self.db.session() as s:
            dev = self._device_pk(s, user_id, device_id)
        return [] if dev is None else [int(dev.id)]

    # -- prekeys ------------------------------------------------------------------------------------------------

    def add_prekeys(self, device: AuthenticatedDevice, prekeys: Sequence[SignedPrekey]) -> int:
        with self.db.session() as s:
            self._begin_write(s)
            existing = set(s.scalars(select(_PREKEYS.c.key_id).where(_PREKEYS.c.device_pk == device.pk)).all())
            fresh = [p for p in prekeys if p.key_id not in existing]
            if fresh:
                s.execute(
                    insert(_PREKEYS),
                    [
                        {"device_pk": device.pk, "key_id": p.key_id, "key": p.key, "signature": p.signature}
                        for p in fresh
                    ],
                )
            return int(
                s.scalar(select(func.count()).select_from(_PREKEYS).where(_PREKEYS.c.device_pk == device.pk)) or 0
            )

    def prekey_count(self, device: AuthenticatedDevice) -> int:
        with self.db.session() as s:
            return int(
                s.scalar(select(func.count()).select_from(_PREKEYS).where(_PREKEYS.c.device_pk == device.pk)) or 0
            )

    def claim_prekey(self, user_id: str, device_id: str) -> tuple[DeviceKeys, SignedPrekey | None]:
        """Hand out one prekey of the device, exactly once; ``None`` when the device has run out."""
        for _ in range(50):
            with self.db.session() as s:
                self._begin_write(s)
                dev = self._device_pk(s, user_id, device_id)
                if dev is None:
                    raise UnknownRecipientError(f"no device {user_id}/{device_id}")
                keys = DeviceKeys(dev.user_id, dev.device_id, dev.ed25519, dev.curve25519)
                row = s.execute(
                    select(_PREKEYS).where(_PREKEYS.c.device_pk == dev.id).order_by(_PREKEYS.c.id).limit(1)
                ).first()
                if row is None:
                    return keys, None
                gone = s.execute(delete(_PREKEYS).where(_PREKEYS.c.id == row.id))
                if _rows(gone) == 1:
                    return keys, SignedPrekey(row.key_id, row.key, row.signature)
            time.sleep(0.001)
        raise RelayStorageError("could not claim a prekey under contention; retry")

    # -- messages -----------------------------------------------------------------------------------------------

    def submit(self, sender: AuthenticatedDevice, req: SendRequest, tagger: Tagger) -> SubmitResult:
        """Store a message and one delivery per recipient device, idempotently by (sender device, message id)."""
        for attempt in range(5):
            try:
                return self._submit_once(sender, req, tagger)
            except IntegrityError:
                if attempt == 4:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def _existing(
        self, s: Session, sender: AuthenticatedDevice, req: SendRequest, tagger: Tagger
    ) -> SubmitResult | None:
        row = s.execute(
            select(_MESSAGES).where(and_(_MESSAGES.c.sender_pk == sender.pk, _MESSAGES.c.message_id == req.message_id))
        ).first()
        if row is None:
            return None
        tags = tuple(
            (c.user_id, c.device_id, tagger(row.commitment, sender.user_id, sender.device_id, c.user_id, row.server_ts))
            for c in req.recipients
        )
        return SubmitResult(req.message_id, row.seq, row.server_ts, True, tags)

    def _submit_once(self, sender: AuthenticatedDevice, req: SendRequest, tagger: Tagger) -> SubmitResult:
        with self.db.session() as s:
            self._begin_write(s)
            prior = self._existing(s, sender, req, tagger)
            if prior is not None:
                return prior
            targets = []
            for c in req.recipients:
                dev = self._device_pk(s, c.user_id, c.device_id)
                if dev is None:
                    raise UnknownRecipientError(f"no device {c.user_id}/{c.device_id}")
                targets.append((c, dev.id))
            bumped = s.execute(
                update(_CONVS)
                .where(_CONVS.c.conversation_id == req.conversation_id)
                .values(next_seq=_CONVS.c.next_seq + 1)
            )
            if _rows(bumped) == 0:
                s.execute(insert(_CONVS).values(conversation_id=req.conversation_id, next_seq=2))
                seq = 1
            else:
                nxt = s.scalar(select(_CONVS.c.next_seq).where(_CONVS.c.conversation_id == req.conversation_id))
                seq = int(nxt or 0) - 1
            ts = int(time.time() * 1000)
            mpk = s.execute(
                insert(_MESSAGES)
                .values(
                    sender_pk=sender.pk,
                    message_id=req.message_id,
                    conversation_id=req.conversation_id,
                    seq=seq,
                    server_ts=ts,
                    commitment=req.commitment,
                )
                .returning(_MESSAGES.c.id)
            ).scalar_one()
            tags = []
            rows = []
            for c, rpk in targets:
                tag = tagger(req.commitment, sender.user_id, sender.device_id, c.user_id, ts)
                tags.append((c.user_id, c.device_id, tag))
                rows.append(
                    {"message_pk": mpk, "recipient_pk": rpk, "envelope": c.envelope, "kid": tag.kid, "tag": tag.tag}
                )
            s.execute(insert(_DELIVERIES), rows)
            return SubmitResult(req.message_id, seq, ts, False, tuple(tags))

    def pending(self, device: AuthenticatedDevice, *, limit: int = 100, after: int = 0) -> list[Delivery]:
        """Unacknowledged deliveries for ``device`` in arrival order (ordering within a conversation = seq)."""
        d, m, snd = _DELIVERIES, _MESSAGES, _DEVICES.alias("snd")
        q = (
            select(
                d.c.id,
                d.c.envelope,
                d.c.kid,
                d.c.tag,
                m.c.message_id,
                m.c.conversation_id,
                m.c.seq,
                m.c.server_ts,
                m.c.commitment,
                snd.c.user_id,
                snd.c.device_id,
            )
            .join(m, m.c.id == d.c.message_pk)
            .join(snd, snd.c.id == m.c.sender_pk)
            .where(and_(d.c.recipient_pk == device.pk, d.c.id > after))
            .order_by(d.c.id)
            .limit(limit)
        )
        with self.db.session() as s:
            rows = s.execute(q).all()
        return [
            Delivery(
                r.id,
                r.message_id,
                r.conversation_id,
                r.seq,
                r.user_id,
                r.device_id,
                device.user_id,
                r.server_ts,
                r.commitment,
                FrankingTag(r.kid, r.tag),
                r.envelope,
            )
            for r in rows
        ]

    def ack(self, device: AuthenticatedDevice, delivery_ids: Sequence[int]) -> int:
        """Delete acknowledged deliveries (only the device's own); returns how many were removed."""
        if not delivery_ids:
            return 0
        with self.db.session() as s:
            res = s.execute(
                delete(_DELIVERIES).where(
                    and_(_DELIVERIES.c.recipient_pk == device.pk, _DELIVERIES.c.id.in_(list(delivery_ids)))
                )
            )
            return _rows(res)

    # -- consent --------------------------------------------------------------------------------------------------

    def set_consent(self, user_id: str, granted: bool, policy_version: str) -> datetime:
        now = utcnow()
        with self.db.session() as s:
            s.execute(
                update(_ACCOUNTS)
                .where(_ACCOUNTS.c.user_id == user_id)
                .values(consent_granted=granted, consent_policy=policy_version, consent_at=now)
            )
            s.execute(insert(_CONSENT).values(user_id=user_id, granted=granted, policy_version=policy_version, at=now))
        return now

    def consent(self, user_id: str) -> tuple[bool, str | None, datetime | None]:
        with self.db.session() as s:
            row = s.execute(select(_ACCOUNTS).where(_ACCOUNTS.c.user_id == user_id)).first()
        if row is None:
            raise UnknownRecipientError(f"no user {user_id!r}")
        at = row.consent_at
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return bool(row.consent_granted), row.consent_policy, at

    def consent_history(self, user_id: str) -> list[tuple[bool, str, datetime]]:
        with self.db.session() as s:
            rows = s.execute(select(_CONSENT).where(_CONSENT.c.user_id == user_id).order_by(_CONSENT.c.id)).all()
        return [(bool(r.granted), r.policy_version, r.at) for r in rows]

    # -- blobs and reports --------------------------------------------------------------------------------------

    def add_blob(self, device: AuthenticatedDevice, blob_id: str, size: int) -> None:
        with self.db.session() as s:
            s.execute(insert(_BLOBS).values(blob_id=blob_id, owner_pk=device.pk, size=size, created_at=utcnow()))

    def blob_size(self, blob_id: str) -> int | None:
        with self.db.session() as s:
            return s.scalar(select(_BLOBS.c.size).where(_BLOBS.c.blob_id == blob_id))

    def add_report(self, reporter: str, sender: str, message_id: str, sealed: bytes) -> int:
        with self.db.session() as s:
            return int(
                s.execute(
                    insert(_REPORTS)
                    .values(reporter=reporter, sender=sender, message_id=message_id, sealed=sealed, created_at=utcnow())
                    .returning(_REPORTS.c.id)
                ).scalar_one()
            )

    def reports(self) -> list[tuple[int, str, str, str, bytes]]:
        with self.db.session() as s:
            rows = s.execute(select(_REPORTS).order_by(_REPORTS.c.id)).all()
        return [(r.id, r.reporter, r.sender, r.message_id, r.sealed) for r in rows]
