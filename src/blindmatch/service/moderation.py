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

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from blindmatch.moderation.audit import AuditRecord, AuditVerification
from blindmatch.moderation.retention import Jurisdiction
from blindmatch.moderation.views import (
    ActionRecord,
    AppealRecord,
    CaseSummary,
    CaseView,
    IngestResult,
    Notice,
    PurgeResult,
    Staff,
    StaffSession,
    YearStats,
)
from blindmatch.service.storage.database import Database

__all__ = ["ModerationConfig", "ModerationService"]


@dataclass(frozen=True)
class ModerationConfig:
    """Settings (from ``Settings.extra`` / ``BLINDMATCH_MODERATION_*``, see :meth:`from_extra`)."""

    #: Confirmation needs two distinct reviewers (``moderation_two_person``).
    two_person: bool = False
    #: Retention regime applied to new cases (``moderation_jurisdiction``: US or EU).
    jurisdiction: Jurisdiction = Jurisdiction.EU
    #: Staff sessions last this long (``moderation_session_hours``).
    session_hours: float = 8.0
    #: scrypt cost (N); lowered only by tests.
    scrypt_n: int = 2**15

    @classmethod
    def from_extra(cls, extra: dict[str, str] | None = None) -> ModerationConfig:
        raise NotImplementedError


class ModerationService:
    """Cases, review, enforcement, retention and audit over one database and data directory."""

    def __init__(self, db: Database, data_dir: Path, config: ModerationConfig | None = None) -> None:
        """``data_dir`` is the service's data directory: keys go to ``data_dir/moderation/``; relay reports'
        attachments are read from the relay's blob store ``data_dir/relay-blobs`` and its keys
        ``data_dir/relay-keys.json``."""
        raise NotImplementedError

    # -- staff --------------------------------------------------------------------------------------------------

    def create_staff(self, username: str, password: str, role: str, *, actor: str = "system") -> Staff:
        """Create an account (password >= 12 characters, scrypt-hashed); :class:`StaffExistsError` if taken."""
        raise NotImplementedError

    def set_staff_disabled(self, admin: Staff, username: str, disabled: bool) -> Staff:
        """Disable or re-enable an account (admin only); its sessions end."""
        raise NotImplementedError

    def list_staff(self, admin: Staff) -> list[Staff]:
        raise NotImplementedError

    def authenticate(self, username: str, password: str) -> Staff | None:
        """Check a password in constant time (a dummy hash for unknown names); audits success and failure."""
        raise NotImplementedError

    def start_session(self, staff: Staff) -> tuple[str, str]:
        """A new session: (token for the cookie, CSRF token for forms). Only the token's SHA-256 is stored."""
        raise NotImplementedError

    def session(self, token: str) -> StaffSession | None:
        """The live session for a cookie token, or None (unknown, expired, or the account was disabled)."""
        raise NotImplementedError

    def end_session(self, token: str) -> None:
        raise NotImplementedError

    # -- intake -------------------------------------------------------------------------------------------------

    def ingest(self) -> IngestResult:
        """Open cases from threshold events and relay reports not yet ingested (idempotent, checkpointed).

        Reports are opened with the relay's moderation key and re-verified (franking); each attachment of the
        reported message is fetched from the relay's blob store, decrypted with the key in the report, checked
        against the SHA-256 and stored sealed. A report that no longer verifies is recorded as an error and
        skipped (not retried forever)."""
        raise NotImplementedError

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
        raise NotImplementedError

    # -- review -------------------------------------------------------------------------------------------------

    def queue(self, staff: Staff, status: str | None = "open", *, limit: int = 200) -> list[CaseSummary]:
        """Cases by priority (1 first), then oldest first. ``status``: a CaseStatus value, ``"open"`` (every
        undecided state: open, awaiting_second, escalated) or None (all)."""
        raise NotImplementedError

    def case(self, staff: Staff, case_id: int) -> CaseView:
        raise NotImplementedError

    def preview(self, staff: Staff, case_id: int, evidence_id: str) -> bytes:
        """A small, blurred, greyscale PNG made server-side (no view is recorded; nothing identifiable shown).

        For non-image evidence a neutral placeholder PNG is returned."""
        raise NotImplementedError

    def reveal(self, staff: Staff, case_id: int, evidence_id: str) -> tuple[bytes, str]:
        """The evidence bytes and MIME type; records a file view (feeds ``fileViewedByEsp``) and an audit record."""
        raise NotImplementedError

    def decide(self, staff: Staff, case_id: int, decision: str, note: str = "") -> CaseSummary:
        """confirm / dismiss / escalate, under the two-person rule when configured; a dismissal is counted as a
        false positive for every technology that matched the case."""
        raise NotImplementedError

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
        raise NotImplementedError

    def release_notice(self, staff: Staff, action_id: int) -> ActionRecord:
        """Release a delayed or suppressed notice now (supervisor), e.g. when the authority lifts its request."""
        raise NotImplementedError

    def notices(self, user_id: str, *, now: datetime | None = None) -> list[Notice]:
        """What the user is told: released notices only, newest first."""
        raise NotImplementedError

    def is_blocked(self, user_id: str) -> str | None:
        """Why ``user_id`` may not send (``"banned"`` / ``"suspended until ..."``), or None. Used by the relay."""
        raise NotImplementedError

    def appeal(self, user_id: str, action_id: int, text: str) -> AppealRecord:
        """File an internal complaint against an action on the user's own account (open 6 months)."""
        raise NotImplementedError

    def appeals(self, staff: Staff, *, pending_only: bool = True) -> list[AppealRecord]:
        raise NotImplementedError

    def decide_appeal(self, staff: Staff, appeal_id: int, outcome: str, note: str = "") -> AppealRecord:
        """uphold / reverse; refused (:class:`SameReviewerError`) for whoever enforced or confirmed the case.
        Reversing lifts the action (the user can send again)."""
        raise NotImplementedError

    # -- retention ----------------------------------------------------------------------------------------------

    def legal_hold(self, case_id: int, reason: str, *, until: datetime | None = None, actor: str = "system") -> None:
        """Place (or extend) a legal hold: no purge or destruction while it lasts. The reporting helper calls
        this when a report is submitted (``until`` = report time + the preservation period)."""
        raise NotImplementedError

    def lift_legal_hold(self, staff: Staff, case_id: int, reason: str) -> None:
        raise NotImplementedError

    def purge(self, now: datetime | None = None) -> PurgeResult:
        """Delete the ciphertext of every evidence item past its jurisdiction's limit, unless held; audited."""
        raise NotImplementedError

    def destroy(self, staff: Staff, case_id: int, reason: str) -> int:
        """Destroy a case's evidence on request (admin); :class:`LegalHoldError` under hold. Returns items
        destroyed; metadata (hashes) and history stay."""
        raise NotImplementedError

    # -- audit --------------------------------------------------------------------------------------------------

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None) -> AuditRecord:
        """Append one record (e.g. ``export`` by the reporting helper) in its own transaction."""
        raise NotImplementedError

    def audit_verify(self) -> AuditVerification:
        raise NotImplementedError

    def audit_records(self, *, after: int = 0, limit: int = 1000) -> list[AuditRecord]:
        raise NotImplementedError

    # -- statistics ---------------------------------------------------------------------------------------------

    def year_stats(self, year: int) -> YearStats:
        """Figures for the transparency report (cases, matches/reviews/false positives per technology, actions,
        appeals, reversals, purges, the retention policy)."""
        raise NotImplementedError
