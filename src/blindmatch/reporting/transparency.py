"""The yearly transparency report: detections, reviews, errors per technology, reports, actions, appeals.

Why these numbers: EU Regulation 2021/1232 art. 3(1)(g)(vii) asks providers for a yearly public report with, per
technology, the number of cases and the error (false-positive) rates; the DSA (art. 15 and 24) asks for the
actions taken and the complaints with their outcomes. The moderation package produces the records
(:class:`TransparencyRecords`) and this module does nothing but count them, so the arithmetic is pure and
testable: the same records always give the same figures, and the figures carry a Wilson 95 % interval because a
false-positive rate from 12 decisions is not the same claim as one from 12,000.

Counting rules (also printed in the report):

- a detection is counted in the year of ``detected_at``; its review outcome is counted with it (a cohort);
- the false-positive ratio of a technology is ``false positives / (confirmed + false positives)``: the share of
  detections a person decided that turned out to be wrong. Undecided and escalated detections are excluded and
  shown separately;
- reports are counted by ``reported_at``, actions by ``taken_at``, appeals by ``filed_at`` with their outcome as
  known when the report is produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from blindmatch.reporting.errors import TransparencyInputError
from blindmatch.reporting.model import Technology

__all__ = [
    "DEFAULT_RETENTION_POLICY",
    "ActionRecord",
    "AppealFigures",
    "AppealOutcome",
    "AppealRecord",
    "Decision",
    "DetectionRecord",
    "ReportRecord",
    "TechnologyFigures",
    "TransparencyFigures",
    "TransparencyRecords",
    "compute_figures",
    "figures_to_csv",
    "wilson_interval",
]

#: z for a two-sided 95 % interval.
Z95 = 1.959963984540054

DEFAULT_RETENTION_POLICY = (
    "Evidence of a case is stored encrypted. When a case is reported to an authority it is placed on legal hold and "
    "kept for 1 year after the report (18 U.S.C. §2258A(h) as amended by the REPORT Act). Data processed under EU "
    "Regulation 2021/1232 is kept no longer than 12 months unless a complaint, an authority's request or a legal "
    "hold requires it. Dismissed (false-positive) cases are purged when their retention period ends. Destruction on "
    "request is recorded in the audit log."
)

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/()-]{0,63}$")


class Decision(StrEnum):
    """A reviewer's final decision on a detection."""

    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"
    ESCALATED = "escalated"


class AppealOutcome(StrEnum):
    """Where an appeal (internal complaint) stands."""

    PENDING = "pending"
    UPHELD = "upheld"
    REVERSED = "reversed"


def _aware(what: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TransparencyInputError(f"{what} must be a timezone-aware datetime, got {value!r}")


def _label(what: str, value: str) -> None:
    # Labels end up in chart text and CSV cells: keep them to a plain, printable vocabulary.
    if not isinstance(value, str) or not _LABEL.match(value):
        raise TransparencyInputError(f"{what} {value!r} is not a plain label (letters, digits, ' ._/()-', ≤ 64)")


def _year(value: dt.datetime) -> int:
    return value.astimezone(dt.UTC).year


@dataclass(frozen=True)
class DetectionRecord:
    """One detection of one case by one technology, with its review outcome so far.

    ``reviewed``: a person opened the case. ``decision`` is ``None`` while undecided; a decision implies a review.
    A case detected by two technologies (e.g. PDQ and MD5) gives two records.
    """

    case_id: str
    technology: Technology
    detected_at: dt.datetime
    reviewed: bool = False
    decision: Decision | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.technology, Technology):
            raise TransparencyInputError(f"detection {self.case_id}: unknown technology {self.technology!r}")
        _aware(f"detection {self.case_id}: detected_at", self.detected_at)
        if self.decision is not None and not isinstance(self.decision, Decision):
            raise TransparencyInputError(f"detection {self.case_id}: unknown decision {self.decision!r}")
        if self.decision is not None and not self.reviewed:
            raise TransparencyInputError(f"detection {self.case_id}: decided ({self.decision}) but not reviewed")


@dataclass(frozen=True)
class ReportRecord:
    """A report of a case to a recipient (``cybertipline``, ``eu-centre``, ``uk-nca``...)."""

    case_id: str
    recipient: str
    reported_at: dt.datetime

    def __post_init__(self) -> None:
        _label(f"report {self.case_id}: recipient", self.recipient)
        _aware(f"report {self.case_id}: reported_at", self.reported_at)


@dataclass(frozen=True)
class ActionRecord:
    """An enforcement action (``suspend``, ``ban``, ``remove``...) taken on a case."""

    case_id: str
    action: str
    taken_at: dt.datetime

    def __post_init__(self) -> None:
        _label(f"action {self.case_id}: action", self.action)
        _aware(f"action {self.case_id}: taken_at", self.taken_at)


@dataclass(frozen=True)
class AppealRecord:
    """An appeal against an action; ``reversed`` means the action was lifted."""

    appeal_id: str
    case_id: str
    filed_at: dt.datetime
    outcome: AppealOutcome = AppealOutcome.PENDING
    decided_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        _aware(f"appeal {self.appeal_id}: filed_at", self.filed_at)
        if not isinstance(self.outcome, AppealOutcome):
            raise TransparencyInputError(f"appeal {self.appeal_id}: unknown outcome {self.outcome!r}")
        if self.decided_at is not None:
            _aware(f"appeal {self.appeal_id}: decided_at", self.decided_at)
            if self.decided_at < self.filed_at:
                raise TransparencyInputError(f"appeal {self.appeal_id}: decided before it was filed")
        if (self.outcome is AppealOutcome.PENDING) != (self.decided_at is None):
            raise TransparencyInputError(
                f"appeal {self.appeal_id}: outcome {self.outcome} does not fit decided_at {self.decided_at}"
            )


@dataclass(frozen=True)
class TransparencyRecords:
    """Everything the moderation side knows about one reporting year, as plain records.

    Records outside ``year`` may be included (the producer can pass a wider window); they are left out of the
    figures and counted in ``TransparencyFigures.excluded_records``.
    """

    year: int
    detections: tuple[DetectionRecord, ...] = ()
    reports: tuple[ReportRecord, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    appeals: tuple[AppealRecord, ...] = ()
    retention_policy: str = DEFAULT_RETENTION_POLICY
    service_name: str = "blindmatch"

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int) or not 2000 <= self.year <= 9999:
            raise TransparencyInputError(f"year must be an integer between 2000 and 9999, got {self.year!r}")
        for name in ("detections", "reports", "actions", "appeals"):
            if not isinstance(getattr(self, name), tuple):
                raise TransparencyInputError(f"{name} must be a tuple")
        if not self.retention_policy.strip():
            raise TransparencyInputError("retention_policy must not be empty: the report has to state it")


@dataclass(frozen=True)
class TechnologyFigures:
    """The counts for one technology (or ``all``)."""

    label: str
    detections: int
    reviewed: int
    confirmed: int
    false_positives: int
    escalated: int
    undecided: int
    fp_ratio: float | None
    fp_ci_low: float | None
    fp_ci_high: float | None


@dataclass(frozen=True)
class AppealFigures:
    filed: int
    upheld: int
    reversed: int
    pending: int
    reversal_ratio: float | None


@dataclass(frozen=True)
class TransparencyFigures:
    """The numbers of one year's report, ready to render."""

    year: int
    service_name: str
    technologies: tuple[TechnologyFigures, ...]
    total: TechnologyFigures
    reports_per_recipient: tuple[tuple[str, int], ...]
    actions: tuple[tuple[str, int], ...]
    appeals: AppealFigures
    retention_policy: str
    excluded_records: int = 0
    notes: tuple[str, ...] = field(default=())
    #: hex Ed25519 key that verifies the moderation audit log's signed checkpoints (published here once a year)
    audit_checkpoint_key: str | None = None


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; ``None`` when there is nothing to estimate from.

    Chosen over the normal approximation because it stays inside [0, 1] and is sensible at 0 or n successes, which
    is the usual case for false positives.
    """
    if n < 0 or successes < 0 or successes > n:
        raise TransparencyInputError(f"wilson_interval needs 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; the formula lands a rounding error away.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _tech_figures(label: str, records: Sequence[DetectionRecord]) -> TechnologyFigures:
    confirmed = sum(1 for r in records if r.decision is Decision.CONFIRMED)
    fps = sum(1 for r in records if r.decision is Decision.FALSE_POSITIVE)
    escalated = sum(1 for r in records if r.decision is Decision.ESCALATED)
    decided = confirmed + fps
    ci = wilson_interval(fps, decided)
    return TechnologyFigures(
        label=label,
        detections=len(records),
        reviewed=sum(1 for r in records if r.reviewed),
        confirmed=confirmed,
        false_positives=fps,
        escalated=escalated,
        undecided=sum(1 for r in records if r.decision is None),
        fp_ratio=fps / decided if decided else None,
        fp_ci_low=ci[0] if ci else None,
        fp_ci_high=ci[1] if ci else None,
    )


def _counts(labels: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(labels).items()))


def compute_figures(records: TransparencyRecords) -> TransparencyFigures:
    """Count one year's records into the report's figures (pure; every technology listed, even at zero)."""
    year = records.year
    detections = [r for r in records.detections if _year(r.detected_at) == year]
    reports = [r for r in records.reports if _year(r.reported_at) == year]
    actions = [r for r in records.actions if _year(r.taken_at) == year]
    appeals = [r for r in records.appeals if _year(r.filed_at) == year]
    excluded = (
        len(records.detections)
        + len(records.reports)
        + len(records.actions)
        + len(records.appeals)
        - len(detections)
        - len(reports)
        - len(actions)
        - len(appeals)
    )
    per_tech = tuple(_tech_figures(tech.value, [r for r in detections if r.technology is tech]) for tech in Technology)
    reversed_ = sum(1 for a in appeals if a.outcome is AppealOutcome.REVERSED)
    upheld = sum(1 for a in appeals if a.outcome is AppealOutcome.UPHELD)
    decided_appeals = reversed_ + upheld
    notes = []
    if excluded:
        notes.append(f"{excluded} record(s) dated outside {year} were left out.")
    return TransparencyFigures(
        year=year,
        service_name=records.service_name,
        technologies=per_tech,
        total=_tech_figures("all", detections),
        reports_per_recipient=_counts(r.recipient for r in reports),
        actions=_counts(a.action for a in actions),
        appeals=AppealFigures(
            filed=len(appeals),
            upheld=upheld,
            reversed=reversed_,
            pending=len(appeals) - decided_appeals,
            reversal_ratio=reversed_ / decided_appeals if decided_appeals else None,
        ),
        retention_policy=records.retention_policy,
        excluded_records=excluded,
        notes=tuple(notes),
    )


def _num(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def figures_to_csv(figures: TransparencyFigures) -> str:
    """The figures as one long CSV table: ``section,item,metric,value`` (one number per row, easy to diff)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "item", "metric", "value"])
    w.writerow(["report", "year", "year", figures.year])
    for tf in (*figures.technologies, figures.total):
        for metric in (
            "detections",
            "reviewed",
            "confirmed",
            "false_positives",
            "escalated",
            "undecided",
            "fp_ratio",
            "fp_ci_low",
            "fp_ci_high",
        ):
            w.writerow(["technology", tf.label, metric, _num(getattr(tf, metric))])
    for recipient, n in figures.reports_per_recipient:
        w.writerow(["reports", recipient, "count", n])
    for action, n in figures.actions:
        w.writerow(["actions", action, "count", n])
    a = figures.appeals
    for metric in ("filed", "upheld", "reversed", "pending", "reversal_ratio"):
        w.writerow(["appeals", "all", metric, _num(getattr(a, metric))])
    w.writerow(["report", "excluded_records", "count", figures.excluded_records])
    w.writerow(["retention", "policy", "text", figures.retention_policy])
    if figures.audit_checkpoint_key:
        w.writerow(["audit", "checkpoint_key", "ed25519", figures.audit_checkpoint_key])
    return buf.getvalue()
