"""The synchronous functions the CLI wires (``blindmatch chat ...``, ``blindmatch demo``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindmatch.messaging.chat import (
    chat_add_contact,
    chat_consent,
    chat_conversations,
    chat_messages,
    chat_receive,
    chat_register,
    chat_report,
    chat_send,
    run_demo,
)
from blindmatch.messaging.client import StateError
from blindmatch.messaging.errors import ConsentRequiredError, MessagingError
from blindmatch.service.routes_relay import in_process_relay


def test_chat_commands(tmp_path: Path, shared_data: Path) -> None:
    t = in_process_relay(tmp_path / "relay")
    a, b = tmp_path / "a", tmp_path / "b"
    chat_register("http://relay", a, "alice", transport=t)
    chat_register("http://relay", b, "bob", transport=t)
    with pytest.raises(StateError):
        chat_register("http://relay", a, "alice", transport=t)
    n = chat_add_contact(a, "bob", transport=t)["safety_number"]
    assert chat_add_contact(b, "alice", transport=t)["safety_number"] == n
    chat_send(a, "bob", text="hello bob", transport=t)
    image = sorted((shared_data / "images" / "innocent").glob("*.jpg"))[0]
    with pytest.raises(ConsentRequiredError):
        chat_send(a, "bob", image=image, transport=t)
    with pytest.raises(MessagingError):
        chat_send(a, "bob", transport=t)
    chat_consent(a, True, transport=t)
    chat_send(a, "bob", image=image, text="photo", transport=t)
    got = chat_receive(b, save_attachments=tmp_path / "saved", transport=t)
    assert [m["kind"] for m in got] == ["text", "image"]
    assert Path(got[1]["saved"]).read_bytes() == image.read_bytes()
    conv = chat_conversations(b)
    assert conv[0]["peer"] == "alice" and conv[0]["messages"] == 2
    assert [m["body"] for m in chat_messages(b, conv[0]["conversation_id"])] == ["hello bob", "photo"]
    rep = chat_report(b, got[0]["message_id"], "spam", transport=t)
    assert rep["sender"] == "alice"
    with pytest.raises(StateError):
        chat_conversations(tmp_path / "nobody")


def test_demo_runs_end_to_end(tmp_path: Path, shared_data: Path) -> None:
    steps = run_demo(tmp_path / "demo", shared_data=shared_data, transport=in_process_relay(tmp_path / "relay"))
    by = {s["step"]: s for s in steps}
    assert by["safety numbers compared (alice and bob)"]["match"] is True
    assert "consent" in by["image refused in no-media mode"]["error"]
    assert by["bob received and decrypted"]["identical"] is True
    # the reported message and alice's earlier ones to bob: a text, a photo, and her message in the group
    assert by["bob reported alice's message; the relay checked franking before accepting"]["messages"] == 4
    assert by["an altered report is rejected"]["status"] == 422


def test_benchmark_smoke(tmp_path: Path) -> None:
    from blindmatch.messaging.bench import bench_messaging

    out = bench_messaging(5, transport=in_process_relay(tmp_path / "relay"), workdir=tmp_path, image_bytes=10_000)
    assert (out["messages"], out["received"], out["image_intact"]) == (5, 5, True)
    assert out["send_p50_ms"] > 0 and out["send_p95_ms"] >= out["send_p50_ms"]


def test_franking_key_rotation_keeps_old_reports_verifiable(tmp_path: Path) -> None:
    import asyncio

    from blindmatch.messaging.client import MessengerClient
    from blindmatch.service.routes_relay import rotate_franking_key

    data = tmp_path / "relay"

    async def run() -> None:
        t = in_process_relay(data)
        a = await MessengerClient.register("http://r", tmp_path / "a", "alice", transport=t)
        b = await MessengerClient.register("http://r", tmp_path / "b", "bob", transport=t)
        await a.add_contact("bob")
        await a.send_text("bob", "before rotation")
        [old] = await b.receive()
        await a.aclose()
        await b.aclose()
        kid = rotate_franking_key(data)
        t2 = in_process_relay(data)  # "restart" on the same data dir with the rotated ring
        a2 = MessengerClient.open(tmp_path / "a", transport=t2)
        b2 = MessengerClient.open(tmp_path / "b", transport=t2)
        await a2.send_text("bob", "after rotation")
        [new] = await b2.receive()
        franked = {m["message_id"]: m["franked"] for m in b2.state["messages"] if m["dir"] == "in"}
        assert franked[new.message_id]["kid"] == kid != franked[old.message_id]["kid"]
        assert (await b2.report(old.message_id))["messages"] == 1  # old tag still verifies
        assert (await b2.report(new.message_id))["messages"] == 2
        await a2.aclose()
        await b2.aclose()

    asyncio.run(run())
