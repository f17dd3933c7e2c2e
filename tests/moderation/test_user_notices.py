"""The user's side of enforcement through the client SDK: the statement of reasons arrives once released, the user
appeals it, a different supervisor reverses it, and the account can send again."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from blindmatch.messaging.client import MessengerClient, RelayAPIError
from blindmatch.messaging.errors import MessagingError
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.moderation import ModerationService

from .conftest import PASSWORD, match

BASE = "http://relay.test"


def _png() -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def test_notice_appeal_and_reversal_through_the_sdk(tmp_path: Path, db_url: str) -> None:
    extra = {"relay_attachment_receipts": "off", "moderation_scrypt_n": "1024"}
    app = create_app(Settings(data_dir=tmp_path / "var", database_url=db_url, api_keys=("k",), extra=extra))
    mod = app.state.blindmatch.services["moderation"]
    assert isinstance(mod, ModerationService)
    transport = httpx.ASGITransport(app=app)
    rita, sam = mod.create_staff("rita", PASSWORD, "reviewer"), mod.create_staff("sam", PASSWORD, "supervisor")
    cid = mod.open_from_scan(_png(), "upload.png", [match()], subject_user="alice")
    mod.decide(rita, cid, "confirm", "the listed stand-in")

    async def run() -> None:
        alice = await MessengerClient.register(BASE, tmp_path / "alice", "alice", transport=transport)
        bob = await MessengerClient.register(BASE, tmp_path / "bob", "bob", transport=transport)
        await alice.add_contact("bob")
        assert await alice.notices() == []
        act = mod.enforce(rita, cid, "ban", facts="uploaded a listed image", grounds="terms of service 4.2")
        with pytest.raises(RelayAPIError, match="AccountBlocked"):
            await alice.send_text("bob", "still here?")
        [notice] = await alice.notices()
        assert notice["action_id"] == act.id and notice["statement_of_reasons"]["facts"] == "uploaded a listed image"
        with pytest.raises(MessagingError, match="needs a text"):
            await alice.appeal(act.id, "  ")
        appeal = await alice.appeal(act.id, "that was a photo of my own garden")
        assert appeal["outcome"] is None
        with pytest.raises(RelayAPIError):  # bob cannot appeal alice's ban
            await bob.appeal(act.id, "me too")
        [pending] = mod.appeals(sam)
        mod.decide_appeal(sam, pending.id, "reverse", "not the listed item")
        await alice.send_text("bob", "back again")
        assert [m.body for m in await bob.receive()] == ["back again"]
        [notice] = await alice.notices()
        assert notice["appeals"][0]["outcome"] == "reverse" and notice["active"] is False
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
