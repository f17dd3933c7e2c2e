"""Private detection on the relay: the blinded table it publishes, voucher intake, and threshold events.

Why it is shaped like this:

* **One table for every enabled list.** The client cannot know which lists exist, so the relay blinds the live PDQ
  entries of all enabled lists into one signed table (:func:`blindmatch.privacy.api.build_table`). The custodian's
  signing key and secret state (α, slot assignment) live in ``data_dir/detection/`` with mode 0600, created on
  first use. The table is rebuilt whenever the set of list versions changes (checked on every table request and
  by :meth:`DetectionService.refresh`); vouchers made against an older table are refused with
  :class:`~blindmatch.privacy.errors.WrongTableError`, and the client re-fetches.
* **Per-account state encrypted at rest.** Below the threshold the server holds opened Shamir shares and the seen
  voucher ids; past it, the recovered inner key. That is exactly what a database thief should not get, so each
  account's :class:`~blindmatch.privacy.server.AccountState` is sealed with AES-256-GCM under a key in the data
  directory (the account id is the associated data, so rows cannot be swapped between accounts).
* **Only verified matches leave the protocol.** A :class:`~blindmatch.privacy.server.ThresholdEvent` carries
  matches that the list matcher confirmed (PDQ distance within the list's threshold); each becomes one
  ``threshold_events`` row with the list/entry provenance, for the moderation service to turn into cases.
  Nothing about vouchers that do not open is stored except what the protocol needs (seen ids, counters).
* **One account per device.** A device's sharing polynomial never leaves it, so shares from two devices of one
  user could not be combined; the protocol account is therefore ``user_id/device_id``.

Concurrency: a voucher is processed inside one database transaction that locks the account's row (``SELECT ...
FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so two workers cannot lose each other's shares.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import DateTime, Integer, LargeBinary, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from blindmatch.hashing.vpdq import VpdqFrame, VpdqHash, distinct_hashes
from blindmatch.privacy.api import BuiltTable, build_table, custodian_from_bytes, custodian_to_bytes
from blindmatch.privacy.client import VoucherConfig
from blindmatch.privacy.errors import DecodeError, PrivacyError
from blindmatch.privacy.manifest import key_id
from blindmatch.privacy.server import AccountState, ReceiveOutcome, ThresholdEvent, VoucherServer
from blindmatch.privacy.table import CustodianTable
from blindmatch.privacy.tokens import default_scheme
from blindmatch.service.matching import Match, Matcher
from blindmatch.service.secret_files import file_lock, write_secret
from blindmatch.service.storage.base import Base
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore

__all__ = [
    "DETECTION_LIST_ID",
    "DetectionAccountRow",
    "DetectionConfigError",
    "DetectionError",
    "DetectionKeys",
    "DetectionService",
    "PublishedTable",
    "SealedStateError",
    "ThresholdEventRow",
    "account_name",
    "detection_config",
]

log = logging.getLogger(__name__)

DETECTION_LIST_ID = "blindmatch-relay"
_STATE_AAD = b"blindmatch/detection-state/v1\x00"


class DetectionError(Exception):
    """Base class of the relay's private-detection errors (protocol rejections stay :class:`PrivacyError`)."""


class DetectionConfigError(DetectionError):
    """A ``detection_*`` setting has a value the protocol cannot run with."""


class SealedStateError(DetectionError):
    """A stored account state does not decrypt with the state key (wrong key, corrupted or swapped row)."""


# ------------------------------------------------------------------------------------------------------ models


class DetectionAccountRow(Base):
    """One protocol account (a device): its :class:`AccountState`, sealed with AES-256-GCM."""

    __tablename__ = "detection_accounts"

    account_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ThresholdEventRow(Base):
    """An account crossed the threshold (or sent another verified match after): what moderation will review."""

    __tablename__ = "threshold_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(160), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)
    verified: Mapped[int] = mapped_column(Integer, nullable=False)
    collisions: Mapped[int] = mapped_column(Integer, nullable=False)
    synthetic: Mapped[int] = mapped_column(Integer, nullable=False)
    opened_total: Mapped[int] = mapped_column(Integer, nullable=False)
    #: JSON list of {"pdq": hex, "voucher_id": hex, "matches": [Match.as_dict(), ...]}
    matches: Mapped[str] = mapped_column(Text, nullable=False)


# ------------------------------------------------------------------------------------------------------ config


def _extra(extra: dict[str, str], name: str, default: str) -> str:
    return extra.get(name, os.environ.get("BLINDMATCH_" + name.upper(), default))


#: Frames of a video that go into its one voucher (see :func:`blindmatch.hashing.vpdq.representative_frames`).
DEFAULT_VIDEO_FRAMES = 4
#: Share of a video voucher's sampled frames that must match one listed video for the server to verify it.
VIDEO_MIN_SAMPLED_PCT = 50.0


def detection_config(extra: dict[str, str] | None = None) -> VoucherConfig:
    """The protocol parameters the relay runs with, from ``Settings.extra`` (or ``BLINDMATCH_DETECTION_*``).

    ``detection_threshold`` (default 10), ``detection_synthetic_probability`` (0.02), ``detection_max_synthetic``
    (8), ``detection_video_frames`` (4: frame hashes one video voucher carries; every voucher has that many slots).
    Token budget and cuckoo ways follow the default token scheme and the table builder."""
    e = extra or {}
    try:
        threshold = int(_extra(e, "detection_threshold", "10"))
        synthetic = float(_extra(e, "detection_synthetic_probability", "0.02"))
        max_synthetic = int(_extra(e, "detection_max_synthetic", "8"))
        video_frames = int(_extra(e, "detection_video_frames", str(DEFAULT_VIDEO_FRAMES)))
        if not 1 <= threshold <= 1000:
            raise DetectionConfigError(f"detection_threshold must be in 1..1000, got {threshold}")
        return VoucherConfig.for_scheme(
            default_scheme(),
            threshold=threshold,
            synthetic_probability=synthetic,
            max_synthetic=max_synthetic,
            item_hashes=video_frames,
        )
    except ValueError as exc:
        raise DetectionConfigError(f"bad detection setting: {exc}") from None
    except PrivacyError as exc:
        raise DetectionConfigError(f"bad detection setting: {exc}") from None


def config_json(config: VoucherConfig) -> dict[str, Any]:
    """What a client needs to make vouchers the relay accepts (served at ``/detection/config``)."""
    return {
        "threshold": config.threshold,
        "token_count": config.token_count,
        "metadata_bytes": config.metadata_bytes,
        "synthetic_probability": config.synthetic_probability,
        "max_synthetic": config.max_synthetic,
        "cuckoo_ways": config.cuckoo_ways,
        "item_hashes": config.item_hashes,
        "synthetic_open_counts": [list(p) for p in config.synthetic_open_counts],
        "synthetic_open_counts_multi": (
            [list(p) for p in config.synthetic_open_counts_multi] if config.synthetic_open_counts_multi else None
        ),
        "voucher_bytes": config.voucher_bytes,
    }


def account_name(user_id: str, device_id: str) -> str:
    """The protocol account of a device (see the module docstring for why it is per device)."""
    return f"{user_id}/{device_id}"


# ------------------------------------------------------------------------------------------------------ keys


def _read_or_create(path: Path, size: int, make: Any) -> bytes:
    if path.exists():
        data = path.read_bytes()
        if len(data) != size:
            raise DetectionConfigError(f"{path} must hold {size} bytes, it holds {len(data)}")
        return data
    data = bytes(make())
    write_secret(path, data)
    return data


@dataclass(frozen=True)
class DetectionKeys:
    """The custodian's signing key and the key sealing account states (both 0600 files in ``directory``)."""

    signing: Ed25519PrivateKey
    state_key: bytes

    @classmethod
    def load_or_create(cls, directory: Path) -> DetectionKeys:
        raw = _read_or_create(
            directory / "custodian-signing.key",
            32,
            lambda: Ed25519PrivateKey.generate().private_bytes_raw(),
        )
        state_key = _read_or_create(directory / "state.key", 32, lambda: AESGCM.generate_key(bit_length=256))
        return cls(Ed25519PrivateKey.from_private_bytes(raw), state_key)

    @property
    def public_hex(self) -> str:
        return self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def seal(self, state: AccountState) -> bytes:
        nonce = os.urandom(12)
        aad = _STATE_AAD + state.account_id.encode()
        return nonce + AESGCM(self.state_key).encrypt(nonce, state.to_json().encode(), aad)

    def unseal(self, account_id: str, blob: bytes) -> AccountState:
        try:
            plain = AESGCM(self.state_key).decrypt(blob[:12], blob[12:], _STATE_AAD + account_id.encode())
        except (InvalidTag, ValueError):
            raise SealedStateError(f"state of account {account_id!r} does not decrypt with the state key") from None
        state = AccountState.from_json(plain.decode())
        if state.account_id != account_id:
            raise SealedStateError(f"state row of {account_id!r} holds account {state.account_id!r}")
        return state


# ------------------------------------------------------------------------------------------------------ table


@dataclass(frozen=True)
class PublishedTable:
    """The table currently served, and what it was built from."""

    table_bytes: bytes
    table_id: bytes
    list_version: int
    lists_signature: str
    entries: int
    custodian: CustodianTable


def _lists_signature(store: ListStore) -> str:
    parts = sorted((hl.name, hl.version) for hl in store.lists() if hl.enabled)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _TableFiles:
    """``custodian.json`` (secret: α and assignment; 0600) and ``table.bin`` (public) in the detection dir."""

    def __init__(self, directory: Path) -> None:
        self.meta = directory / "custodian.json"
        self.table = directory / "table.bin"

    def load(self) -> PublishedTable | None:
        if not (self.meta.exists() and self.table.exists()):
            return None
        try:
            meta = json.loads(self.meta.read_bytes())
            custodian = custodian_from_bytes(bytes.fromhex(meta["custodian"]))
            data = self.table.read_bytes()
            return PublishedTable(
                data, custodian.root[:8], int(meta["list_version"]), str(meta["lists_signature"]),
                int(meta["entries"]), custodian,
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError, DecodeError) as exc:
            log.warning("detection table files unusable (%s); rebuilding", exc)
            return None

    def save(self, t: PublishedTable) -> None:
        meta = {
            "format": 1,
            "list_version": t.list_version,
            "lists_signature": t.lists_signature,
            "entries": t.entries,
            "custodian": custodian_to_bytes(t.custodian).hex(),
        }
        write_secret(self.meta, json.dumps(meta).encode())
        write_secret(self.table, t.table_bytes)


# ------------------------------------------------------------------------------------------------------ service


class _SessionStore:
    """An :class:`AccountStateStore` bound to one transaction; ``load`` locks the account's row.

    ``save`` updates the row ``load`` locked, or inserts one if there was none. It must not look the row up again:
    under READ COMMITTED a second read would see a row another worker inserted meanwhile, and overwriting it
    would lose that worker's share. Inserting instead fails on the primary key, and the caller retries."""

    def __init__(self, session: Session, keys: DetectionKeys) -> None:
        self.session = session
        self.keys = keys
        self._rows: dict[str, DetectionAccountRow | None] = {}

    def load(self, account_id: str) -> AccountState | None:
        q = select(DetectionAccountRow).where(DetectionAccountRow.account_id == account_id).with_for_update()
        row = self.session.execute(q).scalar_one_or_none()
        self._rows[account_id] = row
        return None if row is None else self.keys.unseal(account_id, row.sealed)

    def save(self, state: AccountState) -> None:
        row = self._rows.get(state.account_id)
        sealed = self.keys.seal(state)
        now = datetime.now(UTC)
        if row is None:
            row = DetectionAccountRow(account_id=state.account_id, sealed=sealed, updated_at=now)
            self.session.add(row)
            self._rows[state.account_id] = row
        else:
            row.sealed, row.updated_at = sealed, now
        self.session.flush()


def _event_row(event: ThresholdEvent) -> ThresholdEventRow:
    matches = []
    for m in event.matches:
        found = m.match if isinstance(m.match, tuple) else ()
        matches.append(
            {
                "voucher_id": m.voucher_id.hex(),
                "pdq": m.pdq_hex,
                "kind": "video" if len(m.item_hashes) > 1 else "image",
                "item_hashes": list(m.item_hashes),
                "matches": [x.as_dict() for x in found if isinstance(x, Match)],
            }
        )
    return ThresholdEventRow(
        account_id=event.account_id,
        created_at=datetime.now(UTC),
        method=event.method,
        verified=len(event.matches),
        collisions=event.collisions,
        synthetic=event.synthetic,
        opened_total=event.opened_total,
        matches=json.dumps(matches, sort_keys=True),
    )


def _event_json(r: ThresholdEventRow) -> dict[str, Any]:
    created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
    return {
        "event_id": r.id,
        "account": r.account_id,
        "created_at": created.isoformat(),
        "method": r.method,
        "verified": r.verified,
        "collisions": r.collisions,
        "synthetic": r.synthetic,
        "opened_total": r.opened_total,
        "matches": json.loads(r.matches),
    }


class DetectionService:
    """The relay's side of private matching: publishes the table, takes vouchers, records threshold events."""

    def __init__(
        self, db: Database, store: ListStore, matcher: Matcher, directory: Path, config: VoucherConfig
    ) -> None:
        self.db = db
        self.store = store
        self.matcher = matcher
        self.directory = Path(directory)
        self.config = config
        self.scheme = default_scheme()
        self.keys = DetectionKeys.load_or_create(self.directory)
        self._files = _TableFiles(self.directory)
        self._lock = threading.RLock()
        #: within one process vouchers are processed one at a time (SQLite's deferred BEGIN would otherwise let
        #: two readers of one account deadlock on upgrade); across processes the row lock serialises them.
        self._receive_lock = threading.Lock()
        self._table: PublishedTable | None = None
        self.refresh()

    # -- table ------------------------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Bring the table up to the enabled lists' versions; True if the served table changed.

        Several worker processes share the data directory: the check-and-build runs under a file lock, and a
        worker that finds a table on disk already built for the current lists (by another worker) serves that
        one instead of building its own (which would have a different α and refuse the other's vouchers)."""
        with self._lock:
            signature = _lists_signature(self.store)
            if not force and self._table is not None and self._table.lists_signature == signature:
                return False
            with file_lock(self.directory / "build.lock"):
                on_disk = self._files.load()
                if not force and on_disk is not None and on_disk.lists_signature == signature:
                    self._table = on_disk
                    self.matcher.refresh()
                    return True
                latest = max((t.list_version for t in (self._table, on_disk) if t is not None), default=0)
                self._table = self._build(signature, latest + 1)
            self.matcher.refresh()  # the verifier must know every entry the new table can open
            return True

    def _build(self, signature: str, version: int) -> PublishedTable:
        hashes = sorted(
            {value for _, _, value in self.store.live_hashes_by_signal("pdq")}
            | {
                frame
                for _, _, value in self.store.live_hashes_by_signal("vpdq")
                for frame in distinct_hashes(VpdqHash.from_compact(value))
            }
        )
        built: BuiltTable = build_table(
            hashes,
            self.scheme,
            list_id=DETECTION_LIST_ID,
            list_version=version,
            signers=[self.keys.signing],
            cuckoo_ways=self.config.cuckoo_ways,
        )
        table = PublishedTable(
            built.table_bytes, built.custodian.root[:8], version, signature, len(hashes), built.custodian
        )
        self._files.save(table)
        log.info("detection table v%d built from %d PDQ hashes (images and video frames)", version, len(hashes))
        return table

    @property
    def table(self) -> PublishedTable:
        with self._lock:
            assert self._table is not None
            return self._table

    def trust(self) -> dict[str, str]:
        return {"public_key": self.keys.public_hex, "key_id": key_id(self.keys.signing.public_key())}

    # -- vouchers ---------------------------------------------------------------------------------------------

    def _verify(self, pdq_hex: str) -> tuple[Match, ...] | None:
        """The list matcher decides: a decrypted PDQ counts only within a list's own distance threshold (PDQ
        entries), or within the vPDQ frame distance of a frame of a listed video (the table holds both)."""
        return self._verify_many((pdq_hex,))

    def _verify_many(self, hashes: tuple[str, ...]) -> tuple[Match, ...] | None:
        """An item's hashes (a video's sampled frames) against PDQ entries and, frame by frame, listed videos.

        The server sees only the few frames the voucher carries, not the video, so the reference's whole-video
        rule (80 % of the listed video's frames) cannot be applied. Instead at least
        :data:`VIDEO_MIN_SAMPLED_PCT` of the sampled frames must lie within distance 31 of the listed video's
        frames (the query-side half of the vPDQ rule); ``target_pct`` says how much of the listed video they
        cover. Measured on the sample videos this agrees with the plaintext vPDQ verdict on every pair
        (docs/video.md). A listed *image* found as one frame of a video is a match on its own."""
        found: dict[tuple[str, str], Match] = {}
        for h in hashes:
            for m in self.matcher.lookup("pdq", h).matches:
                key = (m.list_name, m.entry_id)
                if key not in found or m.distance < found[key].distance:
                    found[key] = m
        frames = VpdqHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in enumerate(hashes)))
        for m in self.matcher.lookup("vpdq", frames.to_compact(), video_target_pct=0.0).matches:
            if (m.query_pct or 0.0) >= VIDEO_MIN_SAMPLED_PCT:
                found.setdefault((m.list_name, m.entry_id), m)
        return tuple(sorted(found.values(), key=lambda m: (m.distance, m.list_name, m.entry_id))) or None

    def _server(self, session: Session) -> VoucherServer:
        t = self.table
        return VoucherServer(
            t.custodian.alpha,
            {t.table_id},
            self.config,
            self._verify,
            _SessionStore(session, self.keys),
            verify_many=self._verify_many,
        )

    def receive(self, account_id: str, data: bytes) -> ReceiveOutcome:
        """Process one voucher in one transaction; a rejection is counted (committed) and then re-raised."""
        self.refresh()  # a voucher made against a table whose lists have since changed must be re-made
        for attempt in range(3):
            try:
                return self._receive_once(account_id, data)
            except IntegrityError:  # two first vouchers of a new account raced to insert its row
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _receive_once(self, account_id: str, data: bytes) -> ReceiveOutcome:
        rejected: PrivacyError | None = None
        outcome: ReceiveOutcome | None = None
        with self._receive_lock, self.db.session() as s:
            if self.db.is_sqlite:
                # Take SQLite's write lock first: a transaction that reads the row and then upgrades to writing
                # fails with "database is locked" when another process wrote in between (no busy wait then).
                s.execute(
                    update(DetectionAccountRow)
                    .where(DetectionAccountRow.account_id == account_id)
                    .values(updated_at=DetectionAccountRow.updated_at)
                )
            try:
                outcome = self._server(s).receive(account_id, data)
            except PrivacyError as exc:  # counted in the account's state by VoucherServer; commit that
                rejected = exc
            if outcome is not None and outcome.event is not None and outcome.event.matches:
                s.add(_event_row(outcome.event))
        if rejected is not None:
            raise rejected
        assert outcome is not None
        return outcome

    # -- moderation side ----------------------------------------------------------------------------------------

    def events(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.session() as s:
            q = select(ThresholdEventRow).where(ThresholdEventRow.id > after).order_by(ThresholdEventRow.id)
            return [_event_json(r) for r in s.execute(q.limit(limit)).scalars()]

    def stats(self) -> dict[str, Any]:
        """Totals over all accounts (never per account: per-account opened counts are what the threshold hides)."""
        totals: dict[str, int] = {}
        accounts = 0
        with self.db.session() as s:
            for row in s.execute(select(DetectionAccountRow)).scalars():
                accounts += 1
                for k, v in self.keys.unseal(row.account_id, row.sealed).counters.items():
                    totals[k] = totals.get(k, 0) + v
        t = self.table
        return {
            "accounts": accounts,
            "counters": dict(sorted(totals.items())),
            "table": {"list_version": t.list_version, "entries": t.entries, "table_id": t.table_id.hex()},
        }
