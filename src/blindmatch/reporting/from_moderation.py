"""Adapters from the moderation package's records to the reporting inputs.

Why a separate module: ``reporting`` must not import the service, but the moderation *domain* records
(:mod:`blindmatch.moderation.views`) are plain frozen dataclasses, so the mapping can live here, be pure, and be
tested without a database. Two mappings:

- :func:`case_report_from_view`: a reviewed case (``CaseView``) → :class:`CaseReport` for any recipient. Evidence
  files become report files with their original hashes; a file counts as viewed by the provider when a reveal of
  it was recorded; matches are attached to the file they were found in; a ban becomes ``accountPermanentlyDisabled``,
  a suspension ``accountTemporarilyDisabled``; ``human_confirmed`` is true when a reviewer confirmed the case.
- :func:`figures_from_year_stats`: the moderation service's aggregated ``YearStats`` → :class:`TransparencyFigures`
  (same Wilson intervals as :func:`compute_figures`), with the reports per recipient supplied by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

from blindmatch.moderation.cases import Decision as ModerationDecision
from blindmatch.moderation.enforcement import ActionKind, NotifyMode
from blindmatch.moderation.views import ActionRecord as ModerationAction
from blindmatch.moderation.views import CaseView, YearStats
from blindmatch.reporting.errors import InvalidReportInputError
from blindmatch.reporting.model import (
    AccountDisabled,
    CaseReport,
    ChatDetails,
    Incident,
    IncidentType,
    MatchDetails,
    ReportedUser,
    Reporter,
    ReportFile,
    Technology,
)
from blindmatch.reporting.transparency import (
    AppealFigures,
    TechnologyFigures,
    TransparencyFigures,
    wilson_interval,
)

__all__ = ["case_report_from_view", "figures_from_year_stats", "technology_from_label"]

_ALIASES = {"private-pdq": Technology.PRIVATE_THRESHOLD, "private_threshold": Technology.PRIVATE_THRESHOLD}


def technology_from_label(label: str) -> Technology:
    """Map a moderation technology label (``pdq``, ``private-pdq``, ``user-report``...) to :class:`Technology`."""
    key = label.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("private-"):
        return Technology.PRIVATE_THRESHOLD
    try:
        return Technology(key.replace("_", "-"))
    except ValueError:
        raise InvalidReportInputError("technology", f"unknown technology label {label!r}") from None


def _account_state(
    actions: tuple[ModerationAction, ...],
) -> tuple[AccountDisabled | None, AccountDisabled | None]:
    temporary: AccountDisabled | None = None
    permanent: AccountDisabled | None = None
    for a in sorted(actions, key=lambda a: a.created_at):
        notified = a.notify is NotifyMode.NOW
        state = AccountDisabled(
            disabled_at=a.created_at,
            user_notified=notified,
            user_notified_at=a.created_at if notified else None,
            reenabled_at=(a.lifted_at or a.statement.until) if a.kind is ActionKind.SUSPEND else None,
        )
        if a.kind is ActionKind.BAN and a.active:
            permanent = state
        elif a.kind is ActionKind.SUSPEND:
            temporary = state
    return temporary, permanent


def case_report_from_view(
    view: CaseView,
    *,
    reporter: Reporter,
    chat_client: str,
    esp_service: str | None = None,
    incident_type: IncidentType = IncidentType.CHILD_PORNOGRAPHY,
) -> CaseReport:
    """Build the report input of a reviewed case. Media evidence must carry md5/sha1/sha256 in ``hashes``."""
    summary = view.summary
    viewed = {v.evidence_id for v in view.views}
    files: list[ReportFile] = []
    attached: set[int] = set()
    for ev in view.evidence:
        if ev.kind != "media":
            continue
        hashes = {k.lower(): v for k, v in ev.hashes.items()}
        missing = [h for h in ("md5", "sha1") if h not in hashes]
        if missing:
            raise InvalidReportInputError(f"evidence {ev.id}", f"has no {' or '.join(missing)} hash recorded")
        matches = []
        for i, m in enumerate(view.matches):
            if m.evidence_id == ev.id:
                attached.add(i)
                matches.append(
                    MatchDetails(
                        technology_from_label(m.technology),
                        list_name=m.list_name or None,
                        entry_id=m.entry_id or None,
                        distance=m.distance,
                        source_organisation=m.source_org or None,
                    )
                )
        files.append(
            ReportFile(
                file_name=ev.label or f"evidence-{ev.id}",
                md5=hashes["md5"],
                sha1=hashes["sha1"],
                sha256=hashes.get("sha256", ev.sha256),
                pdq=hashes.get("pdq"),
                viewed_by_esp=ev.id in viewed,
                uploaded_at=ev.created_at,
                matches=tuple(matches),
            )
        )
    loose = [m for i, m in enumerate(view.matches) if i not in attached]
    info = None
    if loose:
        info = "Matches not tied to an uploaded file: " + "; ".join(
            f"{m.technology} list {m.list_name} entry {m.entry_id} distance {m.distance}" for m in loose
        )
    temporary, permanent = _account_state(view.actions)
    return CaseReport(
        case_id=str(summary.id),
        reporter=reporter,
        incident=Incident(
            incident_type,
            summary.created_at,
            description=f"Detected by {', '.join(summary.technologies) or 'a user report'}; case opened then.",
        ),
        reported_user=ReportedUser(
            summary.subject_user,
            esp_service=esp_service,
            temporarily_disabled=temporary,
            permanently_disabled=permanent,
        ),
        chat=ChatDetails(chat_client),
        files=tuple(files),
        human_confirmed=any(d.decision is ModerationDecision.CONFIRM for d in view.decisions),
        additional_info=info,
    )


def _retention_text(policy: Mapping[str, object]) -> str:
    if not policy:
        return "No retention policy was recorded."
    parts = [f"{k.replace('_', ' ')}: {v}" for k, v in policy.items() if v is not None]
    return "; ".join(parts) + "."


def _figures(label: str, matches: int, reviewed: int, confirmed: int, dismissed: int) -> TechnologyFigures:
    decided = confirmed + dismissed
    ci = wilson_interval(dismissed, decided)
    return TechnologyFigures(
        label=label,
        detections=matches,
        reviewed=reviewed,
        confirmed=confirmed,
        false_positives=dismissed,
        escalated=0,
        undecided=matches - decided,
        fp_ratio=dismissed / decided if decided else None,
        fp_ci_low=ci[0] if ci else None,
        fp_ci_high=ci[1] if ci else None,
    )


def figures_from_year_stats(
    stats: YearStats,
    reports_per_recipient: Mapping[str, int] | None = None,
    service_name: str = "blindmatch",
    audit_checkpoint_key: str | None = None,
) -> TransparencyFigures:
    """Transparency figures from the moderation service's per-year counts (and, to publish it, the hex key that
    verifies the audit log's signed checkpoints).

    ``YearStats`` counts cases per technology with their final decision; it does not separate escalated from
    undecided cases, so both appear as ``undecided`` (said in the report's notes).
    """
    counts: dict[str, list[int]] = {}  # label -> [matches, reviewed, confirmed, dismissed]
    for t in stats.technologies:
        try:
            label = technology_from_label(t.technology).value
        except InvalidReportInputError:
            label = t.technology  # shown under its own name rather than dropped or guessed
        c = counts.setdefault(label, [0, 0, 0, 0])
        for i, v in enumerate((t.matches, t.reviewed, t.confirmed, t.dismissed)):
            c[i] += v
    known = [tech.value for tech in Technology]
    labels = known + sorted(set(counts) - set(known))
    rows = tuple(_figures(label, *counts.get(label, [0, 0, 0, 0])) for label in labels)
    total = _figures("all", *(sum(c[i] for c in counts.values()) for i in range(4)))
    reversed_ = stats.reversals
    upheld = stats.appeals_decided - reversed_
    notes = (
        "Per technology, a case counts once for each technology that detected it; escalated cases are counted as "
        "undecided.",
        f"Statements of reasons delayed at an authority's request: {stats.notices_delayed}; "
        f"withheld: {stats.notices_suppressed}.",
        f"Evidence purged at the end of its retention period: {stats.evidence_purged}; "
        f"destroyed on request: {stats.evidence_destroyed}.",
        "Cases by source: " + (", ".join(f"{k} {v}" for k, v in stats.cases_by_source.items()) or "none") + ".",
    )
    return TransparencyFigures(
        year=stats.year,
        service_name=service_name,
        technologies=rows,
        total=total,
        reports_per_recipient=tuple(sorted((reports_per_recipient or {}).items())),
        actions=tuple(sorted(stats.actions_by_kind.items())),
        appeals=AppealFigures(
            filed=stats.appeals,
            upheld=upheld,
            reversed=reversed_,
            pending=stats.appeals - stats.appeals_decided,
            reversal_ratio=reversed_ / stats.appeals_decided if stats.appeals_decided else None,
        ),
        retention_policy=_retention_text(stats.retention_policy),
        notes=notes,
        audit_checkpoint_key=audit_checkpoint_key,
    )
