"""Case states, the decision transition function, priorities and the two-person rule.

A case is opened by a detection (a verified threshold event, a franked user report or a server-side scan match)
and moves only through :func:`transition`, a pure function of the current state, the decision, who decides and
what was decided before. Keeping it pure means every rule (two-person, escalation only settled by a supervisor)
is tested without a database and cannot be bypassed by a different caller.

States::

    open ──confirm──▶ confirmed                 (two-person rule off)
    open ──confirm──▶ awaiting_second ──confirm (another reviewer)──▶ confirmed
                                      └─dismiss (another reviewer)──▶ escalated (they disagree)
    open ──dismiss──▶ dismissed
    open / awaiting_second ──escalate──▶ escalated ──confirm / dismiss (supervisor)──▶ confirmed / dismissed

``confirmed`` and ``dismissed`` are final for decisions; enforcement, reporting and retention act on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from blindmatch.moderation.errors import InvalidTransitionError, ModerationInputError, TwoPersonRuleError
from blindmatch.moderation.roles import Permission, Role, allowed

__all__ = [
    "CaseSource",
    "CaseStatus",
    "Decision",
    "PriorDecision",
    "Transition",
    "parse_decision",
    "priority_for",
    "technology_of",
    "transition",
]


class CaseSource(StrEnum):
    THRESHOLD = "threshold"  # private matching: an account crossed the voucher threshold
    USER_REPORT = "user_report"  # a franked report sent by a user
    SCAN = "scan"  # server-side scanning (``blindmatch scan`` or the matching API)


class CaseStatus(StrEnum):
    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


OPEN_STATES = frozenset({CaseStatus.OPEN, CaseStatus.AWAITING_SECOND, CaseStatus.ESCALATED})


class Decision(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    ESCALATE = "escalate"


def parse_decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise ModerationInputError(f"unknown decision {value!r}; expected confirm, dismiss or escalate") from None


@dataclass(frozen=True, slots=True)
class PriorDecision:
    """A decision already recorded on the case (who, what, in which state it was taken)."""

    staff: str
    decision: Decision
    from_status: CaseStatus


@dataclass(frozen=True, slots=True)
class Transition:
    """Where a decision takes the case; ``final`` when the case's verdict is settled (confirmed or dismissed)."""

    to_status: CaseStatus
    final: bool


def transition(
    status: CaseStatus,
    decision: Decision,
    *,
    staff: str,
    role: Role,
    prior: Sequence[PriorDecision] = (),
    two_person: bool = False,
) -> Transition:
    """The state a decision leads to, or an exception saying why it is not allowed."""
    if status not in OPEN_STATES:
        raise InvalidTransitionError(f"the case is {status.value}; no further review decision can be recorded")
    if status is CaseStatus.ESCALATED:
        if not allowed(role, Permission.DECIDE_ESCALATED):
            raise InvalidTransitionError("an escalated case is decided by a supervisor or admin")
        if decision is Decision.ESCALATE:
            raise InvalidTransitionError("the case is already escalated")
        return Transition(CaseStatus.CONFIRMED if decision is Decision.CONFIRM else CaseStatus.DISMISSED, True)
    if decision is Decision.ESCALATE:
        return Transition(CaseStatus.ESCALATED, False)
    if status is CaseStatus.AWAITING_SECOND:
        first = [p.staff for p in prior if p.from_status is CaseStatus.OPEN and p.decision is Decision.CONFIRM]
        if staff in first:
            raise TwoPersonRuleError("the two-person rule needs a second, different reviewer to confirm")
        if decision is Decision.CONFIRM:
            return Transition(CaseStatus.CONFIRMED, True)
        return Transition(CaseStatus.ESCALATED, False)  # the two reviewers disagree: a supervisor settles it
    if decision is Decision.CONFIRM:
        return Transition(CaseStatus.AWAITING_SECOND, False) if two_person else Transition(CaseStatus.CONFIRMED, True)
    return Transition(CaseStatus.DISMISSED, True)


#: Technologies (how a match was found), used for the per-technology error statistics of EU 2021/1232 art. 3.
def technology_of(source: CaseSource, signal_type: str) -> str:
    """``private-pdq`` for private matching, ``pdq``/``md5``/``sha256``/``vpdq`` for scans, ``user-report``."""
    if source is CaseSource.USER_REPORT and not signal_type:
        return "user-report"
    if source is CaseSource.THRESHOLD:
        return f"private-{signal_type or 'pdq'}"
    return signal_type or "unknown"


_EXACT = frozenset({"md5", "sha1", "sha256"})


def priority_for(source: CaseSource, signal_types: Iterable[str], distances: Iterable[int]) -> int:
    """Queue priority, 1 (most urgent) .. 4.

    An exact cryptographic-hash match of a listed file is the strongest evidence a known item is being shared;
    a threshold event means several distinct matches from one account; a close perceptual match comes next; a
    user report without any list match is reviewed last (it may be anything)."""
    types = set(signal_types)
    dists = list(distances)
    if types & _EXACT:
        return 1
    if source is CaseSource.THRESHOLD:
        return 2
    if dists and min(dists) <= 10:
        return 2
    if types:
        return 3
    return 4
