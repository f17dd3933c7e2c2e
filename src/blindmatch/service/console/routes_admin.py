"""Admin pages: staff accounts, the retention purge run on demand, and the yearly transparency report.

Staff: list (never a password hash: the facade's ``Staff`` record has none), create with a password the admin
sets or one generated and shown once (on the response page only: not in a URL, not stored, not logged), disable
and re-enable (the facade ends a disabled account's sessions at once and refuses disabling oneself).

Purge: the same ``purge`` the daily job runs, started by an admin, with its result on the page.

Transparency: the figures of :meth:`ModerationService.year_stats` mapped by the reporting package
(:func:`~blindmatch.reporting.from_moderation.figures_from_year_stats`), shown as console tables, and the
reporting package's self-contained HTML (:func:`~blindmatch.reporting.commands.render_transparency_html`, with
its charts) and CSV as downloads. The HTML is a download rather than a console page because its inline styles and
SVG charts would need a weaker Content-Security-Policy than the console's.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from blindmatch.moderation.checkpoint import public_key_hex
from blindmatch.moderation.errors import ModerationError, ModerationInputError, PermissionDeniedError
from blindmatch.moderation.roles import Permission, Role
from blindmatch.reporting.commands import render_transparency_html
from blindmatch.reporting.from_moderation import figures_from_year_stats
from blindmatch.reporting.transparency import TransparencyFigures, figures_to_csv
from blindmatch.service.console.guard import (
    ConsoleRoute,
    CsrfSession,
    CurrentSession,
    LoggedIn,
    error_status,
    require_permission,
)
from blindmatch.service.console.pages import Moderation, flash, page, require, see_other
from blindmatch.service.console.security import security_headers
from blindmatch.service.console.views import render
from blindmatch.service.moderation import ModerationService

__all__ = ["admin_router", "generated_password"]

admin_router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

StaffAdmin = Annotated[LoggedIn, Depends(require_permission(Permission.MANAGE_STAFF))]
_ROLES = tuple(r.value for r in Role)


def generated_password() -> str:
    """20 URL-safe characters (120 bits): above the facade's 12-character minimum, easy to copy once."""
    return secrets.token_urlsafe(15)


# ------------------------------------------------------------------------------------------------- staff


def _staff_page(
    request: Request,
    me: LoggedIn,
    moderation: ModerationService,
    *,
    created: tuple[str, str, str | None] | None = None,
    error: Exception | None = None,
) -> Response:
    accounts = moderation.list_staff(me.session.staff)
    return render(
        "staff.html",
        page(
            me,
            accounts=accounts,
            roles=_ROLES,
            created=created,
            flash=flash(request),
            error=None if error is None else f"{type(error).__name__}: {error}",
        ),
        status_code=200 if error is None else error_status(error),
        headers={"HX-Push-Url": "false"} if error is not None or created is not None else None,
    )


@admin_router.get("/staff")
def staff(request: Request, me: StaffAdmin, moderation: Moderation) -> Response:
    return _staff_page(request, me, moderation)


@admin_router.post("/staff")
def create_staff(
    request: Request,
    me: CsrfSession,
    moderation: Moderation,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=20)],
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Create an account. An empty password field means: generate one and show it on this response, once."""
    require(me, Permission.MANAGE_STAFF)
    chosen = password or generated_password()
    try:
        account = moderation.create_staff(username, chosen, role, by=me.session.staff)
    except ModerationError as exc:
        return _staff_page(request, me, moderation, error=exc)
    shown = None if password else chosen
    return _staff_page(request, me, moderation, created=(account.username, account.role.value, shown))


@admin_router.post("/staff/{username}/disable")
def disable_staff(request: Request, username: str, me: CsrfSession, moderation: Moderation) -> Response:
    return _set_disabled(request, me, moderation, username, disabled=True)


@admin_router.post("/staff/{username}/enable")
def enable_staff(request: Request, username: str, me: CsrfSession, moderation: Moderation) -> Response:
    return _set_disabled(request, me, moderation, username, disabled=False)


def _set_disabled(
    request: Request, me: LoggedIn, moderation: ModerationService, username: str, *, disabled: bool
) -> Response:
    require(me, Permission.MANAGE_STAFF)
    try:
        moderation.set_staff_disabled(me.session.staff, username, disabled)
    except ModerationError as exc:
        return _staff_page(request, me, moderation, error=exc)
    return see_other("/console/staff?done=" + ("staff_disabled" if disabled else "staff_enabled"))


# ------------------------------------------------------------------------------------------------- purge


@admin_router.get("/purge")
def purge_form(me: Annotated[LoggedIn, Depends(require_permission(Permission.PURGE))]) -> Response:
    return render("purge.html", page(me, result=None))


@admin_router.post("/purge")
def purge_now(me: CsrfSession, moderation: Moderation) -> Response:
    """Run the retention purge now; the result is shown on the response (nothing to redirect to)."""
    require(me, Permission.PURGE)
    result = moderation.purge(staff=me.session.staff)
    return render("purge.html", page(me, result=result), headers={"HX-Push-Url": "false"})


# ------------------------------------------------------------------------------------------------- transparency


def _current_admin(me: CurrentSession) -> LoggedIn:
    """Producing the yearly report is an admin's job (the figures are published; drafts are not)."""
    if me.session.staff.role is not Role.ADMIN:
        raise PermissionDeniedError(
            f"your role ({me.session.staff.role.value}) may not produce the transparency report (admins only)"
        )
    return me


Admin = Annotated[LoggedIn, Depends(_current_admin)]


def _year(value: int | None) -> int:
    year = datetime.now(UTC).year if value is None else value
    if not 1970 <= year <= 9999:
        raise ModerationInputError(f"year must be a calendar year (1970-9999), got {year}")
    return year


def _figures(moderation: ModerationService, year: int) -> TransparencyFigures:
    stats = moderation.year_stats(year)
    key = public_key_hex(moderation.audit_checkpoint_key())
    return figures_from_year_stats(stats, stats.reports_by_recipient, audit_checkpoint_key=key)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    headers = security_headers()
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(content, media_type=media_type, headers=headers)


@admin_router.get("/transparency")
def transparency(me: Admin, moderation: Moderation, year: int | None = None) -> Response:
    y = _year(year)
    figures = _figures(moderation, y)
    return render("transparency.html", page(me, f=figures, year=y))


@admin_router.get("/transparency/report.html")
def transparency_html(me: Admin, moderation: Moderation, year: int | None = None) -> Response:
    y = _year(year)
    html = render_transparency_html(_figures(moderation, y))
    return _download(html.encode("utf-8"), "text/html; charset=utf-8", f"transparency-{y}.html")


@admin_router.get("/transparency/report.csv")
def transparency_csv(me: Admin, moderation: Moderation, year: int | None = None) -> Response:
    y = _year(year)
    return _download(
        figures_to_csv(_figures(moderation, y)).encode("utf-8"), "text/csv; charset=utf-8", f"transparency-{y}.csv"
    )
