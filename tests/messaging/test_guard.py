"""The account guard: a blocked account cannot send (HTTP or WebSocket) or upload, but still receives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blindmatch.messaging.client import MessengerClient, RelayAPIError

BASE = "http://relay.test"


def _guard(user_id: str) -> str | None:
    return "case 17: confirmed listed images" if user_id == "mallory" else None


def test_blocked_account_cannot_send_or_upload_but_receives(
    tmp_path: Path, relay_app: FastAPI, transport: httpx.ASGITransport
) -> None:
    async def run() -> str:
        mallory = await MessengerClient.register(BASE, tmp_path / "m", "mallory", transport=transport)
        bob = await MessengerClient.register(BASE, tmp_path / "b", "bob", transport=transport)
        await mallory.add_contact("bob")
        await bob.add_contact("mallory")
        await mallory.set_consent(True)
        await mallory.send_text("bob", "before the block")
        relay_app.state.blindmatch.services["account_guard"] = _guard
        try:
            await mallory.send_text("bob", "after the block")
            raise AssertionError("a blocked account could send")
        except RelayAPIError as exc:
            assert exc.status == 403 and exc.detail.startswith("AccountBlocked: ")
            assert "case 17" in exc.detail
        try:
            await mallory.send_image("bob", b"\xff\xd8\xff" + b"\x00" * 100)
            raise AssertionError("a blocked account could upload")
        except RelayAPIError as exc:
            assert exc.status == 403 and "AccountBlocked" in exc.detail
        # The answer names the error as JSON, as the moderation side and other clients expect.
        r = await mallory.api._client.post(
            "/relay/v1/messages", headers=mallory.api._headers(), json={"message_id": "x"}
        )
        assert r.status_code == 403
        assert r.json()["error"] == "AccountBlocked" and r.json()["reason"] == "case 17: confirmed listed images"
        # Receiving still works (notices and appeals), and other accounts are unaffected.
        await bob.send_text("mallory", "you can still read this")
        assert [m.body for m in await mallory.receive()] == ["you can still read this"]
        assert [m.body for m in await bob.receive()] == ["before the block"]
        token = str(mallory.state["token"])
        await mallory.aclose()
        await bob.aclose()
        return token

    token = asyncio.run(run())
    with TestClient(relay_app) as client, client.websocket_connect("/relay/v1/ws") as ws:
        ws.send_text(json.dumps({"token": token}))
        assert json.loads(ws.receive_text())["ready"] is True
        ws.send_text(json.dumps({"ref": 1, "send": {"message_id": "m"}}))
        reply = json.loads(ws.receive_text())
        assert reply["error"] == "AccountBlocked" and reply["status"] == 403 and reply["ref"] == 1


def test_no_guard_and_guard_returning_none_allow(
    tmp_path: Path, relay_app: FastAPI, transport: httpx.ASGITransport
) -> None:
    async def run() -> None:
        alice = await MessengerClient.register(BASE, tmp_path / "a", "alice", transport=transport)
        bob = await MessengerClient.register(BASE, tmp_path / "b", "bob", transport=transport)
        await alice.add_contact("bob")
        relay_app.state.blindmatch.services["account_guard"] = _guard
        await alice.send_text("bob", "fine")
        assert [m.body for m in await bob.receive()] == ["fine"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
