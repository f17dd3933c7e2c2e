"""Enforcement actions, the statement of reasons a user receives, when it is released, and appeal rules.

* DSA art. 17 requires a *statement of reasons* for a suspension: the facts, the ground relied on, whether
  automated means were used to detect and to decide, and how to seek redress. :class:`StatementOfReasons` holds
  exactly those, and :func:`statement_for` refuses to build one with a blank field.
* An authority may ask the provider not to tip off a suspect. The notice is then *delayed* until a date the
  authority gives, or *suppressed* (never released automatically; staff release it later). The action itself
  still takes effect at once: a banned account stops sending even while the user is not told why.
* DSA art. 20: the internal complaint-handling system must be open for at least six months after the decision,
  and complaints must not be decided solely by automated means; we also require a different person than the one
  who enforced (or confirmed the case) so no one reviews their own decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from blindmatch.moderation.errors import AppealError, ModerationInputError, SameReviewerError

__all__ = [
    "APPEAL_WINDOW",
    "ActionKind",
    "AppealOutcome",
    "NotifyMode",
    "StatementOfReasons",
    "appeal_open",
    "check_appeal_decider",
    "check_appeal_text",
    "notice_release_at",
    "notice_visible",
    "parse_action",
    "parse_notify",
    "parse_outcome",
    "statement_for",
]

#: DSA art. 20(1): complaints can be lodged for at least six months after the decision. 183 days covers any six
#: calendar months.
APPEAL_WINDOW = timedelta(days=183)
MAX_TEXT = 5000


_E = TypeVar("_E", bound=StrEnum)


class ActionKind(StrEnum):
    SUSPEND = "suspend"  # temporary: sending is blocked until ``until``
    BAN = "ban"  # until reversed on appeal


class NotifyMode(StrEnum):
    NOW = "now"
    DELAY = "delay"  # an authority asked for a delay: released at ``delay_until``
    SUPPRESS = "suppress"  # an authority asked not to tip off the suspect: not released until staff release it


class AppealOutcome(StrEnum):
    UPHOLD = "uphold"
    REVERSE = "reverse"


def _parse(kind: type[_E], value: str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise ModerationInputError(f"unknown {what} {value!r}; expected one of {names}") from None


def parse_action(value: str) -> ActionKind:
    return _parse(ActionKind, value, "action")


def parse_notify(value: str) -> NotifyMode:
    return _parse(NotifyMode, value, "notification mode")


def parse_outcome(value: str) -> AppealOutcome:
    return _parse(AppealOutcome, value, "appeal outcome")


@dataclass(frozen=True, slots=True)
class StatementOfReasons:
    """What the user is told (DSA art. 17(3) a-f, as far as a messenger's account restriction needs)."""

    action: ActionKind
    facts: str  # the facts and circumstances relied on
    grounds: str  # the legal or contractual ground (e.g. the terms of service clause)
    automated_detection: bool  # were automated means used to detect the content?
    automated_decision: bool  # was the decision taken by automated means? (always False here: a human decides)
    redress: str  # how to appeal, and other routes (out-of-court settlement, courts)
    until: datetime | None = None  # end of a suspension; None for a ban

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "facts": self.facts,
            "grounds": self.grounds,
            "automated_detection": self.automated_detection,
            "automated_decision": self.automated_decision,
            "redress": self.redress,
            "until": self.until.isoformat() if self.until else None,
        }


DEFAULT_REDRESS = (
    "You can appeal this decision through the app within six months; a different member of staff will review it. "
    "You may also use an out-of-court dispute settlement body or the courts."
)


def statement_for(
    action: ActionKind,
    *,
    facts: str,
    grounds: str,
    automated_detection: bool,
    until: datetime | None = None,
    redress: str = DEFAULT_REDRESS,
) -> StatementOfReasons:
    """A statement of reasons, refusing blank or over-long fields and a suspension without an end."""
    for name, text in (("facts", facts), ("grounds", grounds), ("redress", redress)):
        if not text.strip():
            raise ModerationInputError(f"the statement of reasons needs non-empty {name}")
        if len(text) > MAX_TEXT:
            raise ModerationInputError(f"the statement's {name} is longer than {MAX_TEXT} characters")
    if action is ActionKind.SUSPEND and until is None:
        raise ModerationInputError("a suspension needs an end date (until); use ban for an open-ended action")
    if action is ActionKind.BAN and until is not None:
        raise ModerationInputError("a ban has no end date; use suspend with until")
    return StatementOfReasons(action, facts.strip(), grounds.strip(), automated_detection, False, redress, until)


def notice_release_at(mode: NotifyMode, now: datetime, delay_until: datetime | None) -> datetime | None:
    """When the user's notice becomes visible; None means suppressed (until staff release it)."""
    if mode is NotifyMode.NOW:
        if delay_until is not None:
            raise ModerationInputError("delay_until is only meaningful with notify='delay'")
        return now
    if mode is NotifyMode.DELAY:
        if delay_until is None or delay_until <= now:
            raise ModerationInputError("notify='delay' needs a delay_until in the future")
        return delay_until
    if delay_until is not None:
        raise ModerationInputError("a suppressed notice has no release date (release it explicitly later)")
    return None


def notice_visible(release_at: datetime | None, now: datetime) -> bool:
    return release_at is not None and release_at <= now


def appeal_open(action_at: datetime, now: datetime, *, window: timedelta = APPEAL_WINDOW) -> bool:
    return action_at <= now <= action_at + window


def check_appeal_decider(decider: str, involved: Iterable[str]) -> None:
    """Refuse an appeal decision by anyone who enforced the action or confirmed the case."""
    if decider in set(involved):
        raise SameReviewerError(
            f"{decider!r} took part in the decision under appeal; a different staff member must decide the appeal"
        )


def check_appeal_text(text: str) -> str:
    if not text.strip():
        raise AppealError("an appeal needs a text saying why the decision is wrong")
    if len(text) > MAX_TEXT:
        raise AppealError(f"an appeal is at most {MAX_TEXT} characters")
    return text.strip()
