"""blindmatch's own HTTP API (``/v1``): hash, look up, match uploads, manage lists."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field

from blindmatch import __version__
from blindmatch.hashing.signals import SignalType
from blindmatch.lists.model import DEFAULT_PDQ_THRESHOLD, HashList, make_entry
from blindmatch.service.deps import ApiKey, AppState, State
from blindmatch.service.matching import LookupResult, Matcher
from blindmatch.service.storage.list_store import EditResult, ListStore
from blindmatch.service.uploads import file_hashes_dict, hash_upload

router = APIRouter()


def _store(state: AppState) -> ListStore:
    store = state.services["store"]
    assert isinstance(store, ListStore)
    return store


def _edited(state: AppState) -> None:
    """Lists changed through this process: let the very next lookup see it."""
    _matcher(state).invalidate()


def _matcher(state: AppState) -> Matcher:
    matcher = state.services["matcher"]
    assert isinstance(matcher, Matcher)
    return matcher


def list_dict(hl: HashList, entries: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": hl.name,
        "description": hl.description,
        "enabled": hl.enabled,
        "version": hl.version,
        "pdq_threshold": hl.pdq_threshold,
        "source": hl.source,
        "created_at": hl.created_at.isoformat() if hl.created_at else None,
        "updated_at": hl.updated_at.isoformat() if hl.updated_at else None,
    }
    if entries is not None:
        out["entries"] = entries
    return out


def edit_dict(r: EditResult) -> dict[str, Any]:
    return {
        "list": r.list_name,
        "version": r.version,
        "added": r.added,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "removed": r.removed,
        "missing": r.missing,
    }


_LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>blindmatch</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}code{background:#eee;
padding:0 .2em}</style></head><body><h1>blindmatch</h1>
<p>Hashing, hash lists and matching of known abuse imagery for end-to-end encrypted messengers. This instance
serves a demo list of <strong>benign stand-in photos</strong>.</p>
<ul><li><a href="/docs">API documentation</a> (every route but <code>/health</code> needs an API key:
<code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>; <code>make run</code> writes one to
<code>var/demo-api-key</code>)</li>
<li><code>POST /v1/match</code> hash an image and match it; <code>GET /v1/lookup</code> look up a hash;
<code>/v1/lists</code> manage lists</li>
<li>HMA-compatible: <code>/h/hash</code>, <code>/m/lookup</code>, <code>/m/raw_lookup</code>, <code>/c/banks</code></li>
<li>Messenger relay: <code>/relay/v1</code></li></ul></body></html>"""


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def landing() -> HTMLResponse:
    """What a person opening the service in a browser sees: what it is and where to go."""
    return HTMLResponse(_LANDING)


@router.get("/health", tags=["service"])
def health(state: State) -> dict[str, Any]:
    """Liveness and readiness; needs no key and says nothing about list contents."""
    return {"status": "ok", "version": __version__, "lists": len(_matcher(state).stats())}


@router.post("/v1/hash", tags=["hashing"])
def hash_media(
    state: State,
    _key: ApiKey,
    file: Annotated[UploadFile, File(description="An image")],
    fast: bool = False,
    dihedral: bool = False,
) -> dict[str, Any]:
    """PDQ (with quality) and MD5/SHA-1/SHA-256 of an uploaded image."""
    return file_hashes_dict(hash_upload(file, state.settings, fast=fast, dihedral=dihedral))


@router.get("/v1/lookup", tags=["matching"])
def lookup(
    state: State,
    _key: ApiKey,
    signal_type: str,
    value: str,
    lists: Annotated[list[str] | None, Query(alias="list")] = None,
    quality: int | None = None,
    threshold: Annotated[int | None, Query(ge=0, le=128)] = None,
) -> dict[str, Any]:
    """Look a hash up in every enabled list (or the named ones)."""
    res = _matcher(state).lookup(signal_type, value, lists=lists, quality=quality, threshold=threshold)
    return res.as_dict()


@router.post("/v1/match", tags=["matching"])
def match_media(
    state: State,
    _key: ApiKey,
    file: Annotated[UploadFile, File(description="An image")],
    lists: Annotated[list[str] | None, Query(alias="list")] = None,
    dihedral: bool = False,
    fast: bool = False,
) -> dict[str, Any]:
    """Hash an upload and look every hash up: PDQ (optionally all 8 rotations/flips) and the exact digests."""
    h = hash_upload(file, state.settings, fast=fast, dihedral=dihedral)
    matcher = _matcher(state)
    results: list[LookupResult] = [
        matcher.lookup(
            SignalType.PDQ,
            h.pdq,
            lists=lists,
            quality=h.quality,
            dihedral=(h.dihedral or ())[1:] if dihedral else (),
        )
    ]
    for st, value in ((SignalType.MD5, h.md5), (SignalType.SHA1, h.sha1), (SignalType.SHA256, h.sha256)):
        results.append(matcher.lookup(st, value, lists=lists))
    return {
        "hashes": file_hashes_dict(h),
        "matched": any(r.matches for r in results),
        "results": [r.as_dict() for r in results],
    }


class NewList(BaseModel):
    name: str
    description: str = ""
    enabled: bool = True
    pdq_threshold: int = Field(default=DEFAULT_PDQ_THRESHOLD, ge=0, le=128)
    source: str = ""


class ListPatch(BaseModel):
    description: str | None = None
    enabled: bool | None = None
    pdq_threshold: int | None = Field(default=None, ge=0, le=128)


class NewEntry(BaseModel):
    signal_type: str
    value: str
    entry_id: str | None = None
    source_org: str = ""
    classification_scheme: str = ""
    classification_label: str = ""
    licence: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class EntriesIn(BaseModel):
    entries: list[NewEntry] = Field(max_length=100_000)


class EntryIds(BaseModel):
    entry_ids: list[str] = Field(max_length=100_000)


@router.get("/v1/lists", tags=["lists"])
def lists_index(state: State, _key: ApiKey) -> list[dict[str, Any]]:
    store = _store(state)
    return [list_dict(hl, store.count_entries(hl.name)) for hl in store.lists()]


@router.post("/v1/lists", tags=["lists"], status_code=201)
def lists_create(state: State, _key: ApiKey, body: NewList) -> dict[str, Any]:
    hl = _store(state).create_list(
        body.name,
        description=body.description,
        enabled=body.enabled,
        pdq_threshold=body.pdq_threshold,
        source=body.source,
    )
    _edited(state)
    return list_dict(hl, 0)


@router.get("/v1/lists/{name}", tags=["lists"])
def lists_show(state: State, _key: ApiKey, name: str) -> dict[str, Any]:
    store = _store(state)
    return list_dict(store.get_list(name), store.count_entries(name))


@router.patch("/v1/lists/{name}", tags=["lists"])
def lists_update(state: State, _key: ApiKey, name: str, body: ListPatch) -> dict[str, Any]:
    store = _store(state)
    hl = store.get_list(name)
    if body.enabled is not None:
        hl = store.set_enabled(name, body.enabled)
    if body.pdq_threshold is not None:
        hl = store.set_threshold(name, body.pdq_threshold)
    if body.description is not None:
        hl = store.update_list(name, description=body.description)
    _edited(state)
    return list_dict(hl)


@router.delete("/v1/lists/{name}", tags=["lists"])
def lists_delete(state: State, _key: ApiKey, name: str) -> dict[str, Any]:
    _store(state).delete_list(name)
    _edited(state)
    return {"deleted": name}


@router.post("/v1/lists/{name}/entries", tags=["lists"])
def entries_add(state: State, _key: ApiKey, name: str, body: EntriesIn) -> dict[str, Any]:
    entries = [
        make_entry(
            list_name=name,
            signal_type=e.signal_type,
            value=e.value,
            entry_id=e.entry_id,
            source_org=e.source_org,
            classification_scheme=e.classification_scheme,
            classification_label=e.classification_label,
            licence=e.licence,
            metadata=e.metadata,
        )
        for e in body.entries
    ]
    result = _store(state).add_entries(name, entries)
    _edited(state)
    return edit_dict(result)


@router.post("/v1/lists/{name}/entries/remove", tags=["lists"])
def entries_remove(state: State, _key: ApiKey, name: str, body: EntryIds) -> dict[str, Any]:
    result = _store(state).remove_entries(name, body.entry_ids)
    _edited(state)
    return edit_dict(result)


@router.post("/v1/lists/{name}/import", tags=["lists"])
def entries_import(
    state: State,
    _key: ApiKey,
    name: str,
    file: Annotated[UploadFile, File(description="A list file")],
    format: str = "csv",
    on_error: str = "abort",
) -> dict[str, Any]:
    """Import a file (csv, jsonl, threatexchange, ncmec): all rows or none (``on_error=abort``), or skip bad rows."""
    raw = file.file.read(state.settings.max_upload_bytes + 1)
    if len(raw) > state.settings.max_upload_bytes:
        raise HTTPException(413, f"list file is over the {state.settings.max_upload_bytes}-byte limit")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"list file is not UTF-8: {exc}") from None
    outcome = _store(state).import_stream(
        name, io.StringIO(text, newline=""), format, on_error=on_error, source=file.filename
    )
    _edited(state)
    report = outcome.report
    return {
        **edit_dict(outcome.result),
        "rows": report.rows,
        "entries": report.entries,
        "deletions": report.deletions,
        "rows_failed": [{"line": e.line, "reason": e.reason} for e in report.errors],
    }


@router.get("/v1/lists/{name}/export", tags=["lists"], response_class=PlainTextResponse)
def entries_export(state: State, _key: ApiKey, name: str, format: str = "csv") -> PlainTextResponse:
    buf = io.StringIO(newline="")
    _store(state).export_stream(name, buf, format)
    return PlainTextResponse(buf.getvalue())


@router.get("/v1/index", tags=["matching"])
def index_status(state: State, _key: ApiKey) -> dict[str, Any]:
    matcher = _matcher(state)
    matcher.refresh()
    return matcher.stats()
