"""Server-side pieces: sealed account state, key files, restart persistence, configuration, schema drift."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from blindmatch.messaging.client import MessengerClient
from blindmatch.messaging.detection import attach_private_check
from blindmatch.privacy.api import verify_table
from blindmatch.privacy.server import AccountState
from blindmatch.service.detection import (
    DetectionAccountRow,
    DetectionConfigError,
    DetectionKeys,
    DetectionService,
    SealedStateError,
    detection_config,
)
from blindmatch.service.routes_detection import get_detection
from blindmatch.service.storage.database import Database

from .conftest import MOD_KEY, THRESHOLD, Listed, make_app, recompress

BASE = "http://relay.test"


def test_seal_roundtrip_and_rows_cannot_be_swapped(tmp_path: Path) -> None:
    keys = DetectionKeys.load_or_create(tmp_path)
    st = AccountState("alice/primary", seen_voucher_ids={b"\x01" * 16}, counters={"received": 1})
    blob = keys.seal(st)
    assert b"alice" not in blob and b"received" not in blob
    back = keys.unseal("alice/primary", blob)
    assert back.seen_voucher_ids == st.seen_voucher_ids and back.counters == st.counters
    with pytest.raises(SealedStateError, match="does not decrypt"):
        keys.unseal("mallory/primary", blob)  # a row moved to another account
    with pytest.raises(SealedStateError, match="does not decrypt"):
        DetectionKeys.load_or_create(tmp_path / "other").unseal("alice/primary", blob)
    with pytest.raises(SealedStateError):
        keys.unseal("alice/primary", blob[:5])


def test_key_files_are_private_and_stable(tmp_path: Path) -> None:
    a = DetectionKeys.load_or_create(tmp_path)
    for name in ("custodian-signing.key", "state.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    b = DetectionKeys.load_or_create(tmp_path)
    assert a.public_hex == b.public_hex and a.state_key == b.state_key
    (tmp_path / "state.key").write_bytes(b"short")
    with pytest.raises(DetectionConfigError, match="must hold 32 bytes"):
        DetectionKeys.load_or_create(tmp_path)


def test_config_from_settings() -> None:
    c = detection_config({"detection_threshold": "4", "detection_synthetic_probability": "0"})
    assert c.threshold == 4 and c.synthetic_probability == 0.0 and c.token_count == 64
    assert detection_config({}).threshold == 10
    for bad in ({"detection_threshold": "0"}, {"detection_threshold": "x"}, {"detection_synthetic_probability": "2"}):
        with pytest.raises(DetectionConfigError):
            detection_config(bad)


def test_state_and_table_survive_a_restart(
    tmp_path: Path, app: FastAPI, data_dir: Path, db_url: str, pinned_key: str, listed: list[Listed]
) -> None:
    """Two matches before a restart and one after still cross a threshold of three; the table is not rebuilt."""
    t1 = httpx.ASGITransport(app=app)

    async def send(transport: httpx.ASGITransport, items: list[Listed], register: bool) -> None:
        if register:
            alice = await MessengerClient.register(BASE, tmp_path / "alice", "alice", transport=transport)
            bob = await MessengerClient.register(BASE, tmp_path / "bob", "bob", transport=transport)
            await bob.aclose()
            await alice.add_contact("bob")
            await alice.set_consent(True)
        else:
            alice = MessengerClient.open(tmp_path / "alice", transport=transport)
        attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        for x in items:
            await alice.send_image("bob", recompress(x.path))
        await alice.aclose()

    asyncio.run(send(t1, listed[:2], True))
    svc1 = get_detection(app.state.blindmatch)
    table1 = svc1.table.table_bytes
    assert svc1.events() == []
    for name in ("custodian.json", "table.bin"):
        assert stat.S_IMODE((data_dir / "detection" / name).stat().st_mode) == 0o600
    app.state.blindmatch.services["db"].dispose()

    app2 = make_app(data_dir, db_url)
    svc2 = get_detection(app2.state.blindmatch)
    assert svc2.table.table_bytes == table1  # loaded from the data dir, not rebuilt
    verify_table(svc2.table.table_bytes, [DetectionKeys.load_or_create(data_dir / "detection").signing.public_key()])
    asyncio.run(send(httpx.ASGITransport(app=app2), listed[2:3], False))
    events = svc2.events()
    assert len(events) == 1 and events[0]["verified"] == THRESHOLD
    # The account row is sealed: its plaintext (voucher ids, counters) is not readable from the database.
    db = app2.state.blindmatch.services["db"]
    with db.session() as s:
        row = s.execute(select(DetectionAccountRow)).scalar_one()
        assert b"received" not in row.sealed
        assert svc2.keys.unseal(row.account_id, row.sealed).secret is not None
    assert isinstance(svc2, DetectionService)


def test_migration_matches_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from blindmatch.service.storage.base import Base

    db = Database(db_url)
    db.migrate()
    ours = {"detection_accounts", "threshold_events"}
    assert ours <= set(db.table_names())
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if _table_of(d) in ours]
    db.dispose()
    assert diffs == []


def _table_of(diff: object) -> str:
    d = diff[0] if isinstance(diff, list) else diff
    assert isinstance(d, tuple)
    if d[0] in ("add_table", "remove_table"):
        return str(d[1].name)
    if d[0] in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        return str(d[1].table.name)
    return str(d[2])


def test_refresh_route_needs_the_api_key(transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as c:
            assert (await c.post("/relay/v1/detection/refresh")).status_code == 401
            r = await c.post("/relay/v1/detection/refresh", headers={"X-API-Key": MOD_KEY})
            assert r.status_code == 200
            body = r.json()
            assert body["entries"] == 12 and body["list_version"] == 1
            r = await c.get("/relay/v1/detection/trust")
            assert len(bytes.fromhex(r.json()["public_key"])) == 32

    asyncio.run(run())
