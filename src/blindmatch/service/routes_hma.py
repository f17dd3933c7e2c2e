"""Routes compatible with Hasher-Matcher-Actioner (HMA / OpenMediaMatch), so its users can switch.

Covered: ``/h/hash`` (hash an upload), ``/m/raw_lookup`` and ``/m/lookup`` (match a hash or an upload),
``/c/banks``, ``/c/bank/<name>`` and bank content/signal routes (banks are blindmatch lists). Differences, on
purpose: every route needs an API key (HMA has no authentication); ``?url=`` fetching is refused (a hashing service
that fetches URLs its callers name is a server-side request forgery hole — upload the file instead); content ids are
blindmatch entry ids (strings), not integers.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from blindmatch.hashing.files import FileHashes
from blindmatch.hashing.signals import SignalType, parse_signal_type
from blindmatch.lists.model import make_entry
from blindmatch.service.deps import ApiKey, State
from blindmatch.service.routes_api import _edited, _matcher, _store
from blindmatch.service.storage.errors import ListNotFoundError
from blindmatch.service.uploads import hash_upload

router = APIRouter(tags=["hma-compatible"])

_URL_REFUSED = "fetching media by URL is disabled in blindmatch (SSRF risk); POST the file as multipart/form-data"
#: HMA's content-type field names for uploads; blindmatch hashes photos (video is its own signal type).
_PHOTO_FIELDS = ("photo", "file", "image")


async def _single_upload(request: Request) -> UploadFile:
    form = await request.form()
    uploads = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
    if not uploads:
        raise HTTPException(400, "Missing multipart/form-data file upload")
    if len(uploads) > 1:
        raise HTTPException(400, "Only one file allowed per request")
    field, upload = uploads[0]
    if field not in _PHOTO_FIELDS:
        raise HTTPException(400, f"no such content_type: {field!r} (use 'photo')")
    return upload


def _hma_hashes(h: FileHashes) -> dict[str, str]:
    return {"pdq": h.pdq, "md5": h.md5}


@router.get("/h/hash")
def hash_by_url(_key: ApiKey) -> dict[str, str]:
    raise HTTPException(400, _URL_REFUSED)


@router.post("/h/hash")
async def hash_post(request: Request, state: State, _key: ApiKey) -> dict[str, str]:
    upload = await _single_upload(request)
    return _hma_hashes(hash_upload(upload, state.settings))


def _lookup_entries(state: State, signal: str, signal_type: str) -> list[tuple[str, str, int]]:
    res = _matcher(state).lookup(parse_signal_type(signal_type), signal)
    return [(m.list_name, m.entry_id, m.distance) for m in res.matches]


@router.get("/m/raw_lookup")
def raw_lookup(
    state: State, _key: ApiKey, signal: str, signal_type: str, include_distance: bool = False
) -> dict[str, Any]:
    found = _lookup_entries(state, signal, signal_type)
    if include_distance:
        return {"matches": [{"content_id": eid, "distance": str(d), "bank": b} for b, eid, d in found]}
    return {"matches": [eid for _, eid, _ in found]}


@router.get("/m/lookup")
def lookup_get(
    state: State,
    _key: ApiKey,
    signal: str | None = None,
    signal_type: str | None = None,
    url: str | None = None,
) -> list[str]:
    if url is not None:
        raise HTTPException(400, _URL_REFUSED)
    if signal is None or signal_type is None:
        raise HTTPException(400, "signal and signal_type are required")
    return sorted({b for b, _, _ in _lookup_entries(state, signal, signal_type)})


@router.post("/m/lookup")
async def lookup_post(request: Request, state: State, _key: ApiKey) -> dict[str, list[str]]:
    upload = await _single_upload(request)
    h = hash_upload(upload, state.settings)
    matcher = _matcher(state)
    out: dict[str, list[str]] = {}
    pdq = matcher.lookup(SignalType.PDQ, h.pdq, quality=h.quality)
    out["pdq"] = sorted({m.list_name for m in pdq.matches})
    md5 = matcher.lookup(SignalType.MD5, h.md5)
    out["md5"] = sorted({m.list_name for m in md5.matches})
    return out


def _bank(state: State, name: str) -> dict[str, Any]:
    hl = _store(state).get_list(name)
    return {"name": hl.name, "matching_enabled_ratio": 1.0 if hl.enabled else 0.0}


@router.get("/c/banks")
def banks_index(state: State, _key: ApiKey) -> list[dict[str, Any]]:
    return [{"name": hl.name, "matching_enabled_ratio": 1.0 if hl.enabled else 0.0} for hl in _store(state).lists()]


class BankIn(BaseModel):
    name: str
    enabled_ratio: float | None = None
    enabled: bool | None = None


def _enabled(ratio: float | None, enabled: bool | None) -> bool:
    if ratio is not None:
        if ratio not in (0.0, 1.0):
            raise HTTPException(400, "blindmatch lists are on or off: enabled_ratio must be 0 or 1")
        return ratio == 1.0
    return True if enabled is None else enabled


@router.post("/c/banks", status_code=201)
def bank_create(state: State, _key: ApiKey, body: BankIn) -> dict[str, Any]:
    _store(state).create_list(body.name, enabled=_enabled(body.enabled_ratio, body.enabled), source="hma-api")
    _edited(state)
    return _bank(state, body.name)


@router.get("/c/bank/{name}")
def bank_show(state: State, _key: ApiKey, name: str) -> dict[str, Any]:
    return _bank(state, name)


@router.put("/c/bank/{name}")
def bank_update(state: State, _key: ApiKey, name: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    if "name" in body and body["name"] != name:
        raise HTTPException(400, "renaming banks is not supported; create a new list and import")
    ratio = body.get("enabled_ratio")
    enabled = body.get("enabled")
    if ratio is not None or enabled is not None:
        _store(state).set_enabled(name, _enabled(ratio, None if enabled is None else bool(enabled)))
        _edited(state)
    return _bank(state, name)


@router.delete("/c/bank/{name}")
def bank_delete(state: State, _key: ApiKey, name: str) -> dict[str, str]:
    with contextlib.suppress(ListNotFoundError):
        _store(state).delete_list(name)
    _edited(state)
    return {"message": "Done"}


def _add_signals(state: State, name: str, signals: dict[str, str]) -> dict[str, Any]:
    if not signals:
        raise HTTPException(400, "No signals given")
    store = _store(state)
    store.get_list(name)
    # One HMA "content" may carry several signals; each becomes an entry "<content id>:<signal type>".
    content_id = f"hma-{secrets.token_hex(8)}"
    entries = []
    for st_name, value in signals.items():
        st = parse_signal_type(st_name)
        entries.append(
            make_entry(
                list_name=name,
                signal_type=st,
                value=value,
                entry_id=f"{content_id}:{st.value}",
                source_org="hma-api",
            )
        )
    store.add_entries(name, entries)
    _edited(state)
    return {"id": content_id, "signals": {SignalType(e.signal_type).value: e.value for e in entries}}


@router.post("/c/bank/{name}/signal")
def bank_add_signal(state: State, _key: ApiKey, name: str, body: Annotated[dict[str, str], Body()]) -> dict[str, Any]:
    return _add_signals(state, name, body)


@router.post("/c/bank/{name}/content")
async def bank_add_content(request: Request, state: State, _key: ApiKey, name: str) -> dict[str, Any]:
    if request.query_params.get("url"):
        raise HTTPException(400, _URL_REFUSED)
    _store(state).get_list(name)
    upload = await _single_upload(request)
    h = hash_upload(upload, state.settings)
    return _add_signals(state, name, {"pdq": h.pdq, "md5": h.md5})


@router.delete("/c/bank/{name}/content/{content_id}")
def bank_delete_content(state: State, _key: ApiKey, name: str, content_id: str) -> dict[str, int]:
    ids = [content_id] + [f"{content_id}:{st.value}" for st in SignalType]
    res = _store(state).remove_entries(name, ids)
    _edited(state)
    return {"deleted": res.removed}
