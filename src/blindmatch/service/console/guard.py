"""Per-request guards: who is logged in, is the CSRF token right, may this role do this; and how refusals look.

Refusals are raised as exceptions (the console's own or the facade's :class:`ModerationError` classes) and turned
into pages in one place, :class:`ConsoleRoute`, so that a route cannot forget a check's response and so that the
JSON API's error handlers (which map the same moderation errors to JSON) are left alone: the console's handling
is scoped to its own routes rather than registered app-wide.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from blindmatch.moderation.errors import (
    AppealError,
    AuthenticationError,
    EvidencePurgedError,
    InvalidTransitionError,
    LegalHoldError,
    ModerationError,
    ModerationInputError,
    NotFoundError,
    PermissionDeniedError,
    SameReviewerError,
    StaffExistsError,
    TwoPersonRuleError,
)
from blindmatch.moderation.roles import Permission, allowed
from blindmatch.moderation.views import StaffSession
from blindmatch.service.console.errors import (
    ConsoleError,
    ExportError,
    ExportUnavailableError,
    FilingFailedError,
    FilingStateError,
)
from blindmatch.service.console.runtime import get_moderation, get_runtime
from blindmatch.service.console.security import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    CsrfError,
    LoginRateLimitedError,
    NotLoggedInError,
    check_csrf,
    security_headers,
)
from blindmatch.service.console.views import render

__all__ = [
    "LOGIN_PATH",
    "ConsoleRoute",
    "CsrfSession",
    "CurrentSession",
    "LoggedIn",
    "error_status",
    "is_htmx",
    "require_permission",
]

log = logging.getLogger(__name__)
LOGIN_PATH = "/console/login"

#: Moderation refusals and the HTTP status the console answers with.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (PermissionDeniedError, 403),
    (CsrfError, 403),
    (NotFoundError, 404),
    (EvidencePurgedError, 410),
    (InvalidTransitionError, 409),
    (TwoPersonRuleError, 409),
    (SameReviewerError, 409),
    (LegalHoldError, 409),
    (StaffExistsError, 409),
    (AppealError, 400),
    (ModerationInputError, 400),
    (LoginRateLimitedError, 429),
    (ExportUnavailableError, 501),
    (ExportError, 422),
    (FilingStateError, 409),
    (FilingFailedError, 502),
)


def error_status(exc: Exception) -> int:
    """The status for a refusal; 500 for a moderation error the table does not name (a bug to report)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """The request's staff session and the cookie token it came from (needed to end it at logout)."""

    token: str
    session: StaffSession

    def can(self, permission: Permission | str) -> bool:
        return allowed(self.session.staff.role, Permission(permission))


def to_login(request: Request) -> Response:
    """Send the browser to the login page; htmx requests get ``HX-Redirect`` (a 303 would be swapped in)."""
    headers = security_headers()
    if is_htmx(request):
        headers["HX-Redirect"] = LOGIN_PATH
        return Response(status_code=204, headers=headers)
    return RedirectResponse(LOGIN_PATH, status_code=303, headers=headers)


def error_page(request: Request, exc: Exception, status: int) -> Response:
    headers = {"HX-Push-Url": "false"}
    if isinstance(exc, LoginRateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    return render(
        "error.html",
        {"me": None, "csrf": None, "status": status, "error": type(exc).__name__, "message": str(exc)},
        status_code=status,
        headers=headers,
    )


class ConsoleRoute(APIRoute):
    """An API route whose refusals become console pages (login redirect, 403/404/409 page) instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original: Callable[[Request], Awaitable[Response]] = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except (NotLoggedInError, AuthenticationError):
                return to_login(request)
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                bad = ModerationInputError(f"missing or invalid form fields: {fields}")
                return error_page(request, bad, 400)
            except (ModerationError, ConsoleError) as exc:
                status = error_status(exc)
                if status >= 500:
                    log.error("console: %s: %s", type(exc).__name__, exc)
                return error_page(request, exc, status)

        return handler


def current_session(request: Request) -> LoggedIn:
    """The logged-in staff member, or :class:`NotLoggedInError` (cookie missing, unknown, expired, disabled)."""
    token = request.cookies.get(get_runtime(request).config.session_cookie)
    if not token:
        raise NotLoggedInError("not logged in")
    session = get_moderation(request).session(token)
    if session is None:
        raise NotLoggedInError("the session is unknown or has expired")
    return LoggedIn(token, session)


CurrentSession = Annotated[LoggedIn, Depends(current_session)]


async def csrf_session(request: Request, me: CurrentSession) -> LoggedIn:
    """The session, after checking the POST's CSRF token (header for htmx, else the form field)."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        value = (await request.form()).get(CSRF_FORM_FIELD)
        presented = value if isinstance(value, str) else None
    check_csrf(me.session.csrf_token, presented)
    return me


CsrfSession = Annotated[LoggedIn, Depends(csrf_session)]


def require_permission(permission: Permission) -> Callable[[LoggedIn], LoggedIn]:
    """A dependency refusing (403) staff whose role lacks ``permission``; the facade checks again."""

    def check(me: CurrentSession) -> LoggedIn:
        if not me.can(permission):
            raise PermissionDeniedError(
                f"your role ({me.session.staff.role.value}) may not {permission.value.replace('_', ' ')}"
            )
        return me

    return check
