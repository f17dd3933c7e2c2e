"""Staff roles and what each may do.

Three roles, least privilege first (18 U.S.C. §2258A as amended asks providers to minimise staff access to the
material): a *reviewer* works the queue; a *supervisor* also settles escalations, appeals and legal holds, and
exports reports; an *admin* also manages staff accounts, destroys evidence on request and runs purges. The table
is data, so the documentation and the console can print it.
"""

from __future__ import annotations

from enum import StrEnum

from blindmatch.moderation.errors import ModerationInputError, PermissionDeniedError

__all__ = ["PERMISSIONS", "Permission", "Role", "allowed", "parse_role", "require"]


class Role(StrEnum):
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW_QUEUE = "view_queue"
    REVEAL = "reveal"
    DECIDE = "decide"
    DECIDE_ESCALATED = "decide_escalated"
    ENFORCE = "enforce"
    DECIDE_APPEAL = "decide_appeal"
    LEGAL_HOLD = "legal_hold"
    EXPORT = "export"
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"
    DESTROY = "destroy"
    PURGE = "purge"
    CHECKPOINT = "checkpoint"  # sign the audit log's head for publication


_REVIEWER = frozenset({Permission.VIEW_QUEUE, Permission.REVEAL, Permission.DECIDE, Permission.ENFORCE})
_SUPERVISOR = _REVIEWER | {
    Permission.DECIDE_ESCALATED,
    Permission.DECIDE_APPEAL,
    Permission.LEGAL_HOLD,
    Permission.EXPORT,
    Permission.VIEW_AUDIT,
}
_ADMIN = _SUPERVISOR | {Permission.MANAGE_STAFF, Permission.DESTROY, Permission.PURGE, Permission.CHECKPOINT}

#: Role -> the permissions it grants.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.REVIEWER: _REVIEWER,
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.ADMIN: frozenset(_ADMIN),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ModerationInputError(f"unknown role {value!r}; expected one of {names}") from None


def allowed(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def require(role: Role, permission: Permission) -> None:
    """Raise :class:`PermissionDeniedError` unless ``role`` grants ``permission``."""
    if not allowed(role, permission):
        raise PermissionDeniedError(f"role {role.value!r} may not {permission.value.replace('_', ' ')}")
