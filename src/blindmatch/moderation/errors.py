"""Errors of the moderation domain: each names one thing a caller did wrong or one rule that refused an action.

They are all :class:`ModerationError` so the service maps them to HTTP statuses in one place; the subclasses let
the console tell the reviewer exactly what happened ("the two-person rule needs a second reviewer") rather than a
generic failure.
"""

from __future__ import annotations

__all__ = [
    "AppealError",
    "AuditChainError",
    "AuthenticationError",
    "CaseNotFoundError",
    "EvidenceError",
    "EvidenceIntegrityError",
    "EvidenceNotFoundError",
    "EvidencePurgedError",
    "InvalidTransitionError",
    "LegalHoldError",
    "ModerationError",
    "ModerationInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "SameReviewerError",
    "StaffExistsError",
    "TwoPersonRuleError",
]


class ModerationError(Exception):
    """Base class of every moderation error."""


class ModerationInputError(ModerationError, ValueError):
    """An argument has a value the moderation rules cannot accept (unknown decision, empty reasons, ...)."""


class PermissionDeniedError(ModerationError):
    """The staff member's role does not allow this action."""


class AuthenticationError(ModerationError):
    """A staff account or session could not be used (disabled account, expired session)."""


class NotFoundError(ModerationError, LookupError):
    """Base class of lookups that found nothing."""


class CaseNotFoundError(NotFoundError):
    """No case with that id."""


class EvidenceNotFoundError(NotFoundError):
    """No evidence item with that id in that case."""


class StaffExistsError(ModerationError):
    """A staff account with that username already exists."""


class InvalidTransitionError(ModerationError):
    """The case's state does not allow that decision (e.g. deciding a case that is already closed)."""


class TwoPersonRuleError(ModerationError):
    """The two-person rule refused the action (the same reviewer tried to give the second confirmation)."""


class SameReviewerError(ModerationError):
    """An appeal must be decided by someone other than the staff member who decided or enforced."""


class AppealError(ModerationError):
    """The appeal cannot be filed or decided (window closed, already decided, not the user's action)."""


class LegalHoldError(ModerationError):
    """The evidence is under legal hold and cannot be destroyed."""


class EvidenceError(ModerationError):
    """Base class of evidence-sealing errors."""


class EvidenceIntegrityError(EvidenceError):
    """Sealed evidence does not open with its key and binding, or its plaintext does not match the SHA-256."""


class EvidencePurgedError(EvidenceError):
    """The evidence was purged or destroyed; only its metadata and hash remain."""


class AuditChainError(ModerationError):
    """The audit log or its head anchor cannot be read or written consistently."""
