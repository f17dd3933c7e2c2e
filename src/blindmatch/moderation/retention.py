"""Retention: how long evidence may or must be kept, per jurisdiction, and the pure purge decision.

Two regimes pull in opposite directions and both are encoded:

* **US**, 18 U.S.C. §2258A(h) as amended by the REPORT Act (2024): after a CyberTipline report the provider must
  *preserve* the reported content for one year (and may keep it longer voluntarily to fight child exploitation).
  There is no statutory upper bound; we use a configurable cap for evidence of unreported cases.
* **EU**, Regulation (EU) 2021/1232 art. 3(1)(h)(i): content data and related personal data kept only as long as
  strictly necessary, and in any case *no longer than 12 months* from detection, unless a complaint or judicial
  proceedings are pending (the legal hold below).
* Dismissed cases (false positives) hold innocent people's material: they are purged soon (default 30 days,
  long enough for a supervisor to audit the dismissal).

A **legal hold** (placed automatically when a report to an authority is submitted, or by a supervisor for a
complaint or a court order) stops every purge until it expires or is lifted; a hold placed by a report expires
at report + the preservation period. :func:`purge_due` decides; the service does the deleting and the auditing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from blindmatch.moderation.errors import ModerationInputError

__all__ = [
    "POLICIES",
    "Jurisdiction",
    "LegalHold",
    "PurgeDecision",
    "RetentionFacts",
    "RetentionPolicy",
    "hold_active",
    "parse_jurisdiction",
    "purge_due",
]


class Jurisdiction(StrEnum):
    US = "US"
    EU = "EU"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    jurisdiction: Jurisdiction
    #: Hard cap from detection (None: no statutory cap; ``default_cap`` applies instead).
    max_retention: timedelta | None
    #: Keep at least this long after a report to an authority (implemented as a legal hold placed on report).
    preserve_after_report: timedelta
    #: Evidence of a case that was never reported, nor dismissed, is purged after this long.
    default_cap: timedelta
    #: Evidence of a dismissed case (false positive) is purged after this long.
    dismissed_retention: timedelta
    source: str

    def to_json(self) -> dict[str, object]:
        def days(d: timedelta | None) -> int | None:
            return None if d is None else d.days

        return {
            "jurisdiction": self.jurisdiction.value,
            "max_retention_days": days(self.max_retention),
            "preserve_after_report_days": days(self.preserve_after_report),
            "default_cap_days": days(self.default_cap),
            "dismissed_retention_days": days(self.dismissed_retention),
            "source": self.source,
        }


YEAR = timedelta(days=365)

POLICIES: dict[Jurisdiction, RetentionPolicy] = {
    Jurisdiction.US: RetentionPolicy(
        Jurisdiction.US,
        max_retention=None,
        preserve_after_report=YEAR,
        default_cap=YEAR,
        dismissed_retention=timedelta(days=30),
        source="18 U.S.C. §2258A(h) as amended by the REPORT Act (2024): preserve 1 year after a report",
    ),
    Jurisdiction.EU: RetentionPolicy(
        Jurisdiction.EU,
        max_retention=YEAR,
        preserve_after_report=YEAR,
        default_cap=YEAR,
        dismissed_retention=timedelta(days=30),
        source="Regulation (EU) 2021/1232 art. 3(1)(h)(i): at most 12 months unless proceedings are pending",
    ),
}


def parse_jurisdiction(value: str) -> Jurisdiction:
    try:
        return Jurisdiction(value.upper())
    except ValueError:
        raise ModerationInputError(f"unknown jurisdiction {value!r}; expected US or EU") from None


@dataclass(frozen=True, slots=True)
class LegalHold:
    reason: str
    placed_at: datetime
    until: datetime | None  # None: until lifted


def hold_active(hold: LegalHold | None, now: datetime) -> bool:
    return hold is not None and hold.placed_at <= now and (hold.until is None or now < hold.until)


@dataclass(frozen=True, slots=True)
class RetentionFacts:
    """What the purge decision needs to know about one evidence item's case."""

    captured_at: datetime
    dismissed: bool
    hold: LegalHold | None


@dataclass(frozen=True, slots=True)
class PurgeDecision:
    purge: bool
    reason: str


def purge_due(facts: RetentionFacts, policy: RetentionPolicy, now: datetime) -> PurgeDecision:
    """Whether one evidence item must go now, and why (the reason is written to the audit log)."""
    age = now - facts.captured_at
    if hold_active(facts.hold, now):
        assert facts.hold is not None
        return PurgeDecision(False, f"legal hold: {facts.hold.reason}")
    if facts.dismissed and age >= policy.dismissed_retention:
        return PurgeDecision(True, f"dismissed case older than {policy.dismissed_retention.days} days")
    if policy.max_retention is not None and age >= policy.max_retention:
        return PurgeDecision(
            True, f"{policy.jurisdiction.value} cap of {policy.max_retention.days} days reached ({policy.source})"
        )
    if age >= policy.default_cap:
        return PurgeDecision(True, f"retention period of {policy.default_cap.days} days ended")
    return PurgeDecision(False, "within retention period")
