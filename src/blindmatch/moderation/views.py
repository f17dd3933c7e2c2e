"""Plain, frozen records the moderation service hands out (never ORM rows): what the console, CLI and reporting
read. Keeping them here, in the domain package, lets ``reporting`` use them without importing the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blindmatch.moderation.cases import CaseSource, CaseStatus, Decision
from blindmatch.moderation.enforcement import ActionKind, AppealOutcome, NotifyMode, StatementOfReasons
from blindmatch.moderation.roles import Role

__all__ = [
    "ActionRecord",
    "AppealRecord",
    "CaseSummary",
    "CaseView",
    "DecisionRecord",
    "EvidenceInfo",
    "FileViewRecord",
    "HistoryEntry",
    "IngestResult",
    "MatchProvenance",
    "Notice",
    "PurgeResult",
    "Staff",
    "StaffSession",
    "TechnologyStats",
    "YearStats",
]


@dataclass(frozen=True, slots=True)
class Staff:
    id: int
    username: str
    role: Role
    disabled: bool


@dataclass(frozen=True, slots=True)
class StaffSession:
    staff: Staff
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MatchProvenance:
    """One list entry a case's item matched: which list, which entry, how close, found by which technology."""

    list_name: str
    entry_id: str
    signal_type: str
    value: str
    distance: int
    technology: str
    source_org: str = ""
    classification_scheme: str = ""
    classification_label: str = ""
    evidence_id: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceInfo:
    """Metadata of one evidence item; the bytes stay sealed until :meth:`ModerationService.reveal`."""

    id: str
    kind: str  # "media" (an image/video file), "message" (text of a reported message), "hash" (a match record)
    mime: str
    size: int
    sha256: str
    label: str  # file name or message id
    created_at: datetime
    available: bool  # False once purged or destroyed
    purged_reason: str | None = None
    #: Original hashes of the file (md5, sha1, sha256, pdq) when known: CyberTipline ``fileDetails`` wants them.
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    actor: str
    event: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FileViewRecord:
    evidence_id: str
    staff: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: int
    staff: str
    decision: Decision
    from_status: CaseStatus
    to_status: CaseStatus
    note: str
    at: datetime
    technologies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    case_id: int | None
    user_id: str
    kind: ActionKind
    staff: str
    statement: StatementOfReasons
    notify: NotifyMode
    notice_release_at: datetime | None
    created_at: datetime
    lifted_at: datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class AppealRecord:
    id: int
    action_id: int
    user_id: str
    text: str
    created_at: datetime
    outcome: AppealOutcome | None
    decided_by: str | None
    decided_at: datetime | None
    note: str
    #: The case the appealed action was taken on (None for an action not tied to a case), so staff deciding the
    #: appeal can open the evidence and decisions behind it.
    case_id: int | None = None
    #: The statement of reasons the user was given for the action: what the appeal argues against.
    statement: StatementOfReasons | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """What a user is shown about an action against their account (only once released)."""

    action_id: int
    statement: StatementOfReasons
    released_at: datetime
    appeal_until: datetime
    appeals: tuple[AppealRecord, ...]
    active: bool


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: int
    source: CaseSource
    status: CaseStatus
    priority: int
    subject_user: str
    created_at: datetime
    technologies: tuple[str, ...]
    evidence_count: int
    legal_hold: bool


@dataclass(frozen=True, slots=True)
class CaseView:
    summary: CaseSummary
    subject_device: str
    jurisdiction: str
    evidence: tuple[EvidenceInfo, ...]
    matches: tuple[MatchProvenance, ...]
    history: tuple[HistoryEntry, ...]
    views: tuple[FileViewRecord, ...]
    decisions: tuple[DecisionRecord, ...]
    actions: tuple[ActionRecord, ...]
    legal_hold_reason: str | None
    legal_hold_until: datetime | None
    #: Free-form facts of the source (threshold event counters, report reason, reporter): shown to reviewers.
    source_details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IngestResult:
    case_ids: tuple[int, ...]
    threshold_events: int
    relay_reports: int
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PurgeResult:
    purged: tuple[str, ...]  # evidence ids
    kept_on_hold: int
    checked: int


@dataclass(frozen=True, slots=True)
class TechnologyStats:
    technology: str
    matches: int  # cases opened with at least one match by this technology
    reviewed: int  # of those, cases with a final decision
    confirmed: int
    dismissed: int  # false positives

    @property
    def false_positive_ratio(self) -> float | None:
        return None if self.reviewed == 0 else self.dismissed / self.reviewed


@dataclass(frozen=True, slots=True)
class YearStats:
    """Moderation figures for one calendar year (UTC), input of the transparency report."""

    year: int
    cases_by_source: Mapping[str, int]
    technologies: tuple[TechnologyStats, ...]
    actions_by_kind: Mapping[str, int]
    notices_delayed: int
    notices_suppressed: int
    appeals: int
    appeals_decided: int
    reversals: int
    evidence_purged: int
    evidence_destroyed: int
    retention_policy: Mapping[str, Any]
    #: Reports submitted to authorities in the year, per recipient (``cybertipline``: from ``cybertip_reports``).
    reports_by_recipient: Mapping[str, int] = field(default_factory=dict)
