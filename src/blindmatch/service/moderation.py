"""The moderation service: the one facade the console, the CLI and the JSON API call.

It turns detections into cases (verified threshold events, franked user reports, server-side scan matches),
keeps their evidence sealed (:mod:`blindmatch.moderation.evidence`), enforces the review rules of
:mod:`blindmatch.moderation.cases` and :mod:`~blindmatch.moderation.enforcement`, applies retention, and writes
every detection, view, decision, export and deletion to the hash-chained audit log *in the same transaction* as
the action itself, so an action without its audit record (or the reverse) cannot be committed.

Staff are passed as :class:`~blindmatch.moderation.views.Staff` (from :meth:`authenticate` or :meth:`session`);
every method re-reads the account so a disabled account or a changed role takes effect at once.

Keys (0600 files in ``data_dir/moderation/``): ``evidence.key`` (AES-256, sealing evidence) and ``audit-anchor.key``
(HMAC key of the audit head anchor ``audit-anchor.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from blindmatch.messaging.crypto.reports import verify_report
from blindmatch.messaging.errors import ReportError
from blindmatch.messaging.relay import RelayKeys, RelayRequestError
from blindmatch.moderation.audit import GENESIS, AuditRecord, AuditVerification
from blindmatch.moderation.cases import (
    OPEN_STATES,
    CaseSource,
    CaseStatus,
    Decision,
    PriorDecision,
    parse_decision,
    priority_for,
    transition,
)
from blindmatch.moderation.checkpoint import AuditCheckpoint, CheckpointResult, sign_checkpoint
from blindmatch.moderation.enforcement import (
    APPEAL_WINDOW,
    ActionKind,
    AppealOutcome,
    NotifyMode,
    StatementOfReasons,
    appeal_open,
    check_appeal_decider,
    check_appeal_text,
    notice_release_at,
    notice_visible,
    parse_action,
    parse_notify,
    parse_outcome,
    statement_for,
)
from blindmatch.moderation.errors import (
    AppealError,
    AuthenticationError,
    CaseNotFoundError,
    EvidenceNotFoundError,
    EvidencePurgedError,
    InvalidTransitionError,
    LegalHoldError,
    ModerationInputError,
    NotFoundError,
    StaffExistsError,
)
from blindmatch.moderation.evidence import SealedEvidence, open_evidence, seal_evidence
from blindmatch.moderation.retention import (
    POLICIES,
    Jurisdiction,
    LegalHold,
    RetentionFacts,
    hold_active,
    purge_due,
)
from blindmatch.moderation.roles import Permission, Role, parse_role, require
from blindmatch.moderation.views import (
    ActionRecord,
    AppealRecord,
    CaseSummary,
    CaseView,
    DecisionRecord,
    EvidenceInfo,
    FileViewRecord,
    HistoryEntry,
    IngestResult,
    MatchProvenance,
    Notice,
    PurgeResult,
    Staff,
    StaffSession,
    TechnologyStats,
    YearStats,
)
from blindmatch.reporting.lifecycle import ReportState, Submission
from blindmatch.service.detection import ThresholdEventRow
from blindmatch.service.moderation_audit import AuditLog
from blindmatch.service.moderation_config import ModerationConfig, check_password, hash_password
from blindmatch.service.moderation_intake import CaseDraft, draft_from_report, draft_from_scan, draft_from_threshold
from blindmatch.service.moderation_keys import AnchorStore, load_checkpoint_key, load_evidence_ring
from blindmatch.service.moderation_media import blurred_preview, key_frame_sheet, placeholder_preview
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.moderation import (
    AppealRow,
    AuditHeadRow,
    CaseHistoryRow,
    CaseMatchRow,
    CaseRow,
    CyberTipReportRow,
    DecisionRow,
    EnforcementRow,
    EvidenceRow,
    FileViewRow,
    IngestCheckpointRow,
    NoticeRow,
    StaffRow,
    StaffSessionRow,
)
from blindmatch.service.storage.relay import RelayReportRow

__all__ = ["CyberTipStore", "ModerationConfig", "ModerationService"]

log = logging.getLogger(__name__)

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_NOTE = 5000
_CP_EVENTS, _CP_REPORTS = "threshold_events", "relay_reports"
#: Reports opened per ``ingest`` call (each is decrypted, verified and its attachments fetched); the next call
#: continues after the checkpoint.
_REPORT_BATCH = 500


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _opt_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else _utc(dt)


# ---------------------------------------------------------------------------------------------------- transactions


@dataclass
class _Tx:
    """One writing transaction: the session, the locked audit head, and the time the action happened."""

    s: Session
    head: AuditHeadRow
    log: AuditLog
    now: datetime
    last: AuditRecord | None = None
    #: set when the transaction changes who may send (an enforcement, a lifted action): see :meth:`is_blocked`
    blocks_changed: bool = False

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None) -> AuditRecord:
        self.last = self.log.append(
            self.s, self.head, at=self.now, actor=actor, action=action, subject=subject, details=details
        )
        return self.last

    def event(self, case_id: int, actor: str, event: str, details: dict[str, Any] | None = None) -> None:
        """A case history entry and its audit record."""
        d = details or {}
        self.s.add(CaseHistoryRow(case_id=case_id, at=self.now, actor=actor, event=event, details=json.dumps(d)))
        self.audit(actor, event, f"case:{case_id}", d)


def _staff(row: StaffRow) -> Staff:
    return Staff(row.id, row.username, Role(row.role), bool(row.disabled))


def _statement(text: str) -> StatementOfReasons:
    d = json.loads(text)
    until = d.get("until")
    return StatementOfReasons(
        ActionKind(d["action"]), d["facts"], d["grounds"], bool(d["automated_detection"]),
        bool(d["automated_decision"]), d["redress"], datetime.fromisoformat(until) if until else None,
    )  # fmt: skip


def _techs(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


class ModerationService:
    """Cases, review, enforcement, retention and audit over one database and data directory."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        config: ModerationConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        match_media: Callable[[bytes], list[dict[str, object]]] | None = None,
    ) -> None:
        """``data_dir`` is the service's data directory: keys go to ``data_dir/moderation/``; relay reports'
        attachments are read from the relay's blob store ``data_dir/relay-blobs`` and its keys
        ``data_dir/relay-keys.json``. ``match_media`` (bytes -> ``Match.as_dict()`` list) lets reported
        attachments be checked against the lists; ``clock`` is for tests."""
        self.db = db
        self.data_dir = Path(data_dir)
        self.config = config or ModerationConfig()
        self.directory = self.data_dir / "moderation"
        self.ring = load_evidence_ring(self.directory)
        self.log = AuditLog(db, AnchorStore(self.directory))
        self._checkpoint_key = load_checkpoint_key(self.directory)  # read once, like the anchor key above
        self._clock = clock or (lambda: datetime.now(UTC))
        #: bumped after each committed transaction that changed who may send (see :meth:`is_blocked`)
        self.enforcement_generation = 0
        self.match_media = match_media
        self._dummy: str | None = None

    def _now(self) -> datetime:
        return _utc(self._clock())

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self.db.session() as s:
            tx = _Tx(s, self.log.lock(s), self.log, self._now())
            yield tx
        self.log.anchor(tx.last)
        if tx.blocks_changed:  # committed: the relay's cached guard answers are stale now
            self.enforcement_generation += 1

    def _acting(self, s: Session, staff: Staff, permission: Permission) -> StaffRow:
        """The staff member's current row (role changes and disabling apply at once), checked for ``permission``."""
        row = s.get(StaffRow, staff.id)
        if row is None or row.disabled:
            raise AuthenticationError(f"staff account {staff.username!r} is disabled or gone")
        require(Role(row.role), permission)
        return row

    @staticmethod
    def _case_row(s: Session, case_id: int) -> CaseRow:
        row = s.get(CaseRow, case_id)
        if row is None:
            raise CaseNotFoundError(f"no case {case_id}")
        return row

    @staticmethod
    def _evidence_row(s: Session, case_id: int, evidence_id: str) -> EvidenceRow:
        row = s.get(EvidenceRow, evidence_id)
        if row is None or row.case_id != case_id:
            raise EvidenceNotFoundError(f"case {case_id} has no evidence {evidence_id!r}")
        return row

    def _open(self, row: EvidenceRow) -> bytes:
        if row.ciphertext is None:
            raise EvidencePurgedError(f"evidence {row.id} was removed: {row.purged_reason}")
        sealed = SealedEvidence(row.key_id, row.sha256, row.size, row.ciphertext)
        return open_evidence(self.ring, row.case_id, row.id, sealed)

    # -- staff --------------------------------------------------------------------------------------------------

    def create_staff(
        self, username: str, password: str, role: str, *, actor: str = "system", by: Staff | None = None
    ) -> Staff:
        """Create an account (password >= 12 characters, scrypt-hashed); :class:`StaffExistsError` if taken.

        ``by`` is the admin creating it from the console (checked for the staff permission, recorded as the
        actor); the CLI bootstraps the first accounts without one."""
        name = username.strip().lower()
        if not _USERNAME.match(name):
            raise ModerationInputError("a username is 2-64 characters of a-z, 0-9, '.', '_' or '-'")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ModerationInputError(f"a staff password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        r = parse_role(role)
        hashed = hash_password(password, self.config.scrypt_n)
        with self._tx() as tx:
            if by is not None:
                actor = self._acting(tx.s, by, Permission.MANAGE_STAFF).username
            if tx.s.execute(select(StaffRow.id).where(StaffRow.username == name)).first() is not None:
                raise StaffExistsError(f"staff account {name!r} already exists")
            row = StaffRow(username=name, password_hash=hashed, role=r.value, disabled=False, created_at=tx.now)
            tx.s.add(row)
            tx.s.flush()
            tx.audit(actor, "staff_create", f"staff:{name}", {"role": r.value})
            return _staff(row)

    def set_staff_disabled(self, admin: Staff, username: str, disabled: bool) -> Staff:
        """Disable or re-enable an account (admin only); its sessions end."""
        with self._tx() as tx:
            me = self._acting(tx.s, admin, Permission.MANAGE_STAFF)
            row = tx.s.execute(select(StaffRow).where(StaffRow.username == username)).scalar_one_or_none()
            if row is None:
                raise NotFoundError(f"no staff account {username!r}")
            if disabled and row.id == me.id:
                raise ModerationInputError("you cannot disable your own account (another admin can)")
            row.disabled = disabled
            if disabled:
                tx.s.execute(delete(StaffSessionRow).where(StaffSessionRow.staff_id == row.id))
            tx.audit(me.username, "staff_disable" if disabled else "staff_enable", f"staff:{username}")
            return _staff(row)

    def list_staff(self, admin: Staff) -> list[Staff]:
        with self.db.session() as s:
            self._acting(s, admin, Permission.MANAGE_STAFF)
            return [_staff(r) for r in s.execute(select(StaffRow).order_by(StaffRow.username)).scalars()]

    def authenticate(self, username: str, password: str) -> Staff | None:
        """Check a password in constant time (a dummy hash for unknown names); audits success and failure."""
        name = username.strip().lower()[:64]
        with self.db.session() as s:
            row = s.execute(select(StaffRow).where(StaffRow.username == name)).scalar_one_or_none()
            found = None if row is None else (row.password_hash, _staff(row))
        if found is None:
            if self._dummy is None:
                self._dummy = hash_password("not-a-real-password", self.config.scrypt_n)
            check_password(password, self._dummy)  # same work as a real check: no user-enumeration timing
            ok, staff = False, None
        else:
            ok, staff = check_password(password, found[0]), found[1]
        reason = "unknown user" if staff is None else "disabled" if staff.disabled else "" if ok else "wrong password"
        with self._tx() as tx:
            tx.audit(name or "-", "login" if not reason else "login_failed", f"staff:{name}", {"reason": reason})
        return staff if not reason else None

    def start_session(self, staff: Staff) -> tuple[str, str]:
        """A new session: (token for the cookie, CSRF token for forms). Only the token's SHA-256 is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self._now()
        with self.db.session() as s:
            row = s.get(StaffRow, staff.id)
            if row is None or row.disabled:
                raise AuthenticationError(f"staff account {staff.username!r} is disabled or gone")
            s.add(
                StaffSessionRow(
                    token_sha256=_token_hash(token), staff_id=row.id, csrf_token=csrf, created_at=now,
                    expires_at=now + timedelta(hours=self.config.session_hours),
                )
            )  # fmt: skip
        return token, csrf

    def session(self, token: str) -> StaffSession | None:
        """The live session for a cookie token, or None (unknown, expired, or the account was disabled)."""
        if not token or len(token) > 200:
            return None
        with self.db.session() as s:
            found = s.execute(
                select(StaffSessionRow, StaffRow)
                .join(StaffRow, StaffRow.id == StaffSessionRow.staff_id)
                .where(StaffSessionRow.token_sha256 == _token_hash(token))
            ).first()
        if found is None:
            return None
        sess, staff = found
        expires = _utc(sess.expires_at)
        if staff.disabled or expires <= self._now():
            return None
        return StaffSession(_staff(staff), sess.csrf_token, expires)

    def end_session(self, token: str) -> None:
        with self.db.session() as s:
            s.execute(delete(StaffSessionRow).where(StaffSessionRow.token_sha256 == _token_hash(token)))

    # -- intake -------------------------------------------------------------------------------------------------

    def _checkpoint(self, s: Session, source: str) -> int:
        row = s.get(IngestCheckpointRow, source)
        return 0 if row is None else row.last_id

    def _advance(self, s: Session, source: str, last_id: int) -> None:
        row = s.get(IngestCheckpointRow, source)
        if row is None:
            s.add(IngestCheckpointRow(source=source, last_id=last_id))
        else:
            row.last_id = max(row.last_id, last_id)

    def _open_case(self, tx: _Tx, draft: CaseDraft) -> int:
        techs = sorted({m.technology for m in draft.matches})
        if not techs and draft.source is CaseSource.USER_REPORT:
            techs = ["user-report"]
        row = CaseRow(
            source=draft.source.value,
            source_ref=draft.source_ref,
            subject_user=draft.subject_user[:160],
            subject_device=draft.subject_device[:160],
            status=CaseStatus.OPEN.value,
            priority=priority_for(draft.source, [m.signal_type for m in draft.matches],
                                  [m.distance for m in draft.matches]),
            jurisdiction=self.config.jurisdiction.value,
            technologies=",".join(techs),
            source_details=json.dumps(dict(draft.details), sort_keys=True),
            created_at=tx.now,
            updated_at=tx.now,
        )  # fmt: skip
        tx.s.add(row)
        tx.s.flush()
        ids: list[str] = []
        for e in draft.evidence:
            eid = secrets.token_hex(16)
            sealed = seal_evidence(self.ring.current, row.id, eid, e.data)
            ids.append(eid)
            tx.s.add(
                EvidenceRow(
                    id=eid, case_id=row.id, kind=e.kind, mime=e.mime[:128], size=sealed.size, sha256=sealed.sha256,
                    label=e.label[:255], hashes=json.dumps(dict(e.hashes), sort_keys=True), key_id=sealed.key_id,
                    ciphertext=sealed.blob, created_at=tx.now,
                )
            )  # fmt: skip
        for m in draft.matches:
            tx.s.add(
                CaseMatchRow(
                    case_id=row.id, evidence_id=None if m.evidence_index is None else ids[m.evidence_index],
                    list_name=m.list_name[:200], entry_id=m.entry_id[:200], signal_type=m.signal_type[:16],
                    value=m.value, distance=m.distance, technology=m.technology[:32], source_org=m.source_org[:200],
                    classification_scheme=m.classification_scheme[:200],
                    classification_label=m.classification_label[:200],
                )
            )  # fmt: skip
        tx.event(
            row.id, "system", "detection",
            {"source": draft.source.value, "ref": draft.source_ref, "subject": row.subject_user,
             "evidence": len(ids), "matches": len(draft.matches), "technologies": techs},
        )  # fmt: skip
        return row.id

    def _exists(self, s: Session, source_ref: str) -> bool:
        return s.execute(select(CaseRow.id).where(CaseRow.source_ref == source_ref)).first() is not None

    def ingest(self) -> IngestResult:
        """Open cases from threshold events and relay reports not yet ingested (idempotent, checkpointed).

        Reports are opened with the relay's moderation key and re-verified (franking); each attachment of the
        reported message is fetched from the relay's blob store, decrypted with the key in the report, checked
        against the SHA-256 and stored sealed. A report that no longer verifies is recorded as an error and
        skipped (not retried forever)."""
        opened: list[int] = []
        errors: list[str] = []
        n_events = self._ingest_events(opened, errors)
        n_reports = self._ingest_reports(opened, errors)
        return IngestResult(tuple(opened), n_events, n_reports, tuple(errors))

    def _ingest_events(self, opened: list[int], errors: list[str]) -> int:
        seen = 0
        while True:
            with self._tx() as tx:
                after = self._checkpoint(tx.s, _CP_EVENTS)
                q = select(ThresholdEventRow).where(ThresholdEventRow.id > after).order_by(ThresholdEventRow.id)
                rows = list(tx.s.execute(q.limit(50)).scalars())
                for r in rows:
                    seen += 1
                    counters = {"verified": r.verified, "collisions": r.collisions, "synthetic": r.synthetic,
                                "opened_total": r.opened_total, "method": r.method}  # fmt: skip
                    try:
                        draft = draft_from_threshold(r.id, r.account_id, counters, r.matches)
                    except ModerationInputError as exc:
                        errors.append(f"threshold event {r.id}: {exc}")
                        tx.audit("system", "ingest_error", f"threshold_event:{r.id}", {"error": str(exc)})
                        continue
                    if not self._exists(tx.s, draft.source_ref):
                        opened.append(self._open_case(tx, draft))
                if rows:
                    self._advance(tx.s, _CP_EVENTS, rows[-1].id)
            if len(rows) < 50:
                return seen

    def _fetch_blob(self, blob_id: str) -> bytes | None:
        path = self.data_dir / "relay-blobs" / blob_id[:2] / blob_id
        try:
            return path.read_bytes()
        except OSError:
            return None

    def _ingest_reports(self, opened: list[int], errors: list[str]) -> int:
        with self.db.session() as s:
            after = self._checkpoint(s, _CP_REPORTS)
            pending = list(
                s.execute(
                    select(RelayReportRow)
                    .where(RelayReportRow.id > after)
                    .order_by(RelayReportRow.id)
                    .limit(_REPORT_BATCH)
                ).scalars()
            )
        if not pending:
            return 0
        keys_path = self.data_dir / "relay-keys.json"
        if not keys_path.exists():
            errors.append(f"{len(pending)} relay reports waiting but the relay keys ({keys_path}) are missing")
            return 0
        try:
            keys = RelayKeys.load_or_create(keys_path)
        except RelayRequestError as exc:
            errors.append(f"{len(pending)} relay reports waiting but the relay keys are unusable: {exc}")
            return 0
        for r in pending:
            draft: CaseDraft | None = None
            problem = ""
            try:
                verified = verify_report(r.sealed, keys.moderation, keys.ring, reporter=r.reporter)
                draft = draft_from_report(r.id, verified, self._fetch_blob, match_media=self.match_media)
            except (ReportError, ModerationInputError) as exc:
                problem = f"relay report {r.id}: {exc}"
            with self._tx() as tx:
                if self._checkpoint(tx.s, _CP_REPORTS) >= r.id:
                    continue  # another ingester took it
                if draft is None:
                    errors.append(problem)
                    tx.audit("system", "ingest_error", f"relay_report:{r.id}", {"error": problem})
                elif not self._exists(tx.s, draft.source_ref):
                    opened.append(self._open_case(tx, draft))
                self._advance(tx.s, _CP_REPORTS, r.id)
        return len(pending)

    def open_from_scan(
        self,
        data: bytes,
        filename: str,
        matches: list[dict[str, Any]],
        *,
        source: str = "scan",
        subject_user: str = "",
    ) -> int:
        """Open a case for a file that server-side scanning matched; ``matches`` are ``Match.as_dict()`` dicts.

        Refuses an empty match list (:class:`ModerationInputError`): scanning opens cases only for matches."""
        draft = draft_from_scan(
            data, filename, matches, source_ref=f"scan:{uuid.uuid4().hex}", subject_user=subject_user
        )
        draft = CaseDraft(draft.source, draft.source_ref, draft.subject_user, draft.subject_device,
                          {**draft.details, "via": source[:40]}, draft.evidence, draft.matches)  # fmt: skip
        with self._tx() as tx:
            return self._open_case(tx, draft)

    # -- review -------------------------------------------------------------------------------------------------

    def _summaries(self, s: Session, rows: list[CaseRow]) -> list[CaseSummary]:
        ids = [r.id for r in rows]
        counts: dict[int, int] = {}
        if ids:
            q = (
                select(EvidenceRow.case_id, func.count())
                .where(EvidenceRow.case_id.in_(ids))
                .group_by(EvidenceRow.case_id)
            )
            counts = {cid: int(n) for cid, n in s.execute(q).all()}
        now = self._now()
        return [self._summary(r, counts.get(r.id, 0), now) for r in rows]

    @staticmethod
    def _hold(row: CaseRow) -> LegalHold | None:
        if row.hold_reason is None or row.hold_at is None:
            return None
        return LegalHold(row.hold_reason, _utc(row.hold_at), _opt_utc(row.hold_until))

    def _summary(self, r: CaseRow, evidence: int, now: datetime) -> CaseSummary:
        return CaseSummary(
            r.id, CaseSource(r.source), CaseStatus(r.status), r.priority, r.subject_user, _utc(r.created_at),
            _techs(r.technologies), evidence, hold_active(self._hold(r), now),
        )  # fmt: skip

    def queue(self, staff: Staff, status: str | None = "open", *, limit: int = 200) -> list[CaseSummary]:
        """Cases by priority (1 first), then oldest first. ``status``: a CaseStatus value, ``"open"`` (every
        undecided state: open, awaiting_second, escalated) or None (all)."""
        with self.db.session() as s:
            self._acting(s, staff, Permission.VIEW_QUEUE)
            return self._queue(s, status, limit)

    def summaries(self, status: str | None = "open", *, limit: int = 200) -> list[CaseSummary]:
        """The queue's summaries (no evidence, no personal data beyond the account id) for service-key callers:
        the JSON case feed other systems poll (``GET /v1/moderation/cases``). Not audited per call."""
        with self.db.session() as s:
            return self._queue(s, status, limit)

    def _queue(self, s: Session, status: str | None, limit: int) -> list[CaseSummary]:
        q = select(CaseRow).order_by(CaseRow.priority, CaseRow.created_at, CaseRow.id).limit(max(1, limit))
        if status == "open":
            q = q.where(CaseRow.status.in_([st.value for st in OPEN_STATES]))
        elif status is not None:
            try:
                q = q.where(CaseRow.status == CaseStatus(status).value)
            except ValueError:
                raise ModerationInputError(f"unknown case status {status!r}") from None
        return self._summaries(s, list(s.execute(q).scalars()))

    def case(self, staff: Staff, case_id: int) -> CaseView:
        """Everything about one case (metadata only; evidence bytes stay sealed). Opening a case is audited."""
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.VIEW_QUEUE)
            row = self._case_row(tx.s, case_id)
            view = self._view(tx.s, row)
            tx.audit(me.username, "case_view", f"case:{case_id}")
            return view

    def _view(self, s: Session, row: CaseRow) -> CaseView:
        cid = row.id
        evidence = list(
            s.execute(
                select(EvidenceRow).where(EvidenceRow.case_id == cid).order_by(EvidenceRow.created_at, EvidenceRow.id)
            ).scalars()
        )
        matches = s.execute(select(CaseMatchRow).where(CaseMatchRow.case_id == cid).order_by(CaseMatchRow.id)).scalars()
        history = s.execute(
            select(CaseHistoryRow).where(CaseHistoryRow.case_id == cid).order_by(CaseHistoryRow.id)
        ).scalars()
        views = s.execute(select(FileViewRow).where(FileViewRow.case_id == cid).order_by(FileViewRow.id)).scalars()
        decisions = s.execute(select(DecisionRow).where(DecisionRow.case_id == cid).order_by(DecisionRow.id)).scalars()
        actions = s.execute(
            select(EnforcementRow).where(EnforcementRow.case_id == cid).order_by(EnforcementRow.id)
        ).scalars()
        now = self._now()
        hold = self._hold(row)
        return CaseView(
            summary=self._summary(row, len(evidence), now),
            subject_device=row.subject_device,
            jurisdiction=row.jurisdiction,
            evidence=tuple(
                EvidenceInfo(
                    e.id, e.kind, e.mime, e.size, e.sha256, e.label, _utc(e.created_at), e.ciphertext is not None,
                    e.purged_reason, json.loads(e.hashes),
                )
                for e in evidence
            ),
            matches=tuple(
                MatchProvenance(
                    m.list_name, m.entry_id, m.signal_type, m.value, m.distance, m.technology, m.source_org,
                    m.classification_scheme, m.classification_label, m.evidence_id,
                )
                for m in matches
            ),
            history=tuple(HistoryEntry(_utc(h.at), h.actor, h.event, json.loads(h.details)) for h in history),
            views=tuple(FileViewRecord(v.evidence_id, v.staff, _utc(v.at)) for v in views),
            decisions=tuple(self._decision(d) for d in decisions),
            actions=tuple(self._action(a, s, now) for a in actions),
            legal_hold_reason=hold.reason if hold_active(hold, now) and hold else None,
            legal_hold_until=hold.until if hold_active(hold, now) and hold else None,
            source_details=json.loads(row.source_details),
        )  # fmt: skip

    @staticmethod
    def _decision(d: DecisionRow) -> DecisionRecord:
        return DecisionRecord(
            d.id, d.staff, Decision(d.decision), CaseStatus(d.from_status), CaseStatus(d.to_status), d.note,
            _utc(d.at), _techs(d.technologies),
        )  # fmt: skip

    @staticmethod
    def _action(a: EnforcementRow, s: Session, now: datetime) -> ActionRecord:
        release = s.execute(select(NoticeRow.release_at).where(NoticeRow.action_id == a.id)).scalar_one_or_none()
        return ActionRecord(
            a.id, a.case_id, a.user_id, ActionKind(a.kind), a.staff, _statement(a.statement), NotifyMode(a.notify),
            _opt_utc(release), _utc(a.created_at), _opt_utc(a.lifted_at), _action_active(a, now),
        )  # fmt: skip

    def preview(self, staff: Staff, case_id: int, evidence_id: str) -> bytes:
        """A small, blurred, greyscale PNG made server-side (no view is recorded; nothing identifiable shown).

        For non-image evidence (or evidence already purged) a neutral placeholder PNG is returned."""
        with self.db.session() as s:
            self._acting(s, staff, Permission.VIEW_QUEUE)
            row = self._evidence_row(s, case_id, evidence_id)
            if row.ciphertext is None:
                return placeholder_preview("purged")
            if row.kind != "media":
                return placeholder_preview(row.kind)
            data = self._open(row)
        return blurred_preview(data) or placeholder_preview("media")

    def reveal(self, staff: Staff, case_id: int, evidence_id: str) -> tuple[bytes, str]:
        """The evidence bytes and MIME type; records a file view (feeds ``fileViewedByEsp``) and an audit record.

        A video is revealed as a PNG sheet of its key frames, not as the video: the reviewer decides from stills
        (the original stays available to :meth:`export_evidence` for the report)."""
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.REVEAL)
            row = self._evidence_row(tx.s, case_id, evidence_id)
            data = self._open(row)
            mime = row.mime
            sheet = key_frame_sheet(data) if mime.startswith("video/") else None
            if sheet is not None:
                data, mime = sheet, "image/png"
            tx.s.add(FileViewRow(case_id=case_id, evidence_id=evidence_id, staff=me.username, at=tx.now))
            details = {"evidence": evidence_id, "sha256": row.sha256} | ({"key_frames": True} if sheet else {})
            tx.event(case_id, me.username, "view", details)
            return data, mime

    def export_evidence(self, staff: Staff, case_id: int, evidence_id: str, *, recipient: str) -> tuple[bytes, str]:
        """Evidence bytes for a report to ``recipient`` (supervisor): audited as an export, *not* as a view."""
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.EXPORT)
            row = self._evidence_row(tx.s, case_id, evidence_id)
            data = self._open(row)
            tx.event(case_id, me.username, "export", {"evidence": evidence_id, "recipient": recipient[:100]})
            return data, row.mime

    def record_export(self, staff: Staff, case_id: int, recipient: str, sha256: str, size: int) -> None:
        """Record that ``staff`` exported the report document of a case (its SHA-256 and size) for ``recipient``:
        a case-history event and its audit record, refused unless their role may export. The document itself is
        built by the reporting package; the facade only records that it left."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or size < 0:
            raise ModerationInputError("an export is recorded with the document's SHA-256 (64 hex) and its size")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.EXPORT)
            self._case_row(tx.s, case_id)
            tx.event(case_id, me.username, "export", {"recipient": recipient[:100], "sha256": sha256, "bytes": size})

    def decide(self, staff: Staff, case_id: int, decision: str, note: str = "") -> CaseSummary:
        """confirm / dismiss / escalate, under the two-person rule when configured; a dismissal is counted as a
        false positive for every technology that matched the case."""
        d = parse_decision(decision)
        if len(note) > MAX_NOTE:
            raise ModerationInputError(f"a note is at most {MAX_NOTE} characters")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.DECIDE)
            row = self._case_row(tx.s, case_id)
            prior_rows = tx.s.execute(select(DecisionRow).where(DecisionRow.case_id == case_id)).scalars()
            prior = [PriorDecision(p.staff, Decision(p.decision), CaseStatus(p.from_status)) for p in prior_rows]
            before = CaseStatus(row.status)
            step = transition(
                before, d, staff=me.username, role=Role(me.role), prior=prior, two_person=self.config.two_person
            )
            tx.s.add(
                DecisionRow(
                    case_id=case_id, staff=me.username, decision=d.value, from_status=before.value,
                    to_status=step.to_status.value, note=note, technologies=row.technologies, at=tx.now,
                )
            )  # fmt: skip
            row.status, row.updated_at = step.to_status.value, tx.now
            if step.final:
                row.decided_at = tx.now
            tx.event(
                case_id, me.username, "decision",
                {"decision": d.value, "from": before.value, "to": step.to_status.value,
                 "false_positive": step.to_status is CaseStatus.DISMISSED,
                 "technologies": list(_techs(row.technologies))},
            )  # fmt: skip
            tx.s.flush()
            return self._summaries(tx.s, [row])[0]

    # -- enforcement --------------------------------------------------------------------------------------------

    def enforce(
        self,
        staff: Staff,
        case_id: int,
        action: str,
        *,
        facts: str,
        grounds: str,
        notify: str = "now",
        delay_until: datetime | None = None,
        until: datetime | None = None,
    ) -> ActionRecord:
        """Suspend (``until`` required) or ban the case's subject; only on a confirmed case. The statement of
        reasons is stored and released to the user now, at ``delay_until`` or (suppress) when staff release it."""
        kind, mode = parse_action(action), parse_notify(notify)
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.ENFORCE)
            row = self._case_row(tx.s, case_id)
            if row.status != CaseStatus.CONFIRMED.value:
                raise InvalidTransitionError(f"case {case_id} is {row.status}; only a confirmed case is enforced")
            if not row.subject_user:
                raise ModerationInputError(f"case {case_id} has no known account to act on")
            automated = row.source != CaseSource.USER_REPORT.value or any(
                t != "user-report" for t in _techs(row.technologies)
            )
            statement = statement_for(
                kind, facts=facts, grounds=grounds, until=None if until is None else _utc(until),
                automated_detection=automated,
            )  # fmt: skip
            if statement.until is not None and statement.until <= tx.now:
                raise ModerationInputError("a suspension must end in the future")
            release = notice_release_at(mode, tx.now, None if delay_until is None else _utc(delay_until))
            act = EnforcementRow(
                case_id=case_id, user_id=row.subject_user, kind=kind.value, staff=me.username,
                statement=json.dumps(statement.to_json(), sort_keys=True), notify=mode.value, until=statement.until,
                created_at=tx.now,
            )  # fmt: skip
            tx.s.add(act)
            tx.blocks_changed = True
            tx.s.flush()
            tx.s.add(NoticeRow(action_id=act.id, user_id=row.subject_user, release_at=release, created_at=tx.now))
            tx.event(
                case_id, me.username, "enforce",
                {"action_id": act.id, "kind": kind.value, "user": row.subject_user, "notify": mode.value,
                 "release_at": release.isoformat() if release else None},
            )  # fmt: skip
            tx.s.flush()
            return self._action(act, tx.s, tx.now)

    def release_notice(self, staff: Staff, action_id: int) -> ActionRecord:
        """Release a delayed or suppressed notice now (supervisor), e.g. when the authority lifts its request."""
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.LEGAL_HOLD)
            act = tx.s.get(EnforcementRow, action_id)
            notice = tx.s.execute(select(NoticeRow).where(NoticeRow.action_id == action_id)).scalar_one_or_none()
            if act is None or notice is None:
                raise NotFoundError(f"no enforcement action {action_id}")
            if notice.release_at is None or _utc(notice.release_at) > tx.now:
                notice.release_at = tx.now
            tx.audit(me.username, "notice_release", f"action:{action_id}")
            tx.s.flush()
            return self._action(act, tx.s, tx.now)

    def notices(self, user_id: str, *, now: datetime | None = None) -> list[Notice]:
        """What the user is told: released notices only, newest first."""
        at = _utc(now) if now else self._now()
        with self.db.session() as s:
            rows = s.execute(
                select(NoticeRow, EnforcementRow)
                .join(EnforcementRow, EnforcementRow.id == NoticeRow.action_id)
                .where(NoticeRow.user_id == user_id, NoticeRow.release_at.is_not(None))
                .order_by(EnforcementRow.created_at.desc(), EnforcementRow.id.desc())
            ).all()
            out = []
            for n, a in rows:
                assert n.release_at is not None
                if not notice_visible(_utc(n.release_at), at):
                    continue
                appeals = s.execute(select(AppealRow).where(AppealRow.action_id == a.id).order_by(AppealRow.id))
                out.append(
                    Notice(
                        a.id, _statement(a.statement), _utc(n.release_at), _utc(a.created_at) + APPEAL_WINDOW,
                        tuple(_appeal(x, a) for x in appeals.scalars()), _action_active(a, at),
                    )
                )  # fmt: skip
            return out

    def is_blocked(self, user_id: str) -> str | None:
        """Why ``user_id`` may not send (``"banned"`` / ``"suspended until ..."``), or None. Used by the relay,
        which caches answers briefly and asks again whenever :attr:`enforcement_generation` changed (bumped after
        every committed enforcement or reversal made through this instance; other processes see it within the
        relay's cache time)."""
        now = self._now()
        with self.db.session() as s:
            rows = s.execute(
                select(EnforcementRow).where(EnforcementRow.user_id == user_id, EnforcementRow.lifted_at.is_(None))
            ).scalars()
            reasons = [a for a in rows if _action_active(a, now)]
        if any(a.kind == ActionKind.BAN.value for a in reasons):
            return "banned"
        if reasons:
            end = max(_utc(a.until) for a in reasons if a.until is not None)
            return f"suspended until {end.isoformat()}"
        return None

    def appeal(self, user_id: str, action_id: int, text: str) -> AppealRecord:
        """File an internal complaint against an action on the user's own account (open 6 months)."""
        body = check_appeal_text(text)
        with self._tx() as tx:
            act = tx.s.get(EnforcementRow, action_id)
            if act is None or act.user_id != user_id:
                raise AppealError(f"there is no action {action_id} on account {user_id!r}")
            if not appeal_open(_utc(act.created_at), tx.now):
                raise AppealError("the appeal window (six months after the decision) has closed")
            pending = tx.s.execute(
                select(AppealRow.id).where(AppealRow.action_id == action_id, AppealRow.outcome.is_(None))
            ).first()
            if pending is not None:
                raise AppealError(f"an appeal against action {action_id} is already pending")
            row = AppealRow(action_id=action_id, user_id=user_id, text=body, created_at=tx.now, note="")
            tx.s.add(row)
            tx.s.flush()
            tx.audit(f"user:{user_id}", "appeal", f"action:{action_id}", {"appeal_id": row.id})
            if act.case_id is not None:
                tx.s.add(CaseHistoryRow(case_id=act.case_id, at=tx.now, actor=f"user:{user_id}", event="appeal",
                                        details=json.dumps({"appeal_id": row.id})))  # fmt: skip
            return _appeal(row, act)

    def appeals(self, staff: Staff, *, pending_only: bool = True) -> list[AppealRecord]:
        with self.db.session() as s:
            self._acting(s, staff, Permission.DECIDE_APPEAL)
            q = (
                select(AppealRow, EnforcementRow)
                .join(EnforcementRow, EnforcementRow.id == AppealRow.action_id)
                .order_by(AppealRow.created_at, AppealRow.id)
            )
            if pending_only:
                q = q.where(AppealRow.outcome.is_(None))
            return [_appeal(r, act) for r, act in s.execute(q).all()]

    def decide_appeal(self, staff: Staff, appeal_id: int, outcome: str, note: str = "") -> AppealRecord:
        """uphold / reverse; refused (:class:`SameReviewerError`) for whoever enforced or confirmed the case.
        Reversing lifts the action (the user can send again)."""
        result = parse_outcome(outcome)
        if len(note) > MAX_NOTE:
            raise ModerationInputError(f"a note is at most {MAX_NOTE} characters")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.DECIDE_APPEAL)
            row = tx.s.get(AppealRow, appeal_id)
            if row is None:
                raise NotFoundError(f"no appeal {appeal_id}")
            if row.outcome is not None:
                raise AppealError(f"appeal {appeal_id} was already decided ({row.outcome})")
            act = tx.s.get(EnforcementRow, row.action_id)
            assert act is not None
            involved = {act.staff}
            if act.case_id is not None:
                q = select(DecisionRow.staff).where(
                    DecisionRow.case_id == act.case_id, DecisionRow.decision == Decision.CONFIRM.value
                )
                involved |= set(tx.s.execute(q).scalars())
            check_appeal_decider(me.username, involved)
            row.outcome, row.decided_by, row.decided_at, row.note = result.value, me.username, tx.now, note
            if result is AppealOutcome.REVERSE and act.lifted_at is None:
                act.lifted_at, act.lifted_reason = tx.now, f"reversed on appeal {appeal_id}"
                tx.blocks_changed = True
            details = {"appeal_id": appeal_id, "action_id": act.id, "outcome": result.value}
            if act.case_id is not None:
                tx.event(act.case_id, me.username, "appeal_decision", details)
            else:
                tx.audit(me.username, "appeal_decision", f"action:{act.id}", details)
            tx.s.flush()
            return _appeal(row, act)

    # -- retention ----------------------------------------------------------------------------------------------

    def legal_hold(self, case_id: int, reason: str, *, until: datetime | None = None, actor: str = "system") -> None:
        """Place (or extend) a legal hold: no purge or destruction while it lasts. Saving a submitted CyberTipline
        report places one automatically (``until`` = report time + the preservation period)."""
        if not reason.strip():
            raise ModerationInputError("a legal hold needs a reason")
        with self._tx() as tx:
            self._place_hold(tx, self._case_row(tx.s, case_id), reason, until, actor)

    def place_legal_hold(self, staff: Staff, case_id: int, reason: str, *, until: datetime | None = None) -> None:
        """A supervisor places (or extends) a hold, e.g. for a complaint or a court order; recorded under their name."""
        if not reason.strip():
            raise ModerationInputError("a legal hold needs a reason")
        if until is not None and _utc(until) <= self._now():
            raise ModerationInputError("a legal hold must end in the future (or leave the end empty)")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.LEGAL_HOLD)
            self._place_hold(tx, self._case_row(tx.s, case_id), reason, until, me.username)

    def _place_hold(self, tx: _Tx, row: CaseRow, reason: str, until: datetime | None, actor: str) -> None:
        new_until = None if until is None else _utc(until)
        current = self._hold(row)
        if hold_active(current, tx.now):
            assert current is not None
            if current.until is None or (new_until is not None and new_until < current.until):
                new_until = current.until  # a second hold never shortens the first
        else:
            current = None
        row.hold_reason = reason.strip()[:1000]
        row.hold_at = current.placed_at if current else tx.now
        row.hold_until = new_until
        tx.event(row.id, actor, "legal_hold",
                 {"reason": row.hold_reason, "until": new_until.isoformat() if new_until else None})  # fmt: skip

    def lift_legal_hold(self, staff: Staff, case_id: int, reason: str) -> None:
        if not reason.strip():
            raise ModerationInputError("lifting a legal hold needs a reason")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.LEGAL_HOLD)
            row = self._case_row(tx.s, case_id)
            row.hold_reason = row.hold_at = row.hold_until = None
            tx.event(case_id, me.username, "legal_hold_lifted", {"reason": reason[:1000]})

    def purge(self, now: datetime | None = None, *, staff: Staff | None = None) -> PurgeResult:
        """Delete the ciphertext of every evidence item past its jurisdiction's limit, unless held; audited.

        ``staff`` is an admin running it from the console (checked, and the run is recorded under their name);
        the daily job runs it without one."""
        purged: list[str] = []
        held = checked = 0
        with self._tx() as tx:
            runner = "system" if staff is None else self._acting(tx.s, staff, Permission.PURGE).username
            at = _utc(now) if now else tx.now
            q = (
                select(EvidenceRow.id, EvidenceRow.created_at, CaseRow)
                .join(CaseRow, CaseRow.id == EvidenceRow.case_id)
                .where(EvidenceRow.ciphertext.is_not(None))
                .order_by(EvidenceRow.case_id, EvidenceRow.id)
            )
            for eid, created, case in tx.s.execute(q).all():
                checked += 1
                facts = RetentionFacts(_utc(created), case.status == CaseStatus.DISMISSED.value, self._hold(case))
                decision = purge_due(facts, POLICIES[Jurisdiction(case.jurisdiction)], at)
                if not decision.purge:
                    held += decision.reason.startswith("legal hold")
                    continue
                tx.s.execute(
                    update(EvidenceRow)
                    .where(EvidenceRow.id == eid)
                    .values(ciphertext=None, purged_at=at, purged_reason=f"purged: {decision.reason}")
                )
                purged.append(eid)
                tx.event(case.id, runner, "purge", {"evidence": eid, "reason": decision.reason})
            if staff is not None:
                tx.audit(runner, "purge_run", "evidence", {"purged": len(purged), "held": held, "checked": checked})
        return PurgeResult(tuple(purged), held, checked)

    def destroy(self, staff: Staff, case_id: int, reason: str) -> int:
        """Destroy a case's evidence on request (admin); :class:`LegalHoldError` under hold. Returns items
        destroyed; metadata (hashes) and history stay."""
        if not reason.strip():
            raise ModerationInputError("destruction needs a reason (who asked, on what basis)")
        with self._tx() as tx:
            me = self._acting(tx.s, staff, Permission.DESTROY)
            row = self._case_row(tx.s, case_id)
            hold = self._hold(row)
            if hold_active(hold, tx.now):
                assert hold is not None
                raise LegalHoldError(f"case {case_id} is under legal hold ({hold.reason}); lift it first")
            result = tx.s.execute(
                update(EvidenceRow)
                .where(EvidenceRow.case_id == case_id, EvidenceRow.ciphertext.is_not(None))
                .values(ciphertext=None, purged_at=tx.now, purged_reason=f"destroyed on request: {reason[:500]}")
            )
            n = int(getattr(result, "rowcount", 0))
            tx.event(case_id, me.username, "destroy", {"items": n, "reason": reason[:500]})
            return n

    # -- CyberTipline report state (driven by blindmatch.reporting) -----------------------------------------------

    def cybertip_load(self, case_id: str) -> Submission | None:
        """The reporting driver's stored state for a case (``SubmissionStore.load``)."""
        cid = _case_number(case_id)
        with self.db.session() as s:
            q = select(CyberTipReportRow.submission).where(CyberTipReportRow.case_id == cid)
            text = s.execute(q.order_by(CyberTipReportRow.id.desc()).limit(1)).scalar_one_or_none()
        return None if text is None else Submission.from_dict(json.loads(text))

    def cybertip_save(self, submission: Submission, *, actor: str = "system") -> None:
        """Store the driver's state (``SubmissionStore.save``). The first save that carries a report id (the report
        was submitted) places the legal hold in the same transaction, until report time + the preservation period
        of the case's jurisdiction: evidence is preserved from the moment of reporting. State changes are audited."""
        cid = _case_number(submission.case_id)
        with self._tx() as tx:
            case = self._case_row(tx.s, cid)
            q = select(CyberTipReportRow).where(CyberTipReportRow.case_id == cid).order_by(CyberTipReportRow.id.desc())
            row = tx.s.execute(q.limit(1)).scalar_one_or_none()
            before = None if row is None else row.state
            if row is None:
                row = CyberTipReportRow(case_id=cid, state=submission.state.value, created_at=tx.now, file_ids="{}")
                tx.s.add(row)
            row.state = submission.state.value
            row.ncmec_report_id = submission.report_id
            row.xml = submission.report_xml
            row.error = submission.error
            row.file_ids = json.dumps({str(f.index): f.file_id for f in submission.files if f.file_id})
            row.submission = json.dumps(submission.to_dict(), sort_keys=True)
            row.updated_at = tx.now
            if submission.report_id and row.submitted_at is None:
                row.submitted_at = tx.now
                keep = POLICIES[Jurisdiction(case.jurisdiction)].preserve_after_report
                self._place_hold(
                    tx, case, f"CyberTipline report {submission.report_id} submitted", tx.now + keep, actor
                )
            if submission.state is ReportState.FINISHED and row.finished_at is None:
                row.finished_at = tx.now
            if submission.state is ReportState.RETRACTED and row.retracted_at is None:
                row.retracted_at = tx.now
            if before != row.state:
                tx.event(cid, actor, "report_state",
                         {"recipient": "cybertipline", "from": before, "to": row.state,
                          "report_id": submission.report_id})  # fmt: skip

    def submission_store(self, *, actor: str = "system") -> CyberTipStore:
        """A :class:`~blindmatch.reporting.submission.SubmissionStore` over the ``cybertip_reports`` table; state
        changes are recorded under ``actor`` (the staff member filing, or ``system`` for a job)."""
        return CyberTipStore(self, actor)

    # -- audit --------------------------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None) -> AuditRecord:
        """Append one record (e.g. ``export`` by the reporting helper) in its own transaction."""
        with self._tx() as tx:
            return tx.audit(actor[:64], action[:40], subject[:200], details)

    def _may_read_audit(self, staff: Staff | None) -> None:
        if staff is not None:
            with self.db.session() as s:
                self._acting(s, staff, Permission.VIEW_AUDIT)

    def audit_verify(self, staff: Staff | None = None) -> AuditVerification:
        """Check the chain and the head anchor. With ``staff``, refused unless their role may read the audit log
        (the CLI, run by the operator, passes none)."""
        self._may_read_audit(staff)
        return self.log.verify()

    def audit_checkpoint_key(self) -> Ed25519PublicKey:
        """The public key that verifies this service's audit checkpoints (publish it once)."""
        return self._checkpoint_key.public_key()

    def audit_checkpoint(self, actor: str = "system") -> AuditCheckpoint:
        """Sign the log's current head for publication (``moderation/checkpoint.py``), and record in the log that
        a checkpoint of that head was issued. Meant for a scheduled job whose output goes to outside holders."""
        with self._tx() as tx:
            head = tx.head.hash if tx.head.seq else GENESIS
            checkpoint = sign_checkpoint(self._checkpoint_key, head, tx.now)
            tx.audit(actor[:64], "audit.checkpoint", "audit", {"head": head, "key_id": checkpoint.key_id})
        return checkpoint

    def audit_verify_checkpoints(
        self, checkpoints: Sequence[AuditCheckpoint], public_key: Ed25519PublicKey | None = None
    ) -> tuple[AuditVerification, list[CheckpointResult]]:
        """Check the chain and the head anchor, then that the log still holds every checkpoint someone kept.
        ``public_key`` defaults to this service's own; an outside auditor passes the key that was published."""
        return self.log.verify_with_checkpoints(checkpoints, public_key or self.audit_checkpoint_key())

    def audit_records(self, *, after: int = 0, limit: int = 1000, staff: Staff | None = None) -> list[AuditRecord]:
        self._may_read_audit(staff)
        return self.log.records(after=after, limit=limit)

    # -- statistics ---------------------------------------------------------------------------------------------

    def year_stats(self, year: int) -> YearStats:
        """Figures for the transparency report (cases, matches/reviews/false positives per technology, actions,
        appeals, reversals, purges, the retention policy)."""
        start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        with self.db.session() as s:
            cases = list(
                s.execute(select(CaseRow).where(CaseRow.created_at >= start, CaseRow.created_at < end)).scalars()
            )
            actions = list(
                s.execute(
                    select(EnforcementRow).where(EnforcementRow.created_at >= start, EnforcementRow.created_at < end)
                ).scalars()
            )
            appeals = list(
                s.execute(select(AppealRow).where(AppealRow.created_at >= start, AppealRow.created_at < end)).scalars()
            )
            reported = s.execute(
                select(func.count())
                .select_from(CyberTipReportRow)
                .where(CyberTipReportRow.submitted_at >= start, CyberTipReportRow.submitted_at < end)
            ).scalar_one()
            removed = list(
                s.execute(
                    select(EvidenceRow.purged_reason).where(EvidenceRow.purged_at >= start, EvidenceRow.purged_at < end)
                ).scalars()
            )
        by_source: dict[str, int] = {}
        tech: dict[str, list[int]] = {}
        for c in cases:
            by_source[c.source] = by_source.get(c.source, 0) + 1
            for t in _techs(c.technologies):
                m = tech.setdefault(t, [0, 0, 0, 0])
                m[0] += 1
                m[1] += c.status in (CaseStatus.CONFIRMED.value, CaseStatus.DISMISSED.value)
                m[2] += c.status == CaseStatus.CONFIRMED.value
                m[3] += c.status == CaseStatus.DISMISSED.value
        kinds: dict[str, int] = {}
        for a in actions:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        return YearStats(
            year=year,
            cases_by_source=dict(sorted(by_source.items())),
            technologies=tuple(TechnologyStats(t, *v) for t, v in sorted(tech.items())),
            actions_by_kind=dict(sorted(kinds.items())),
            notices_delayed=sum(a.notify == NotifyMode.DELAY.value for a in actions),
            notices_suppressed=sum(a.notify == NotifyMode.SUPPRESS.value for a in actions),
            appeals=len(appeals),
            appeals_decided=sum(a.outcome is not None for a in appeals),
            reversals=sum(a.outcome == AppealOutcome.REVERSE.value for a in appeals),
            evidence_purged=sum(1 for r in removed if r and r.startswith("purged")),
            evidence_destroyed=sum(1 for r in removed if r and r.startswith("destroyed")),
            retention_policy=POLICIES[self.config.jurisdiction].to_json(),
            reports_by_recipient={"cybertipline": int(reported)} if reported else {},
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _action_active(a: EnforcementRow, now: datetime) -> bool:
    if a.lifted_at is not None:
        return False
    return a.kind == ActionKind.BAN.value or (a.until is not None and _utc(a.until) > now)


def _appeal(r: AppealRow, act: EnforcementRow | None) -> AppealRecord:
    """The appeal, with the case and statement of reasons of the action it is against (when that is known)."""
    return AppealRecord(
        r.id, r.action_id, r.user_id, r.text, _utc(r.created_at), AppealOutcome(r.outcome) if r.outcome else None,
        r.decided_by, _opt_utc(r.decided_at), r.note, None if act is None else act.case_id,
        None if act is None else _statement(act.statement),
    )  # fmt: skip


def _case_number(case_id: str) -> int:
    try:
        n = int(case_id)
    except ValueError:
        raise ModerationInputError(f"a case id is a number, got {case_id!r}") from None
    if n < 1:
        raise ModerationInputError(f"a case id is a positive number, got {case_id!r}")
    return n


class CyberTipStore:
    """The database-backed ``SubmissionStore`` the CyberTipline driver persists its state through."""

    def __init__(self, service: ModerationService, actor: str = "system") -> None:
        self.service = service
        self.actor = actor

    def load(self, case_id: str) -> Submission | None:
        return self.service.cybertip_load(case_id)

    def save(self, submission: Submission) -> None:
        self.service.cybertip_save(submission, actor=self.actor)
