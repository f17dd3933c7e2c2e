"""End to end through the messenger SDK and the relay: table, vouchers before media, threshold event."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, select

from blindmatch.messaging.client import MessengerClient
from blindmatch.messaging.detection import PrivateMediaCheck, TableRejectedError, attach_private_check
from blindmatch.service.storage.database import Database

from .conftest import LIST, MOD_KEY, THRESHOLD, Listed, blank_video, pdq_of, recompress

BASE = "http://relay.test"
MOD = {"Authorization": f"Bearer {MOD_KEY}"}


async def _pair(tmp_path: Path, transport: httpx.AsyncBaseTransport) -> tuple[MessengerClient, MessengerClient]:
    alice = await MessengerClient.register(BASE, tmp_path / "alice", "alice", transport=transport)
    bob = await MessengerClient.register(BASE, tmp_path / "bob", "bob", transport=transport)
    await alice.add_contact("bob")
    await bob.add_contact("alice")
    await alice.set_consent(True)
    return alice, bob


async def _aget(transport: httpx.AsyncBaseTransport, path: str, headers: dict[str, str] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=BASE, transport=transport) as c:
        r = await c.get("/relay/v1/detection" + path, headers=headers or {})
        assert r.status_code == 200, r.text
        return r.json()


def _get(transport: httpx.AsyncBaseTransport, path: str, headers: dict[str, str] | None = None) -> Any:
    return asyncio.run(_aget(transport, path, headers))


def _dump(app: FastAPI) -> str:
    """Every row of every table, as text (bytes as hex): what a database thief would get."""
    db = app.state.blindmatch.services["db"]
    assert isinstance(db, Database)
    meta = MetaData()
    meta.reflect(db.engine)
    out = []
    with db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                out.extend(v.hex() if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(out).lower()


def test_innocent_then_listed_crosses_threshold_once(
    tmp_path: Path,
    app: FastAPI,
    transport: httpx.ASGITransport,
    pinned_key: str,
    listed: list[Listed],
    innocent: list[Path],
) -> None:
    async def run() -> tuple[int, list[str]]:
        alice, bob = await _pair(tmp_path, transport)
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        assert isinstance(alice.media_check, PrivateMediaCheck)
        for p in innocent:
            await alice.send_image("bob", p.read_bytes())
        assert (await _aget(transport, "/events", MOD))["events"] == []
        sent_listed: list[str] = []
        for x in listed:
            await alice.send_image("bob", recompress(x.path))
            sent_listed.append(x.path.name)
            if (await _aget(transport, "/events", MOD))["events"]:
                break
        got = await bob.receive()
        assert check.state.data["counters"]["vouchers_sent"] == len(innocent) + len(sent_listed)
        await alice.aclose()
        await bob.aclose()
        return len(got), sent_listed

    received, sent_listed = asyncio.run(run())
    assert received == len(innocent) + len(sent_listed)  # detection never blocks delivery of matched media
    # The default scheme opens JPEG q70 re-encodes of these stand-ins: the threshold is crossed at exactly t.
    assert len(sent_listed) == THRESHOLD
    events = _get(transport, "/events", MOD)["events"]
    assert len(events) == 1
    ev = events[0]
    assert ev["account"] == "alice/primary"
    assert ev["verified"] == THRESHOLD and ev["collisions"] == 0 and ev["synthetic"] == 0
    named = {m["entry_id"] for v in ev["matches"] for m in v["matches"]}
    assert named == set(sent_listed)
    for v in ev["matches"]:
        assert all(m["list"] == LIST and m["distance"] <= 31 for m in v["matches"])
    stats = _get(transport, "/stats", MOD)
    assert stats["counters"]["received"] == len(innocent) + THRESHOLD
    assert stats["counters"]["opened"] == THRESHOLD
    # Nothing about the innocent photos is stored: no PDQ of theirs anywhere in the database.
    dump = _dump(app)
    for p in innocent:
        assert pdq_of(p) not in dump
    assert "alice/primary" in dump  # the dump did read the detection tables


def test_tampered_table_or_wrong_key_refuses_media(
    tmp_path: Path, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    class Tamper(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            r = await transport.handle_async_request(request)
            if request.url.path.endswith("/detection/table"):
                body = bytearray(await r.aread())
                body[-5] ^= 0x01  # one bit of one slot
                return httpx.Response(r.status_code, headers=r.headers, content=bytes(body))
            return r

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        attach_private_check(alice, pinned_key, transport=Tamper(), min_threshold=THRESHOLD)
        with pytest.raises(TableRejectedError, match="failed verification"):
            await alice.send_image("bob", innocent[0].read_bytes())
        attach_private_check(alice, "11" * 32, transport=transport, min_threshold=THRESHOLD)
        with pytest.raises(TableRejectedError, match="failed verification"):
            await alice.send_image("bob", innocent[0].read_bytes())
        with pytest.raises(TableRejectedError, match="not a 32-byte hex"):
            attach_private_check(alice, "zz", transport=transport)
        # A relay asking for a lower threshold than the client accepts is refused too.
        attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD + 1)
        with pytest.raises(TableRejectedError, match="below this client's minimum"):
            await alice.send_image("bob", innocent[0].read_bytes())
        assert await bob.receive() == []  # nothing was sent
        await alice.send_text("bob", "text is unaffected")
        assert [m.body for m in await bob.receive()] == ["text is unaffected"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_malformed_and_replayed_vouchers_are_4xx_and_counted(
    tmp_path: Path, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    posted: list[bytes] = []

    class Record(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/detection/vouchers"):
                posted.append(await request.aread())
            return await transport.handle_async_request(request)

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        attach_private_check(alice, pinned_key, transport=Record(), min_threshold=THRESHOLD)
        await alice.send_image("bob", innocent[0].read_bytes())
        assert len(posted) == 1
        auth = {"Authorization": f"Bearer {alice.state['token']}"}
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as c:
            url = "/relay/v1/detection/vouchers"
            r = await c.post(url, content=posted[0], headers=auth)
            assert r.status_code == 409 and "DuplicateVoucherError" in r.text
            r = await c.post(url, content=b"garbage", headers=auth)
            assert r.status_code == 400 and "Error" in r.json()["detail"]
            r = await c.post(url, content=posted[0][:-1], headers=auth)
            assert r.status_code == 400
            r = await c.post(url, content=posted[0] + b"x" * 10, headers=auth)
            assert r.status_code == 413
            r = await c.post(url, content=posted[0])  # no device token
            assert r.status_code == 401
            assert (await c.get("/relay/v1/detection/events")).status_code == 401
            assert (await c.get("/relay/v1/detection/stats")).status_code == 401
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
    counters = _get(transport, "/stats", MOD)["counters"]
    assert counters["received"] == 4  # the good one, the replay, and two malformed (the oversize never arrived)
    assert counters["rejected_DuplicateVoucherError"] == 1
    assert sum(v for k, v in counters.items() if k.startswith("rejected_")) == 3


def test_list_change_rebuilds_table_and_client_follows(
    tmp_path: Path, app: FastAPI, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    from blindmatch.lists.model import make_entry

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        await alice.send_image("bob", innocent[0].read_bytes())
        v1 = check.state.data["min_list_version"]
        store = app.state.blindmatch.services["store"]
        store.add_entries(LIST, [make_entry(list_name=LIST, signal_type="pdq", value="ab" * 32, entry_id="new")])
        # The client still holds the old table; its voucher is refused as WrongTable, it re-fetches and resends.
        await alice.send_image("bob", innocent[1].read_bytes())
        assert check.state.data["min_list_version"] == v1 + 1
        assert check.state.data["counters"]["vouchers_sent"] == 2
        assert len(await bob.receive()) == 2
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
    stats = _get(transport, "/stats", MOD)
    assert stats["counters"]["rejected_WrongTableError"] == 1
    assert stats["table"]["entries"] == 13


def test_videos_send_one_voucher_each_and_count_once(
    tmp_path: Path, app: FastAPI, transport: httpx.ASGITransport, pinned_key: str, shared_data: Path
) -> None:
    from blindmatch.hashing.video_files import hash_video_file
    from blindmatch.lists.model import make_entry

    videos = shared_data / "video" / "sample-videos"
    listed = hash_video_file(videos / "chair-orig-22-sd-bar.mp4").vpdq
    store = app.state.blindmatch.services["store"]
    store.add_entries(
        LIST, [make_entry(list_name=LIST, signal_type="vpdq", value=listed.to_compact(), entry_id="chair-video")]
    )
    app.state.blindmatch.services["matcher"].refresh()
    copies = ["chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar"]
    assert len(copies) == THRESHOLD

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        await alice.send_video("bob", (videos / "doorknob-hd-no-bar.mp4").read_bytes())  # not listed
        await alice.send_video("bob", blank_video(tmp_path / "blank.mp4"))  # nothing to hash: unchecked
        counters = check.state.data["counters"]
        assert counters == {"vouchers_sent": 1, "video_vouchers_sent": 1, "not_checked": 1}
        assert not (await _aget(transport, "/events", MOD))["events"]
        # three copies of one listed video, each its own video: one voucher each, so t = 3 is crossed at the third
        for i, name in enumerate(copies):
            await alice.send_video("bob", (videos / f"{name}.mp4").read_bytes())
            events = (await _aget(transport, "/events", MOD))["events"]
            assert bool(events) == (i == THRESHOLD - 1)
        assert len(await bob.receive()) == 2 + THRESHOLD  # every video was delivered
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
    events = _get(transport, "/events", MOD)["events"]
    assert len(events) == 1 and events[0]["verified"] == THRESHOLD
    assert all(m["kind"] == "video" and m["matches"][0]["entry_id"] == "chair-video" for m in events[0]["matches"])
    # the relay asked moderation to open the case as soon as the event was recorded (after answering the voucher)
    moderation = app.state.blindmatch.services["moderation"]
    reviewer = moderation.create_staff("rita", "correct horse battery staple", "reviewer")
    [case] = moderation.queue(reviewer)
    assert case.source.value == "threshold" and case.subject_user == "alice"
    assert {m.entry_id for m in moderation.case(reviewer, case.id).matches} == {"chair-video"}


def test_media_that_cannot_be_checked_is_not_sent(
    tmp_path: Path, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    from blindmatch.messaging.detection import MediaNotCheckableError

    good = innocent[0].read_bytes()

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        with pytest.raises(MediaNotCheckableError, match="cannot hash this image"):
            await alice.send_image("bob", good[:200])  # a JPEG header with the pixels cut off
        with pytest.raises(MediaNotCheckableError, match="neither an image"):
            await alice.send_image("bob", b"not an image at all, just some bytes")
        assert await bob.receive() == []
        assert "vouchers_sent" not in check.state.data.get("counters", {})
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
