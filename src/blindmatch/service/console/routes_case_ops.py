"""Case operations beyond review, on the case page: legal holds, destruction on request, CyberTipline filing.

Each handler is a form POST (CSRF checked), an early role check, one facade (or filing adapter) call, and a
redirect back to the case with a fixed confirmation; a refusal (``LegalHoldError`` when destroying under hold,
an unconfigured or failing CyberTipline) shows the case page again with the reason and the refusal's status.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from blindmatch.moderation.roles import Permission
from blindmatch.service.console.export import ReportingSettings
from blindmatch.service.console.filing import file_case, retract_case
from blindmatch.service.console.guard import ConsoleRoute, CsrfSession
from blindmatch.service.console.pages import Moderation, parse_when, require
from blindmatch.service.console.routes import case_action
from blindmatch.service.deps import get_state

__all__ = ["case_ops_router"]

case_ops_router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

_REASON = Annotated[str, Form(max_length=1000)]


@case_ops_router.post("/cases/{case_id}/hold")
def place_hold(
    request: Request,
    case_id: int,
    me: CsrfSession,
    moderation: Moderation,
    reason: _REASON = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Place or extend a legal hold (supervisor): no purge and no destruction while it lasts."""
    require(me, Permission.LEGAL_HOLD)

    def act() -> str:
        moderation.place_legal_hold(me.session.staff, case_id, reason, until=parse_when(until, "until"))
        return "hold"

    return case_action(request, me, moderation, case_id, act)


@case_ops_router.post("/cases/{case_id}/hold/lift")
def lift_hold(
    request: Request, case_id: int, me: CsrfSession, moderation: Moderation, reason: _REASON = ""
) -> Response:
    """Lift the hold (supervisor), with the reason recorded in the case history and the audit log."""
    require(me, Permission.LEGAL_HOLD)

    def act() -> str:
        moderation.lift_legal_hold(me.session.staff, case_id, reason)
        return "hold_lifted"

    return case_action(request, me, moderation, case_id, act)


@case_ops_router.post("/cases/{case_id}/destroy")
def destroy(request: Request, case_id: int, me: CsrfSession, moderation: Moderation, reason: _REASON = "") -> Response:
    """Destroy the case's evidence on request (admin); refused under legal hold. Hashes and history stay."""
    require(me, Permission.DESTROY)

    def act() -> str:
        moderation.destroy(me.session.staff, case_id, reason)
        return "destroyed"

    return case_action(request, me, moderation, case_id, act)


@case_ops_router.post("/cases/{case_id}/cybertip/submit")
def cybertip_submit(request: Request, case_id: int, me: CsrfSession, moderation: Moderation) -> Response:
    """File the confirmed case with the CyberTipline (or resume an interrupted filing) up to ``finished``."""
    require(me, Permission.EXPORT)
    settings = get_state(request).settings

    def act() -> str:
        reporting = ReportingSettings.from_extra(settings.extra, demo=settings.demo)
        sub = file_case(moderation, me.session.staff, case_id, reporting, settings.extra)
        return "filed" if sub.state.value == "finished" else "filing"

    return case_action(request, me, moderation, case_id, act)


@case_ops_router.post("/cases/{case_id}/cybertip/retract")
def cybertip_retract(request: Request, case_id: int, me: CsrfSession, moderation: Moderation) -> Response:
    """Retract the case's open CyberTipline report (only before it is finished)."""
    require(me, Permission.EXPORT)
    settings = get_state(request).settings

    def act() -> str:
        retract_case(moderation, me.session.staff, case_id, settings.extra)
        return "retracted"

    return case_action(request, me, moderation, case_id, act)
