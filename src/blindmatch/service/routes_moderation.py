"""Moderation's JSON API: intake for operators (service API key) and the user-facing relay routes (device token).

* ``POST /v1/moderation/ingest`` pulls new threshold events and relay reports into cases (what a cron job or the
  CLI runs).
* ``POST /v1/moderation/scan-case`` hashes an upload, looks it up in the lists and opens a case only if it
  matched (server-side scanning); a file that matches nothing is not kept.
* ``GET /relay/v1/notices`` shows a user the statements of reasons released to them (delayed or suppressed ones
  stay invisible), ``POST /relay/v1/appeals`` files an internal complaint against one of them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile

from blindmatch.moderation.views import AppealRecord, Notice
from blindmatch.service.deps import ApiKey, AppState, get_state
from blindmatch.service.matching import Matcher
from blindmatch.service.moderation import ModerationService
from blindmatch.service.moderation_intake import match_bytes
from blindmatch.service.routes_relay import Device, JsonBody
from blindmatch.service.uploads import read_upload

__all__ = ["get_moderation", "router"]

router = APIRouter(tags=["moderation"])


def get_moderation(state: Annotated[AppState, Depends(get_state)]) -> ModerationService:
    svc = state.services.get("moderation")
    if not isinstance(svc, ModerationService):
        raise HTTPException(503, "the moderation service is not configured")
    return svc


Moderation = Annotated[ModerationService, Depends(get_moderation)]


def _appeal_json(a: AppealRecord) -> dict[str, Any]:
    return {
        "appeal_id": a.id,
        "action_id": a.action_id,
        "created_at": a.created_at.isoformat(),
        "outcome": a.outcome.value if a.outcome else None,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "note": a.note,
    }


def _notice_json(n: Notice) -> dict[str, Any]:
    return {
        "action_id": n.action_id,
        "statement_of_reasons": n.statement.to_json(),
        "released_at": n.released_at.isoformat(),
        "appeal_until": n.appeal_until.isoformat(),
        "active": n.active,
        "appeals": [_appeal_json(a) for a in n.appeals],
    }


@router.get("/v1/moderation/cases")
def cases(
    moderation: Moderation,
    _: ApiKey,
    status: Annotated[str, Query(max_length=40, description="open (undecided), all, or a case status")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The case feed (summaries only: no evidence, no notes) for systems that integrate with moderation."""
    found = moderation.summaries(None if status == "all" else status, limit=limit)
    return {
        "cases": [
            {
                "case_id": c.id,
                "source": c.source.value,
                "status": c.status.value,
                "priority": c.priority,
                "subject_user": c.subject_user,
                "created_at": c.created_at.isoformat(),
                "technologies": list(c.technologies),
                "evidence": c.evidence_count,
                "legal_hold": c.legal_hold,
            }
            for c in found
        ]
    }


@router.post("/v1/moderation/ingest")
def ingest(moderation: Moderation, _: ApiKey) -> dict[str, Any]:
    r = moderation.ingest()
    return {
        "opened": list(r.case_ids),
        "threshold_events": r.threshold_events,
        "relay_reports": r.relay_reports,
        "errors": list(r.errors),
    }


@router.post("/v1/moderation/scan-case")
def scan_case(
    state: Annotated[AppState, Depends(get_state)],
    moderation: Moderation,
    _: ApiKey,
    file: Annotated[UploadFile, File(description="A file found by server-side scanning")],
    subject_user: Annotated[str, Form(max_length=160)] = "",
    lists: Annotated[list[str] | None, Query(alias="list")] = None,
) -> dict[str, Any]:
    data = read_upload(file, state.settings)
    matcher = state.services["matcher"]
    assert isinstance(matcher, Matcher)
    matches = match_bytes(matcher, data, lists=lists)
    if not matches:
        return {"matched": False, "case_id": None}
    cid = moderation.open_from_scan(
        data, file.filename or "upload", list(matches), source="api", subject_user=subject_user
    )
    return {"matched": True, "case_id": cid, "matches": matches}


@router.get("/relay/v1/notices", tags=["relay"])
async def notices(moderation: Moderation, device: Device) -> dict[str, Any]:
    found = await asyncio.to_thread(moderation.notices, device.user_id)
    return {"notices": [_notice_json(n) for n in found]}


@router.post("/relay/v1/appeals", status_code=201, tags=["relay"])
async def appeal(moderation: Moderation, device: Device, body: JsonBody) -> dict[str, Any]:
    action_id = body.get("action_id") if isinstance(body, dict) else None
    text = body.get("text") if isinstance(body, dict) else None
    if isinstance(action_id, bool) or not isinstance(action_id, int) or not isinstance(text, str):
        raise HTTPException(400, 'body must be {"action_id": <int>, "text": <string>}')
    record = await asyncio.to_thread(moderation.appeal, device.user_id, action_id, text)
    return _appeal_json(record)
