"""Small helpers every console route module shares: the facade dependency, redirects, flash messages, the early
role check and the template context. Kept apart from the routes so that each route module (review, case
operations, administration) stays a list of thin handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from blindmatch.moderation.errors import ModerationInputError, PermissionDeniedError
from blindmatch.moderation.roles import Permission
from blindmatch.service.console.guard import LoggedIn
from blindmatch.service.console.runtime import get_moderation
from blindmatch.service.console.security import security_headers
from blindmatch.service.console.views import FLASH
from blindmatch.service.moderation import ModerationService

__all__ = ["Moderation", "flash", "page", "parse_when", "require", "see_other"]

Moderation = Annotated[ModerationService, Depends(get_moderation)]


def see_other(url: str) -> RedirectResponse:
    """POST-redirect-GET with the console's headers."""
    return RedirectResponse(url, status_code=303, headers=security_headers())


def flash(request: Request) -> str | None:
    """The confirmation named by ``?done=``, from the fixed table only (a crafted link cannot choose the words)."""
    return FLASH.get(request.query_params.get("done", ""))


def require(me: LoggedIn, permission: Permission) -> None:
    """The console's own role check before calling the facade (which checks again): a clear 403 page early."""
    if not me.can(permission):
        raise PermissionDeniedError(
            f"your role ({me.session.staff.role.value}) may not {permission.value.replace('_', ' ')}"
        )


def page(me: LoggedIn, **context: object) -> dict[str, object]:
    """The context every logged-in page gets: who is logged in, their CSRF token, the permissions, the time."""
    return {"me": me, "csrf": me.session.csrf_token, "P": Permission, "now": datetime.now(UTC), **context}


def parse_when(value: str, field: str) -> datetime | None:
    """A ``datetime-local`` form value (no zone: the console shows and takes UTC) or None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ModerationInputError(f"{field} must be a date and time (YYYY-MM-DDTHH:MM), got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
