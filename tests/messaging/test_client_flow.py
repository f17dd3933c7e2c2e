"""End-to-end through the SDK and the relay (in-process ASGI): register, contacts, text, media, consent, reports."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import httpx
import pytest

from blindmatch.messaging.client import (
    ContactError,
    IdentityChangedError,
    MessengerClient,
    RelayAPIError,
    contains_link,
)
from blindmatch.messaging.errors import ConsentRequiredError

BASE = "http://relay.test"


async def _pair(tmp_path: Path, transport: httpx.ASGITransport) -> tuple[MessengerClient, MessengerClient]:
    alice = await MessengerClient.register(BASE, tmp_path / "alice", "alice", transport=transport)
    bob = await MessengerClient.register(BASE, tmp_path / "bob", "bob", transport=transport)
    n1 = await alice.add_contact("bob")
    n2 = await bob.add_contact("alice")
    assert n1 == n2
    return alice, bob


def test_text_roundtrip_ordering_and_persistence(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        for i in range(5):
            await alice.send_text("bob", f"hello {i}")
        got = await bob.receive()
        assert [m.body for m in got] == [f"hello {i}" for i in range(5)]
        assert [m.seq for m in got] == [1, 2, 3, 4, 5]
        assert await bob.receive() == []  # acked: nothing redelivered
        await bob.send_text("alice", "hi alice")  # reply uses the session bob created on receipt
        assert [m.body for m in await alice.receive()] == ["hi alice"]
        conv = alice.conversations()
        assert conv[0]["peer"] == "bob" and conv[0]["messages"] == 6
        assert [m["body"] for m in bob.messages(conv[0]["conversation_id"])][-1] == "hi alice"
        await alice.aclose()
        await bob.aclose()
        # Restart both devices from their encrypted local state; the sessions continue.
        alice2 = MessengerClient.open(tmp_path / "alice", transport=transport)
        bob2 = MessengerClient.open(tmp_path / "bob", transport=transport)
        await alice2.send_text("bob", "after restart")
        assert [m.body for m in await bob2.receive()] == ["after restart"]
        assert b"after restart" not in (tmp_path / "bob" / "state.bin").read_bytes()
        await alice2.aclose()
        await bob2.aclose()

    asyncio.run(run())


def test_no_media_mode_and_consent(tmp_path: Path, transport: httpx.ASGITransport, shared_data: Path) -> None:
    image = sorted((shared_data / "images" / "innocent").glob("*.jpg"))[0].read_bytes()

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        for attempt in (
            alice.send_image("bob", image),
            alice.send_video("bob", b"\x00\x00\x00\x18ftypmp42"),
            alice.send_text("bob", "look at https://example.org/x"),
            alice.send_text("bob", "or www.example.com"),
            alice.send_link("bob", "plain"),
        ):
            with pytest.raises(ConsentRequiredError, match="consent"):
                await attempt
        await alice.send_text("bob", "text still works")
        # The relay enforces it too: a client bypassing its own check cannot upload a blob.
        with pytest.raises(RelayAPIError) as err:
            await alice.api.upload(b"ciphertext")
        assert err.value.status == 403
        status = await alice.set_consent(True)
        assert status["granted"] is True
        await alice.send_image("bob", image, caption="a photo")
        await alice.send_text("bob", "see https://example.org/page")
        got = await bob.receive()
        assert [m.kind for m in got] == ["text", "image", "link"]
        assert await bob.download_attachment(got[1].message_id) == image
        assert got[1].attachments[0].sha256 and got[1].body == "a photo"
        consent = await alice.consent_status()
        assert consent["granted"] and consent["policy_version"] == consent["current_policy"] and consent["at"]
        await alice.set_consent(False)  # withdrawal
        with pytest.raises(ConsentRequiredError):
            await alice.send_image("bob", image)
        with pytest.raises(RelayAPIError):
            await alice.api.upload(b"ciphertext")
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_media_hook_is_called_and_can_block(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    seen: list[bytes] = []

    class Blocked(Exception):
        pass

    def check(data: bytes) -> None:
        seen.append(data)
        if data.startswith(b"BLOCK"):
            raise Blocked("matched")

    async def run() -> None:
        alice = await MessengerClient.register(BASE, tmp_path / "a", "alice", transport=transport, media_check=check)
        await MessengerClient.register(BASE, tmp_path / "b", "bob", transport=transport)
        await alice.add_contact("bob")
        await alice.set_consent(True)
        await alice.send_image("bob", b"fine image")
        with pytest.raises(Blocked):
            await alice.send_image("bob", b"BLOCK me")
        assert seen == [b"fine image", b"BLOCK me"]
        await alice.aclose()

    asyncio.run(run())


def test_reports_with_context_and_forgery_rejected(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        for i in range(8):
            await alice.send_text("bob", f"msg {i}")
        got = await bob.receive()
        out = await bob.report(got[-1].message_id, "harassment")
        assert out["sender"] == "alice" and out["messages"] == 6  # reported + last 5
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as admin:
            assert (await admin.get("/relay/v1/moderation/reports")).status_code == 401
            r = await admin.get("/relay/v1/moderation/reports", headers={"X-API-Key": "mod-key"})
            [rep] = r.json()["reports"]
            assert rep["reported"]["body"] == "msg 7" and rep["reason"] == "harassment"
            assert [m["body"] for m in rep["context"]] == [f"msg {i}" for i in range(2, 7)]
        with pytest.raises(ContactError):
            await alice.report(got[-1].message_id)  # alice never received it
        # Bob alters the stored text before reporting: the relay rejects the report.
        for m in bob.state["messages"]:
            if m["message_id"] == got[0].message_id:
                m["franked"]["payload"]["body"] = "something alice never wrote"
        with pytest.raises(RelayAPIError) as err:
            await bob.report(got[0].message_id)
        assert err.value.status == 422 and "franking" in err.value.detail
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_identity_change_and_unknown_contact(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        with pytest.raises(ContactError):
            await alice.add_contact("nobody")
        with pytest.raises(ContactError):
            await alice.send_text("carol", "hi")
        # Tamper with the pinned key: the relay's answer now differs from the pin.
        pinned = alice.state["contacts"]["bob"]["devices"][0]
        pinned["ed25519"] = alice.identity.keys.ed25519
        with pytest.raises(IdentityChangedError):
            await alice.add_contact("bob")
        number = await alice.add_contact("bob", accept_new_keys=True)
        alice.mark_verified("bob", number)
        with pytest.raises(IdentityChangedError):
            alice.mark_verified("bob", "0" * 60)
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_link_detection() -> None:
    for text in [
        "https://x.org",
        "http://10.0.0.1/a",
        "visit www.example.com today",
        "example.com/path",
        "bit.ly",
        "ftp://files",
        "see foo.de",
    ]:
        assert contains_link(text), text
    for text in ["hello there", "3.14 is pi", "meet at 10.30", "e.g. this", "ok...fine"]:
        assert not contains_link(text), text


def test_groups_with_megolm(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        carol = await MessengerClient.register(BASE, tmp_path / "carol", "carol", transport=transport)
        gid = await alice.create_group("picnic", ["bob", "carol"])
        await alice.send_text(gid, "bring cake")
        for member in (bob, carol):
            got = await member.receive()
            assert [(m.body, m.conversation_id, m.sender) for m in got] == [("bring cake", gid, "alice")]
            assert member.groups()[gid]["members"] == ["alice", "bob", "carol"]
        # A member answers with their own Megolm session (shared on first send), seen by everyone else.
        await bob.send_text(gid, "on it")
        assert [m.body for m in await alice.receive()] == ["on it"]
        assert [m.body for m in await carol.receive()] == ["on it"]
        # Group messages are franked and reportable like 1:1 ones; restart keeps the Megolm state.
        await carol.aclose()
        carol2 = MessengerClient.open(tmp_path / "carol", transport=transport)
        await alice.send_text(gid, "see you at noon")
        got = await carol2.receive()
        assert [m.body for m in got] == ["see you at noon"]
        rep = await carol2.report(got[0].message_id, "test")
        assert rep["sender"] == "alice" and rep["messages"] == 2
        # Links and media in groups need consent too.
        with pytest.raises(ConsentRequiredError):
            await bob.send_text(gid, "https://example.org")
        assert not alice.state["rejected"] and not carol2.state["rejected"]
        for c in (alice, bob, carol2):
            await c.aclose()

    asyncio.run(run())


def test_simultaneous_session_start(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        await alice.send_text("bob", "a1")  # both start an Olm session before hearing from the other
        await bob.send_text("alice", "b1")
        assert [m.body for m in await bob.receive()] == ["a1"]
        assert [m.body for m in await alice.receive()] == ["b1"]
        for i in range(3):
            await alice.send_text("bob", f"a{i + 2}")
            await bob.send_text("alice", f"b{i + 2}")
        assert [m.body for m in await bob.receive()] == ["a2", "a3", "a4"]
        assert [m.body for m in await alice.receive()] == ["b2", "b3", "b4"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_recipient_rejects_message_not_matching_its_commitment(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    from blindmatch.messaging.crypto.encoding import b64e
    from blindmatch.messaging.crypto.envelope import encode_payload
    from blindmatch.messaging.crypto.franking import commitment

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        # A cheating sender commits to one text but encrypts another (so a report would "prove" the wrong one).
        shown = alice._payload("dm:alice:bob", "bob", "text", "something abusive")
        committed = dataclasses.replace(shown, body="something harmless")
        copies = await alice._olm_copies(alice._contact_devices("bob"), encode_payload(shown))
        req = {
            "message_id": shown.message_id,
            "conversation_id": "dm:alice:bob",
            "commitment": b64e(commitment(committed)),
            "recipients": copies,
        }
        await alice._post_idempotent(req)
        await alice.send_text("bob", "honest message")
        got = await bob.receive()
        assert [m.body for m in got] == ["honest message"]
        assert len(bob.state["rejected"]) == 1 and "FrankingError" in bob.state["rejected"][0]["reason"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_messages_reach_every_device_of_the_recipient(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        with pytest.raises(RelayAPIError) as err:  # nobody can add a device to bob's account but bob
            await MessengerClient.register(BASE, tmp_path / "evil", "bob", "laptop", transport=transport)
        assert err.value.status == 409
        laptop = await MessengerClient.register(
            BASE, tmp_path / "bob2", "bob", "laptop", transport=transport, linked_from=bob
        )
        before = alice.safety_number("bob")
        alice.mark_verified("bob", before)
        after = await alice.add_contact("bob")  # picks up the new device: new safety number, verification reset
        assert after != before and alice.state["contacts"]["bob"]["verified"] is False
        await alice.send_text("bob", "to all of bob's devices")
        assert [m.body for m in await bob.receive()] == ["to all of bob's devices"]
        assert [m.body for m in await laptop.receive()] == ["to all of bob's devices"]
        await laptop.send_text("alice", "from the laptop")
        assert [m.body for m in await alice.receive()] == ["from the laptop"]
        for c in (alice, bob, laptop):
            await c.aclose()

    asyncio.run(run())


def test_client_rejects_tampered_or_replayed_deliveries(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    from blindmatch.messaging.crypto.encoding import b64e
    from blindmatch.messaging.crypto.envelope import decode_envelope, encode_envelope
    from blindmatch.messaging.relay import Delivery

    async def fresh(alice: MessengerClient, bob: MessengerClient, text: str) -> Delivery:
        await alice.send_text("bob", text)
        [raw] = (await bob.api.call("GET", "/inbox"))["deliveries"]
        await bob.api.call("POST", "/inbox/ack", json={"delivery_ids": [raw["delivery_id"]]})
        return Delivery.from_json(raw)

    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        await MessengerClient.register(BASE, tmp_path / "carol", "carol", "d1", transport=transport)
        d = await fresh(alice, bob, "genuine")
        env = decode_envelope(d.envelope)
        before_decrypt = [
            dataclasses.replace(d, recipient="carol"),  # not addressed to bob
            dataclasses.replace(d, sender="carol", sender_device="d1"),  # relay re-attributes the message
            dataclasses.replace(d, envelope=encode_envelope(dataclasses.replace(env, sender_key=b64e(b"\x02" * 32)))),
        ]
        for i, h in enumerate(before_decrypt):
            assert await bob._process([dataclasses.replace(h, message_id=f"x{i}")]) == []
        assert len(bob.state["rejected"]) == 3
        assert [m.body for m in await bob._process([d])] == ["genuine"]
        # The relay replays the same ciphertext under a new message id: Olm refuses the replay.
        assert await bob._process([dataclasses.replace(d, message_id="replay")]) == []
        assert "replay" in bob.state["rejected"][-1]["delivery"]
        # Metadata the relay alters after decryption is possible: caught by the payload and franking checks.
        for tamper in ({"conversation_id": "dm:bob:carol"}, {"commitment": b"\x00" * 32}, {"message_id": "other"}):
            h = dataclasses.replace(await fresh(alice, bob, "x"), **tamper)  # type: ignore[arg-type]
            assert await bob._process([h]) == []
        assert len(bob.state["rejected"]) == 7
        assert [m["body"] for m in bob.messages("dm:alice:bob")] == ["genuine"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def test_linked_devices_get_copies_of_what_the_user_sends(tmp_path: Path, transport: httpx.ASGITransport) -> None:
    async def run() -> None:
        alice, bob = await _pair(tmp_path, transport)
        laptop = await MessengerClient.register(
            BASE, tmp_path / "alice2", "alice", "laptop", transport=transport, linked_from=alice
        )
        await laptop.add_contact("bob")
        await alice.receive()  # refreshes alice's own device list
        await bob.add_contact("alice")  # bob learns the new device
        await alice.send_text("bob", "sent from the phone")
        assert [m.body for m in await bob.receive()] == ["sent from the phone"]
        got = await laptop.receive()
        assert [(m.body, m.sender) for m in got] == [("sent from the phone", "alice")]
        [conv] = laptop.conversations()
        assert conv["peer"] == "bob" and laptop.messages(conv["conversation_id"])[0]["dir"] == "out"
        await bob.send_text("alice", "reply to both")
        assert [m.body for m in await alice.receive()] == ["reply to both"]
        assert [m.body for m in await laptop.receive()] == ["reply to both"]
        # Groups: the phone's Megolm key reaches the laptop too, and group messages are mirrored.
        gid = await alice.create_group("trip", ["bob"])
        await alice.send_text(gid, "group hello")
        assert [m.body for m in await laptop.receive()] == ["group hello"]
        assert [m.body for m in await bob.receive()] == ["group hello"]
        with pytest.raises(ContactError):
            await alice.send_text("alice", "note to self")
        for c in (alice, bob, laptop):
            assert not c.state["rejected"], c.state["rejected"]
            await c.aclose()

    asyncio.run(run())
