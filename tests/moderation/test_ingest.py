"""Intake end to end: a real franked report with an attachment and a real threshold event become cases; the relay
refuses a banned sender and takes appeals; the scan-case route opens a case only for a match."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from blindmatch.hashing.pdq import pdq_from_image
from blindmatch.lists.model import make_entry
from blindmatch.media import decode_image
from blindmatch.messaging.client import MessengerClient, RelayAPIError
from blindmatch.messaging.detection import attach_private_check
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.detection import DetectionKeys
from blindmatch.service.moderation import ModerationService
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore

from .conftest import PASSWORD, dump_database, files_under

BASE = "http://relay.test"
LIST = "standins"
THRESHOLD = 3
MOD = {"X-API-Key": "mod-key"}


def _app(data_dir: Path, db_url: str) -> FastAPI:
    return create_app(
        Settings(
            data_dir=data_dir,
            database_url=db_url,
            api_keys=("mod-key",),
            extra={
                "relay_attachment_receipts": "off",
                "moderation_scrypt_n": "1024",
                "detection_threshold": str(THRESHOLD),
                "detection_synthetic_probability": "0",
            },
        )
    )


def _listed(shared_data: Path, n: int) -> list[Path]:
    return sorted((shared_data / "images" / "listed").glob("*.jpg"))[:n]


def _pdq(data: bytes | Path) -> str:
    return pdq_from_image(decode_image(data).image.convert("RGB")).hash


def _fill(app: FastAPI, paths: list[Path]) -> None:
    store = app.state.blindmatch.services["store"]
    assert isinstance(store, ListStore)
    store.create_list(LIST, description="benign stand-ins (tests)")
    entries = [
        make_entry(list_name=LIST, signal_type="pdq", value=_pdq(p), entry_id=p.name, source_org="tests") for p in paths
    ]
    store.add_entries(LIST, entries)
    app.state.blindmatch.services["matcher"].refresh()


def _recompress(path: Path) -> bytes:
    buf = io.BytesIO()
    decode_image(path).image.convert("RGB").save(buf, "JPEG", quality=70)
    return buf.getvalue()


def _svc(app: FastAPI) -> ModerationService:
    svc = app.state.blindmatch.services["moderation"]
    assert isinstance(svc, ModerationService)
    return svc


async def _pair(tmp: Path, transport: httpx.AsyncBaseTransport) -> tuple[MessengerClient, MessengerClient]:
    alice = await MessengerClient.register(BASE, tmp / "alice", "alice", transport=transport)
    bob = await MessengerClient.register(BASE, tmp / "bob", "bob", transport=transport)
    await alice.add_contact("bob")
    await bob.add_contact("alice")
    await alice.set_consent(True)
    return alice, bob


def test_franked_report_with_attachment_becomes_a_case(tmp_path: Path, db_url: str, shared_data: Path) -> None:
    [path] = _listed(shared_data, 1)
    image = path.read_bytes()
    app = _app(tmp_path / "var", db_url)
    _fill(app, [path])
    transport = httpx.ASGITransport(app=app)
    caption = "benign caption seven-four-three"
    reason = "reason text nine-two-one"

    async def send_and_report() -> tuple[MessengerClient, MessengerClient]:
        alice, bob = await _pair(tmp_path, transport)
        await alice.send_text("bob", "earlier context message")
        await alice.send_image("bob", image, caption=caption)
        got = await bob.receive()
        await bob.report(got[-1].message_id, reason)
        return alice, bob

    alice, bob = asyncio.run(send_and_report())
    svc = _svc(app)
    # the relay asked moderation to open the case right after accepting the report (a background task)
    assert svc.ingest().case_ids == ()  # so there is nothing new to ingest: idempotent
    sup = svc.create_staff("sam", PASSWORD, "supervisor")
    [opened] = svc.queue(sup, status=None)
    cid = opened.id
    view = svc.case(sup, cid)
    assert view.summary.source.value == "user_report" and view.summary.subject_user == "alice"
    assert view.source_details["reporter"] == "bob" and view.source_details["attachments_missing"] == []
    kinds = sorted(e.kind for e in view.evidence)
    assert kinds == ["media", "message"]
    media = next(e for e in view.evidence if e.kind == "media")
    assert media.size == len(image) and media.sha256 == hashlib.sha256(image).hexdigest()
    # the reported attachment was checked against the list: provenance recorded
    assert [(m.list_name, m.entry_id, m.technology) for m in view.matches] == [(LIST, path.name, "pdq")]
    assert view.summary.priority == 2  # a close perceptual match
    data, mime = svc.reveal(sup, cid, media.id)
    assert data == image and mime == "image/jpeg"
    message = next(e for e in view.evidence if e.kind == "message")
    body, _ = svc.reveal(sup, cid, message.id)
    assert caption.encode() in body and reason.encode() in body and b"earlier context message" in body
    # nothing of the content in clear: database rows, the SQLite file and WAL, the data directory (the relay's
    # blob store holds the attachment encrypted under the sender's key)
    stored = dump_database(svc.db) + files_under(tmp_path)
    for secret in (caption.encode(), reason.encode(), b"earlier context message", image[2000:2064]):
        assert secret not in stored

    # enforcement reaches the relay: the banned sender can no longer send, then appeals and is reinstated
    svc.decide(sup, cid, "confirm")
    act = svc.enforce(sup, cid, "ban", facts="sent a listed image", grounds="terms §4")

    async def after_ban() -> dict[str, Any]:
        with pytest.raises(RelayAPIError) as err:
            await alice.send_text("bob", "still here?")
        assert err.value.status == 403
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as http:
            auth = {"Authorization": f"Bearer {alice.api.token}"}
            notices = (await http.get("/relay/v1/notices", headers=auth)).json()["notices"]
            assert notices[0]["statement_of_reasons"]["facts"] == "sent a listed image"
            assert (await http.get("/relay/v1/notices")).status_code == 401
            r = await http.post("/relay/v1/appeals", headers=auth, json={"action_id": act.id, "text": "please"})
            assert r.status_code == 201, r.text
            bad = await http.post("/relay/v1/appeals", headers=auth, json={"action_id": "x", "text": 1})
            assert bad.status_code == 400
            bobs = {"Authorization": f"Bearer {bob.api.token}"}
            other = await http.post("/relay/v1/appeals", headers=bobs, json={"action_id": act.id, "text": "hi"})
            assert other.status_code == 409 and other.json()["error"] == "AppealError"
            return dict(r.json())

    appeal = asyncio.run(after_ban())
    admin = svc.create_staff("root", PASSWORD, "admin")
    svc.decide_appeal(admin, appeal["appeal_id"], "reverse", "context shows it was not the listed item")

    async def after_reversal() -> None:
        await alice.send_text("bob", "back again")
        assert [m.body for m in await bob.receive()][-1] == "back again"
        await alice.aclose()
        await bob.aclose()

    asyncio.run(after_reversal())
    assert svc.audit_verify().ok


def test_threshold_event_becomes_a_case(
    tmp_path: Path, db_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the relay opens cases itself right after a threshold event (tested in tests/detection/test_flow.py); here it
    # does not, so that the explicit ingest route (other processes, crash recovery) is what opens the case
    monkeypatch.setattr("blindmatch.service.routes_relay.open_moderation_cases", lambda state: None)
    monkeypatch.setattr("blindmatch.service.routes_detection.open_moderation_cases", lambda state: None)
    paths = _listed(shared_data, 6)
    data_dir = tmp_path / "var"
    app = _app(data_dir, db_url)
    _fill(app, paths)
    transport = httpx.ASGITransport(app=app)
    pinned = DetectionKeys.load_or_create(data_dir / "detection").public_hex

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        attach_private_check(alice, pinned, transport=transport, min_threshold=THRESHOLD)
        for p in paths[:THRESHOLD]:
            await alice.send_image("bob", _recompress(p))
        await bob.receive()
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())

    async def ingest() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as http:
            assert (await http.post("/v1/moderation/ingest")).status_code == 401
            r = await http.post("/v1/moderation/ingest", headers=MOD)
            assert r.status_code == 200, r.text
            return dict(r.json())

    out = asyncio.run(ingest())
    assert len(out["opened"]) == 1 and out["threshold_events"] == 1 and out["errors"] == []
    svc = _svc(app)
    rev = svc.create_staff("alice-reviewer", PASSWORD, "reviewer")
    view = svc.case(rev, out["opened"][0])
    assert view.summary.source.value == "threshold" and view.summary.subject_user == "alice"
    assert view.subject_device == "primary" and view.summary.priority == 2
    assert {m.entry_id for m in view.matches} == {p.name for p in paths[:THRESHOLD]}
    assert {m.technology for m in view.matches} == {"private-pdq"}
    assert all(m.distance <= 31 and m.evidence_id for m in view.matches)
    assert [e.kind for e in view.evidence] == ["hash"] * THRESHOLD
    assert view.source_details["verified"] == THRESHOLD
    record, mime = svc.reveal(rev, view.summary.id, view.evidence[0].id)
    assert mime == "application/json" and b'"pdq"' in record
    assert asyncio.run(ingest())["opened"] == []
    assert svc.year_stats(view.summary.created_at.year).technologies[0].technology == "private-pdq"


def test_scan_case_route_opens_cases_only_for_matches(tmp_path: Path, db_url: str, shared_data: Path) -> None:
    paths = _listed(shared_data, 2)
    app = _app(tmp_path / "var", db_url)
    _fill(app, paths[:1])
    innocent = sorted((shared_data / "images" / "innocent").glob("*.jpg"))[0]

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with httpx.AsyncClient(base_url=BASE, transport=httpx.ASGITransport(app=app)) as http:
            hit = await http.post(
                "/v1/moderation/scan-case", headers=MOD, data={"subject_user": "uploader-1"},
                files={"file": ("x.jpg", paths[0].read_bytes(), "image/jpeg")},
            )  # fmt: skip
            miss = await http.post(
                "/v1/moderation/scan-case", headers=MOD, files={"file": ("y.jpg", innocent.read_bytes(), "image/jpeg")}
            )
            return dict(hit.json()), dict(miss.json())

    hit, miss = asyncio.run(run())
    assert hit["matched"] is True and isinstance(hit["case_id"], int)
    assert miss == {"matched": False, "case_id": None}
    svc = _svc(app)
    rev = svc.create_staff("rita", PASSWORD, "reviewer")
    [summary] = svc.queue(rev)
    assert summary.id == hit["case_id"] and summary.subject_user == "uploader-1"
    assert summary.technologies == ("pdq",) and summary.priority == 2  # the list holds PDQ entries only
    db = svc.db
    assert isinstance(db, Database)
    assert innocent.read_bytes()[1000:1064] not in dump_database(db)


def test_report_that_no_longer_verifies_is_skipped_with_an_error(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if the relay's own request to open the case had not run yet (e.g. the process died right after answering)
    monkeypatch.setattr("blindmatch.service.routes_relay.open_moderation_cases", lambda state: None)
    data_dir = tmp_path / "var"
    app = _app(data_dir, db_url)
    transport = httpx.ASGITransport(app=app)

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        await alice.send_text("bob", "hello")
        got = await bob.receive()
        await bob.report(got[-1].message_id, "spam")
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
    # the moderation key was replaced since (e.g. lost and regenerated): the sealed report cannot be opened
    from blindmatch.messaging.relay import RelayKeys

    (data_dir / "relay-keys.json").unlink()
    RelayKeys.load_or_create(data_dir / "relay-keys.json")
    svc = _svc(app)
    r = svc.ingest()
    assert r.case_ids == () and len(r.errors) == 1 and "relay report 1" in r.errors[0]
    assert svc.ingest().errors == ()  # recorded once, not retried forever
    assert [x.subject for x in svc.audit_records() if x.action == "ingest_error"] == ["relay_report:1"]
