"""The moderation console's routes, under ``/console``: thin handlers over the moderation facade.

Every rule (roles, two-person review, who may decide an appeal, what a statement of reasons must hold) lives in
the facade and the moderation package; a handler here parses the form, calls one facade method, and renders or
redirects. Pages are usable without JavaScript (plain forms, POST-redirect-GET); htmx only refreshes the queue in
place and makes navigation smoother. Evidence never reaches the browser in the clear except through the reveal
POST, which the facade records as a file view.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from blindmatch.moderation.checkpoint import key_id, public_key_hex
from blindmatch.moderation.errors import ModerationError, ModerationInputError
from blindmatch.moderation.roles import Permission
from blindmatch.service.console.errors import ConsoleError
from blindmatch.service.console.export import RECIPIENTS, ReportingSettings, export_case_report
from blindmatch.service.console.filing import RETRACTABLE, cybertip_problem
from blindmatch.service.console.guard import (
    LOGIN_PATH,
    ConsoleRoute,
    CsrfSession,
    CurrentSession,
    LoggedIn,
    error_status,
    require_permission,
)
from blindmatch.service.console.pages import Moderation, flash, page, parse_when, require, see_other
from blindmatch.service.console.runtime import get_moderation, get_runtime
from blindmatch.service.console.security import (
    CSRF_FORM_FIELD,
    CsrfError,
    LoginRateLimitedError,
    check_csrf,
    new_token,
    security_headers,
)
from blindmatch.service.console.views import render
from blindmatch.service.deps import get_state
from blindmatch.service.moderation import ModerationService

__all__ = ["case_action", "case_page_response", "evidence_delivery", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

#: Evidence MIME types the browser may render inline. Anything else (a hostile report could claim text/html or
#: image/svg+xml, both able to run script on our origin) is sent as an opaque download.
_INLINE_MIME = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_QUEUE_FILTERS = ("open", "awaiting_second", "escalated", "confirmed", "dismissed", "all")


# ------------------------------------------------------------------------------------------------- login / logout


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    token = request.cookies.get(get_runtime(request).config.session_cookie)
    if token and get_moderation(request).session(token) is not None:
        return see_other("/console/queue")
    return see_other(LOGIN_PATH)


def _login_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    """The login form with a fresh double-submit token (cookie + hidden field)."""
    config = get_runtime(request).config
    token = new_token()
    response = render(
        "login.html",
        {"me": None, "csrf": None, "login_token": token, "error": error, "flash": flash(request)},
        status_code=status_code,
    )
    response.set_cookie(
        config.login_csrf_cookie,
        token,
        max_age=3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=config.secure_cookies,
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    moderation: Moderation,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FORM_FIELD, max_length=200)] = "",
) -> Response:
    runtime = get_runtime(request)
    config = runtime.config
    try:
        check_csrf(request.cookies.get(config.login_csrf_cookie), csrf_token)
    except CsrfError as exc:
        return _login_page(request, error=f"The form expired or was not sent from this page ({exc}).", status_code=403)
    ip = request.client.host if request.client else "unknown"
    username = username.strip()
    try:
        runtime.limiter.check(username, ip)
    except LoginRateLimitedError as exc:
        response = _login_page(request, error=str(exc), status_code=error_status(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    staff = moderation.authenticate(username, password)
    if staff is None:
        runtime.limiter.failed(username, ip)
        # One message for unknown user, wrong password and disabled account: the form must not reveal which.
        return _login_page(request, error="Wrong username or password, or the account is disabled.", status_code=401)
    runtime.limiter.succeeded(username)
    token, _csrf = moderation.start_session(staff)
    response = see_other("/console/queue")
    response.set_cookie(
        config.session_cookie,
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=config.secure_cookies,
    )
    response.delete_cookie(config.login_csrf_cookie, path="/", secure=config.secure_cookies, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, me: CsrfSession, moderation: Moderation) -> Response:
    config = get_runtime(request).config
    moderation.end_session(me.token)
    response = see_other(f"{LOGIN_PATH}?done=logout")
    response.delete_cookie(
        config.session_cookie, path="/", httponly=True, secure=config.secure_cookies, samesite="strict"
    )
    return response


# ------------------------------------------------------------------------------------------------- queue


def _queue_status(value: str) -> tuple[str, str | None]:
    if value not in _QUEUE_FILTERS:
        raise ModerationInputError(f"unknown queue filter {value!r}; expected one of {', '.join(_QUEUE_FILTERS)}")
    return value, (None if value == "all" else value)


@router.get("/queue")
def queue(request: Request, me: CurrentSession, moderation: Moderation, status: str = "open") -> Response:
    shown, facade_status = _queue_status(status)
    cases = moderation.queue(me.session.staff, facade_status)
    return render(
        "queue.html",
        page(me, cases=cases, status=shown, filters=_QUEUE_FILTERS, flash=flash(request)),
    )


@router.get("/queue/rows")
def queue_rows(me: CurrentSession, moderation: Moderation, status: str = "open") -> Response:
    """The queue's table body alone: what htmx polls to keep the queue current without a page reload."""
    shown, facade_status = _queue_status(status)
    cases = moderation.queue(me.session.staff, facade_status)
    return render("_queue_rows.html", page(me, cases=cases, status=shown))


# ------------------------------------------------------------------------------------------------- case page


def case_page_response(
    request: Request,
    me: LoggedIn,
    moderation: ModerationService,
    case_id: int,
    *,
    error: Exception | None = None,
) -> Response:
    view = moderation.case(me.session.staff, case_id)
    viewed = {v.evidence_id for v in view.views if v.staff == me.session.staff.username}
    # The CyberTipline submission's stored state (draft → submitted → files uploaded → finished / retracted),
    # shown to those who may export, with the File / Retract buttons (routes_case_ops) or what to configure.
    submission = moderation.cybertip_load(str(case_id)) if me.can(Permission.EXPORT) else None
    settings = get_state(request).settings
    status = 200 if error is None else error_status(error)
    return render(
        "case.html",
        page(
            me,
            case=view,
            viewed_by_me=viewed,
            flash=flash(request),
            error=(None if error is None else f"{type(error).__name__}: {error}"),
            inline_mime=_INLINE_MIME,
            recipients=RECIPIENTS,
            submission=submission,
            retractable=submission is not None and submission.state in RETRACTABLE,
            cybertip_problem=cybertip_problem(settings.extra) if me.can(Permission.EXPORT) else None,
        ),
        status_code=status,
        headers=None if error is None else {"HX-Push-Url": "false"},
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: int, me: CurrentSession, moderation: Moderation) -> Response:
    return case_page_response(request, me, moderation, case_id)


@router.get("/cases/{case_id}/evidence/{evidence_id}/preview")
def preview(case_id: int, evidence_id: str, me: CurrentSession, moderation: Moderation) -> Response:
    """A blurred, greyscale PNG made by the facade: safe to show before anyone decides to look."""
    png = moderation.preview(me.session.staff, case_id, evidence_id)
    return Response(png, media_type="image/png", headers=security_headers())


@router.post("/cases/{case_id}/evidence/{evidence_id}/reveal")
def reveal(case_id: int, evidence_id: str, me: CsrfSession, moderation: Moderation) -> Response:
    """The clear evidence, by POST only (a deliberate act with the CSRF token; never a cacheable URL).

    The facade records the view before returning the bytes, so a view that the reviewer saw is always recorded.
    """
    require(me, Permission.REVEAL)
    data, mime = moderation.reveal(me.session.staff, case_id, evidence_id)
    media_type, disposition = evidence_delivery(mime)
    headers = security_headers()
    safe_id = "".join(ch for ch in evidence_id if ch.isalnum() or ch in "-_")[:64]
    headers["Content-Disposition"] = f'{disposition}; filename="evidence-{case_id}-{safe_id}"'
    return Response(data, media_type=media_type, headers=headers)


def evidence_delivery(mime: str) -> tuple[str, str]:
    """(Content-Type, disposition) for revealed evidence of a claimed ``mime``.

    Only raster images are shown inline and plain text as text; anything else (HTML, SVG, PDF, video, unknown)
    is an opaque attachment, so evidence can never execute in the console's origin."""
    base = mime.split(";")[0].strip().lower()
    if base in _INLINE_MIME:
        return base, "inline"
    if base == "text/plain":
        return "text/plain; charset=utf-8", "inline"
    return "application/octet-stream", "attachment"


def case_action(
    request: Request, me: LoggedIn, moderation: ModerationService, case_id: int, act: Callable[[], str]
) -> Response:
    """Run a facade call for a case form; on a refusal, show the case page again with the reason."""
    try:
        done = act()
    except (ModerationError, ConsoleError) as exc:
        return case_page_response(request, me, moderation, case_id, error=exc)
    return see_other(f"/console/cases/{case_id}?done={done}")


@router.post("/cases/{case_id}/decide")
def decide(
    request: Request,
    case_id: int,
    me: CsrfSession,
    moderation: Moderation,
    decision: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    require(me, Permission.DECIDE)

    def act() -> str:
        moderation.decide(me.session.staff, case_id, decision, note)
        return decision

    return case_action(request, me, moderation, case_id, act)


@router.post("/cases/{case_id}/enforce")
def enforce(
    request: Request,
    case_id: int,
    me: CsrfSession,
    moderation: Moderation,
    action: Annotated[str, Form(max_length=20)],
    facts: Annotated[str, Form(max_length=5000)] = "",
    grounds: Annotated[str, Form(max_length=5000)] = "",
    notify: Annotated[str, Form(max_length=20)] = "now",
    delay_until: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    require(me, Permission.ENFORCE)

    def act() -> str:
        moderation.enforce(
            me.session.staff,
            case_id,
            action,
            facts=facts,
            grounds=grounds,
            notify=notify,
            delay_until=parse_when(delay_until, "delay_until"),
            until=parse_when(until, "until"),
        )
        return "enforced"

    return case_action(request, me, moderation, case_id, act)


@router.post("/actions/{action_id}/release")
def release_notice(
    request: Request,
    action_id: int,
    me: CsrfSession,
    moderation: Moderation,
    case_id: Annotated[int, Form()],
) -> Response:
    require(me, Permission.LEGAL_HOLD)  # releasing a withheld notice is a supervisor's call

    def act() -> str:
        moderation.release_notice(me.session.staff, action_id)
        return "released"

    return case_action(request, me, moderation, case_id, act)


@router.post("/cases/{case_id}/export")
def export(
    request: Request,
    case_id: int,
    me: CsrfSession,
    moderation: Moderation,
    recipient: Annotated[str, Form(max_length=40)] = "cybertipline",
) -> Response:
    """Download the case's report for ``recipient`` (supervisor; the export is audited with its SHA-256)."""
    require(me, Permission.EXPORT)
    settings = get_state(request).settings
    reporting = ReportingSettings.from_extra(settings.extra, demo=settings.demo)
    exported = export_case_report(moderation, me.session.staff, case_id, recipient, reporting)
    headers = security_headers()
    headers["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return Response(exported.content, media_type=exported.media_type, headers=headers)


# ------------------------------------------------------------------------------------------------- appeals


@router.get("/appeals")
def appeals(
    request: Request,
    me: Annotated[LoggedIn, Depends(require_permission(Permission.DECIDE_APPEAL))],
    moderation: Moderation,
    show: str = "pending",
) -> Response:
    if show not in ("pending", "all"):
        raise ModerationInputError(f"unknown appeals filter {show!r}; expected pending or all")
    items = moderation.appeals(me.session.staff, pending_only=show == "pending")
    return render("appeals.html", page(me, appeals=items, show=show, flash=flash(request), error=None))


@router.post("/appeals/{appeal_id}/decide")
def decide_appeal(
    request: Request,
    appeal_id: int,
    me: CsrfSession,
    moderation: Moderation,
    outcome: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    require(me, Permission.DECIDE_APPEAL)
    try:
        moderation.decide_appeal(me.session.staff, appeal_id, outcome, note)
    except ModerationError as exc:
        items = moderation.appeals(me.session.staff, pending_only=True)
        return render(
            "appeals.html",
            page(me, appeals=items, show="pending", flash=None, error=f"{type(exc).__name__}: {exc}"),
            status_code=error_status(exc),
            headers={"HX-Push-Url": "false"},
        )
    return see_other("/console/appeals?done=appeal")


# ------------------------------------------------------------------------------------------------- audit


@router.get("/audit")
def audit(
    me: Annotated[LoggedIn, Depends(require_permission(Permission.VIEW_AUDIT))],
    moderation: Moderation,
    after: int = 0,
    limit: int = 200,
) -> Response:
    if after < 0 or not 1 <= limit <= 1000:
        raise ModerationInputError("after must be >= 0 and limit between 1 and 1000")
    return _audit_page(me, moderation, after, limit)


def _audit_page(
    me: LoggedIn, moderation: ModerationService, after: int, limit: int, checkpoint: str | None = None
) -> Response:
    records = moderation.audit_records(after=after, limit=limit)
    verification = moderation.audit_verify()
    key = moderation.audit_checkpoint_key()
    context = page(
        me,
        records=records,
        verification=verification,
        after=after,
        limit=limit,
        checkpoint_key=public_key_hex(key),
        checkpoint_key_id=key_id(key),
        checkpoint=checkpoint,
    )
    return render("audit.html", context, headers={"HX-Push-Url": "false"} if checkpoint else None)


@router.post("/audit/checkpoint")
def audit_checkpoint(me: CsrfSession, moderation: Moderation) -> Response:
    """Sign the log's head for publication; the page shows the checkpoint to copy to outside holders."""
    require(me, Permission.CHECKPOINT)
    cp = moderation.audit_checkpoint(me.session.staff.username)
    text = json.dumps(cp.to_json(), separators=(",", ":"))
    return _audit_page(me, moderation, 0, 200, checkpoint=text)
