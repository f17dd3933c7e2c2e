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
import threading
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
    "BlobInUseError",
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
        # ids must never be reused (WebSockets resume "after id N"); migration 0006_relay_delivery_ids
        {"sqlite_autoincrement": True},
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


class BlobInUseError(RelayStorageError, ValueError):
    """A blob id is already taken (with receipts: the receipt that names it was already used)."""


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


#: Result of one send in a batch: the stored message and, if it was new, the deliveries to push.
BatchOutcome = tuple[SubmitResult, tuple[tuple[int, Delivery], ...]] | Exception

_CACHE_LIMIT = 100_000

_CHUNK = 200


class _Raw:
    """Multi-row statements of the group commit, straight on the DBAPI cursor of the session's connection.

    Placeholders are ``?`` (sqlite3) or ``%s`` (psycopg). RETURNING rows are matched back by their keys, never by
    position (neither database promises an order for them)."""

    def __init__(self, s: Session, sqlite: bool) -> None:
        self.cur = s.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        self.p = "?" if sqlite else "%s"

    def _marks(self, rows: int, cols: int) -> str:
        one = "(" + ", ".join([self.p] * cols) + ")"
        return ", ".join([one] * rows)

    def existing_messages(self, message_ids: list[str]) -> dict[tuple[int, str], tuple[int, int, bytes]]:
        out: dict[tuple[int, str], tuple[int, int, bytes]] = {}
        for i in range(0, len(message_ids), _CHUNK):
            chunk = message_ids[i : i + _CHUNK]
            self.cur.execute(
                "SELECT sender_pk, message_id, seq, server_ts, commitment FROM relay_messages "
                f"WHERE message_id IN ({', '.join([self.p] * len(chunk))})",
                chunk,
            )
            for sender_pk, mid, seq, ts, c in self.cur.fetchall():
                out[(int(sender_pk), str(mid))] = (int(seq), int(ts), bytes(c))
        return out

    def bump_counters(self, counts: dict[str, int]) -> dict[str, int]:
        """Add ``counts[c]`` to each conversation's counter; return each new ``next_seq`` (the conversation's new
        messages take ``next_seq - count .. next_seq - 1``)."""
        out: dict[str, int] = {}
        convs = sorted(counts)
        for i in range(0, len(convs), _CHUNK):
            chunk = convs[i : i + _CHUNK]
            params: list[Any] = []
            for c in chunk:
                params += [c, counts[c] + 1]
            self.cur.execute(
                f"INSERT INTO relay_conversations (conversation_id, next_seq) VALUES {self._marks(len(chunk), 2)} "
                "ON CONFLICT (conversation_id) "
                "DO UPDATE SET next_seq = relay_conversations.next_seq + excluded.next_seq - 1 "
                "RETURNING conversation_id, next_seq",
                params,
            )
            out.update((str(c), int(top)) for c, top in self.cur.fetchall())
        return out

    def insert_messages(self, rows: list[tuple[int, str, str, int, int, bytes]]) -> dict[tuple[int, str], int]:
        out: dict[tuple[int, str], int] = {}
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            self.cur.execute(
                "INSERT INTO relay_messages (sender_pk, message_id, conversation_id, seq, server_ts, commitment) "
                f"VALUES {self._marks(len(chunk), 6)} RETURNING id, sender_pk, message_id",
                [v for row in chunk for v in row],
            )
            out.update(((int(spk), str(mid)), int(pk)) for pk, spk, mid in self.cur.fetchall())
        return out

    def insert_deliveries(self, rows: list[tuple[int, int, bytes, str, bytes]]) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = {}
        for i in range(0, len(rows), _CHUNK):
            chunk = rows[i : i + _CHUNK]
            self.cur.execute(
                "INSERT INTO relay_deliveries (message_pk, recipient_pk, envelope, kid, tag) "
                f"VALUES {self._marks(len(chunk), 5)} RETURNING id, message_pk, recipient_pk",
                [v for row in chunk for v in row],
            )
            out.update(((int(m), int(r)), int(pk)) for pk, m, r in self.cur.fetchall())
        return out

    def ack_many(self, acks: Sequence[tuple[AuthenticatedDevice, Sequence[int]]]) -> list[int]:
        """Delete the acked deliveries of several devices in one statement (each device only its own rows).

        Written as ``(recipient = a AND id IN (...)) OR ...``: a row-value ``(recipient, id) IN (VALUES ...)``
        silently matched nothing on SQLite 3.40 once ids had been deleted and re-inserted (seen in testing)."""
        by_device: dict[int, set[int]] = {}
        for device, ids in acks:
            by_device.setdefault(device.pk, set()).update(int(i) for i in ids)
        clauses: list[str] = []
        params: list[int] = []
        for pk, wanted in sorted(by_device.items()):
            if wanted:
                clauses.append(f"(recipient_pk = {self.p} AND id IN ({', '.join([self.p] * len(wanted))}))")
                params += [pk, *sorted(wanted)]
        gone: set[tuple[int, int]] = set()
        if clauses:
            self.cur.execute(
                f"DELETE FROM relay_deliveries WHERE {' OR '.join(clauses)} RETURNING recipient_pk, id", params
            )
            gone = {(int(r), int(i)) for r, i in self.cur.fetchall()}
        removed = []
        for device, ids in acks:
            mine = {(device.pk, int(i)) for i in ids} & gone
            gone -= mine
            removed.append(len(mine))
        return removed


class RelayStore:
    """Relay tables behind plain methods. Device rows are never deleted or re-keyed, and tokens are never
    re-issued, so (token hash -> device) and ((user, device) -> row id) are cached in memory: the hot send path
    then costs no lookups. If device removal or token revocation is ever added, it must clear these caches."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache_lock = threading.Lock()
        self._auth_cache: dict[str, AuthenticatedDevice] = {}
        self._pk_cache: dict[tuple[str, str], int] = {}

    def _remember(self, cache: dict[Any, Any], key: Any, value: Any) -> None:
        with self._cache_lock:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = value

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

    def authenticate_cached(self, token: str) -> AuthenticatedDevice | None:
        """The device of ``token`` if it was seen before (no database access); else ``None`` (not a refusal)."""
        return self._auth_cache.get(hash_token(token))

    def authenticate(self, token: str) -> AuthenticatedDevice | None:
        digest = hash_token(token)
        hit = self._auth_cache.get(digest)
        if hit is not None:
            return hit
        with self.db.session() as s:
            row = s.execute(
                select(_DEVICES.c.id, _DEVICES.c.user_id, _DEVICES.c.device_id).where(_DEVICES.c.token_hash == digest)
            ).first()
        if row is None:
            return None
        device = AuthenticatedDevice(row.id, row.user_id, row.device_id)
        self._remember(self._auth_cache, digest, device)
        return device

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

    def _resolve_pks(self, s: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Row ids of the given (user, device) pairs, from the cache or one query; unknown pairs are absent."""
        found = {k: self._pk_cache[k] for k in wanted if k in self._pk_cache}
        missing = [k for k in wanted if k not in found]
        if missing:
            rows = s.execute(
                select(_DEVICES.c.id, _DEVICES.c.user_id, _DEVICES.c.device_id).where(
                    _DEVICES.c.user_id.in_(sorted({u for u, _ in missing}))
                )
            ).all()
            for r in rows:
                key = (str(r.user_id), str(r.device_id))
                self._remember(self._pk_cache, key, int(r.id))
                if key in wanted:
                    found[key] = int(r.id)
        return found

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

    def submit_batch(
        self,
        items: Sequence[tuple[AuthenticatedDevice, SendRequest]],
        tagger: Tagger,
        acks: Sequence[tuple[AuthenticatedDevice, Sequence[int]]] = (),
    ) -> tuple[list[BatchOutcome], list[int]]:
        """Store many sends and apply many acks in **one** transaction (group commit).

        Per item, the result is the same as :meth:`submit` would give (including idempotent resends and
        :class:`UnknownRecipientError`, returned in place of a result), plus ``(recipient row id, delivery)`` for
        every delivery created, so the caller can push them without reading them back. Nothing is returned before
        the commit. A database error fails the whole batch (the caller then retries items one by one).

        This is the relay's hot path, so it talks to the driver directly: a handful of multi-row statements per
        batch whatever its size (profiling showed SQLAlchemy's per-statement work costing more than SQLite's)."""
        outcomes: list[BatchOutcome | None] = [None] * len(items)
        with self.db.session() as s:
            self._begin_write(s)
            sql = _Raw(s, self.db.is_sqlite)
            wanted = {(c.user_id, c.device_id) for _, req in items for c in req.recipients}
            pks = self._resolve_pks(s, wanted) if wanted else {}
            # idempotency: (sender row id, message id) already stored, or repeated inside this batch
            existing = sql.existing_messages(sorted({req.message_id for _, req in items}))
            fresh: list[int] = []
            first_in_batch: dict[tuple[int, str], int] = {}
            for n, (sender, req) in enumerate(items):
                key = (sender.pk, req.message_id)
                hit = existing.get(key)
                if hit is not None:
                    outcomes[n] = (self._as_duplicate(sender, req, tagger, *hit), ())
                    continue
                unknown = [f"{c.user_id}/{c.device_id}" for c in req.recipients if (c.user_id, c.device_id) not in pks]
                if unknown:
                    outcomes[n] = UnknownRecipientError(f"no device {unknown[0]}")
                    continue
                if key in first_in_batch:
                    continue  # resolved after the first copy is stored
                first_in_batch[key] = n
                fresh.append(n)
            # one counter bump per conversation, in batch order: seq stays dense and increasing
            per_conv: dict[str, list[int]] = {}
            for n in fresh:
                per_conv.setdefault(items[n][1].conversation_id, []).append(n)
            tops = sql.bump_counters({conv: len(members) for conv, members in per_conv.items()})
            seqs: dict[int, int] = {}
            for conv, members in per_conv.items():
                for j, n in enumerate(members):
                    seqs[n] = tops[conv] - len(members) + j
            ts = int(time.time() * 1000)
            mpks = sql.insert_messages(
                [
                    (
                        items[n][0].pk,
                        items[n][1].message_id,
                        items[n][1].conversation_id,
                        seqs[n],
                        ts,
                        items[n][1].commitment,
                    )
                    for n in fresh
                ]
            )
            rows: list[tuple[int, int, bytes, str, bytes]] = []
            owners: list[tuple[int, str]] = []  # (item, recipient user)
            tags: dict[int, list[tuple[str, str, FrankingTag]]] = {}
            for n in fresh:
                sender, req = items[n]
                mpk = mpks[(sender.pk, req.message_id)]
                tags[n] = []
                for c in req.recipients:
                    tag = tagger(req.commitment, sender.user_id, sender.device_id, c.user_id, ts)
                    tags[n].append((c.user_id, c.device_id, tag))
                    rows.append((mpk, pks[(c.user_id, c.device_id)], c.envelope, tag.kid, tag.tag))
                    owners.append((n, c.user_id))
            dids = sql.insert_deliveries(rows)
            pushes: dict[int, list[tuple[int, Delivery]]] = {n: [] for n in fresh}
            for (n, user), (mpk, rpk, envelope, kid, tag_bytes) in zip(owners, rows, strict=True):
                sender, req = items[n]
                d = Delivery(
                    dids[(mpk, rpk)],
                    req.message_id,
                    req.conversation_id,
                    seqs[n],
                    sender.user_id,
                    sender.device_id,
                    user,
                    ts,
                    req.commitment,
                    FrankingTag(kid, tag_bytes),
                    envelope,
                )
                pushes[n].append((rpk, d))
            for n in fresh:
                outcomes[n] = (
                    SubmitResult(items[n][1].message_id, seqs[n], ts, False, tuple(tags[n])),
                    tuple(pushes[n]),
                )
            for key, n in first_in_batch.items():  # repeats of a message inside the batch
                for m, (sender, req) in enumerate(items):
                    if outcomes[m] is None and (sender.pk, req.message_id) == key:
                        outcomes[m] = (
                            self._as_duplicate(sender, req, tagger, seqs[n], ts, items[n][1].commitment),
                            (),
                        )
            removed = sql.ack_many(acks)
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(items)
        return done, removed

    @staticmethod
    def _as_duplicate(
        sender: AuthenticatedDevice, req: SendRequest, tagger: Tagger, seq: int, ts: int, stored: bytes
    ) -> SubmitResult:
        tags = tuple(
            (c.user_id, c.device_id, tagger(stored, sender.user_id, sender.device_id, c.user_id, ts))
            for c in req.recipients
        )
        return SubmitResult(req.message_id, int(seq), int(ts), True, tags)

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

    def reserve_blob(self, device: AuthenticatedDevice, blob_id: str) -> None:
        """Claim ``blob_id`` before its bytes are written (size -1 = upload in progress), so two uploads can never
        write the same file; :class:`BlobInUseError` if it is taken (a receipt used twice)."""
        try:
            with self.db.session() as s:
                s.execute(insert(_BLOBS).values(blob_id=blob_id, owner_pk=device.pk, size=-1, created_at=utcnow()))
        except IntegrityError:
            raise BlobInUseError(f"blob {blob_id} already exists") from None

    def finish_blob(self, blob_id: str, size: int) -> None:
        with self.db.session() as s:
            s.execute(update(_BLOBS).where(_BLOBS.c.blob_id == blob_id).values(size=size))

    def release_blob(self, blob_id: str) -> None:
        """Drop a reservation whose upload failed (its receipt becomes usable again: no blob was stored)."""
        with self.db.session() as s:
            s.execute(delete(_BLOBS).where(and_(_BLOBS.c.blob_id == blob_id, _BLOBS.c.size < 0)))

    def blob_size(self, blob_id: str) -> int | None:
        """Size of a stored blob; ``None`` if absent or still being uploaded."""
        with self.db.session() as s:
            size = s.scalar(select(_BLOBS.c.size).where(_BLOBS.c.blob_id == blob_id))
        return None if size is None or size < 0 else int(size)

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
