"""Synchronous entry points for ``blindmatch chat ...`` and ``blindmatch demo`` (the CLI stays thin).

Each function opens the device in ``state_dir``, does one thing, closes it, and returns plain JSON-able data;
failures are :class:`blindmatch.messaging.errors.MessagingError` subclasses with a clear message (the CLI should
print ``str(exc)`` and exit non-zero). ``transport`` lets tests and the demo run against an in-process relay.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from blindmatch.messaging.client.client import MessengerClient, ReceivedMessage
from blindmatch.messaging.client.errors import RelayAPIError
from blindmatch.messaging.detection import attach_private_check
from blindmatch.messaging.errors import ConsentRequiredError, MessagingError

__all__ = [
    "chat_add_contact",
    "chat_consent",
    "chat_conversations",
    "chat_messages",
    "chat_receive",
    "chat_register",
    "chat_report",
    "chat_send",
    "run_demo",
]

T = TypeVar("T")
Transport = httpx.AsyncBaseTransport | None


def _with_client(state_dir: Path, fn: Callable[[MessengerClient], Awaitable[T]], transport: Transport = None) -> T:
    async def run() -> T:
        client = MessengerClient.open(Path(state_dir), transport=transport)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _msg(m: ReceivedMessage) -> dict[str, Any]:
    return {
        "message_id": m.message_id,
        "conversation_id": m.conversation_id,
        "sender": m.sender,
        "kind": m.kind,
        "body": m.body,
        "seq": m.seq,
        "server_ts": m.server_ts_ms,
        "attachments": [{"mime": a.mime, "size": a.size, "sha256": a.sha256} for a in m.attachments],
    }


def chat_register(
    relay_url: str, state_dir: Path, user_id: str, device_id: str = "primary", *, transport: Transport = None
) -> dict[str, Any]:
    """Create this device's keys in ``state_dir`` and register them with the relay."""

    async def run() -> dict[str, Any]:
        c = await MessengerClient.register(relay_url, Path(state_dir), user_id, device_id, transport=transport)
        await c.aclose()
        return {"user_id": user_id, "device_id": device_id, "ed25519": c.identity.keys.ed25519}

    return asyncio.run(run())


def chat_add_contact(
    state_dir: Path, user_id: str, *, accept_new_keys: bool = False, transport: Transport = None
) -> dict[str, Any]:
    """Pin ``user_id``'s keys; returns the safety number to compare out of band."""

    async def run(c: MessengerClient) -> dict[str, Any]:
        return {"user_id": user_id, "safety_number": await c.add_contact(user_id, accept_new_keys=accept_new_keys)}

    return _with_client(state_dir, run, transport)


def chat_consent(state_dir: Path, granted: bool, *, transport: Transport = None) -> dict[str, Any]:
    """Grant (``True``) or withdraw (``False``) consent to the media policy."""

    async def run(c: MessengerClient) -> dict[str, Any]:
        return await c.set_consent(granted)

    return _with_client(state_dir, run, transport)


def chat_send(
    state_dir: Path,
    to: str,
    *,
    text: str = "",
    image: Path | None = None,
    video: Path | None = None,
    custodian_key: str | None = None,
    transport: Transport = None,
) -> dict[str, Any]:
    """Send text (links need consent), or an image/video file with ``text`` as caption (needs consent).

    With ``custodian_key`` (the list custodian's public key, hex) media first goes through private matching: the
    signed table is verified against that key and a threshold voucher is sent for the image."""
    if image is not None and video is not None:
        raise MessagingError("send either an image or a video, not both")

    async def run(c: MessengerClient) -> dict[str, Any]:
        if custodian_key is not None and (image is not None or video is not None):
            from blindmatch.messaging.detection import attach_private_check

            attach_private_check(c, custodian_key, transport=transport)
        if image is not None:
            return await c.send_image(to, Path(image).read_bytes(), mime=_mime(Path(image)), caption=text)
        if video is not None:
            return await c.send_video(to, Path(video).read_bytes(), mime="video/mp4", caption=text)
        if not text:
            raise MessagingError("nothing to send: give text, an image or a video")
        return await c.send_text(to, text)

    return _with_client(state_dir, run, transport)


def _mime(path: Path) -> str:
    return {".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}.get(path.suffix.lower(), "image/jpeg")


def chat_receive(
    state_dir: Path, *, wait_seconds: float = 0.0, save_attachments: Path | None = None, transport: Transport = None
) -> list[dict[str, Any]]:
    """Fetch pending messages (polling; with ``wait_seconds`` > 0, also listen on the WebSocket that long)."""

    async def run(c: MessengerClient) -> list[dict[str, Any]]:
        got = await c.receive()
        if wait_seconds > 0:
            got += await c.listen(until=10**9, timeout=wait_seconds)
        out = []
        for m in got:
            item = _msg(m)
            if save_attachments is not None and m.attachments:
                Path(save_attachments).mkdir(parents=True, exist_ok=True)
                target = Path(save_attachments) / f"{m.message_id}.bin"
                target.write_bytes(await c.download_attachment(m.message_id))
                item["saved"] = str(target)
            out.append(item)
        return out

    return _with_client(state_dir, run, transport)


def chat_conversations(state_dir: Path) -> list[dict[str, Any]]:
    """Conversation summaries from local state (no network)."""
    c = MessengerClient.open(Path(state_dir))
    try:
        return c.conversations()
    finally:
        asyncio.run(c.aclose())


def chat_messages(state_dir: Path, conversation_id: str) -> list[dict[str, Any]]:
    c = MessengerClient.open(Path(state_dir))
    try:
        return c.messages(conversation_id)
    finally:
        asyncio.run(c.aclose())


def chat_report(state_dir: Path, message_id: str, reason: str = "", *, transport: Transport = None) -> dict[str, Any]:
    """Report a received message (with up to 5 earlier ones from its sender), sealed to the moderation key."""

    async def run(c: MessengerClient) -> dict[str, Any]:
        return await c.report(message_id, reason)

    return _with_client(state_dir, run, transport)


def _demo_image(shared_data: Path | None) -> bytes:
    if shared_data is not None:
        found = sorted((Path(shared_data) / "images" / "innocent").glob("*.jpg"))
        if found:
            return found[0].read_bytes()
    from PIL import Image

    buf = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def _listed_images(shared_data: Path | None, limit: int) -> list[tuple[str, bytes]]:
    """Benign listed stand-ins, JPEG re-encoded (quality 70) as a sender's copy would plausibly be."""
    if shared_data is None:
        return []
    from PIL import Image

    out = []
    for path in sorted((Path(shared_data) / "images" / "listed").glob("*.jpg"))[:limit]:
        buf = io.BytesIO()
        with Image.open(path) as im:
            im.convert("RGB").save(buf, "JPEG", quality=70)
        out.append((path.name, buf.getvalue()))
    return out


def run_demo(
    workdir: Path | None = None,
    *,
    shared_data: Path | None = None,
    relay_url: str = "http://relay.local",
    transport: Transport = None,
    detection_key: str | None = None,
    moderator_key: str | None = None,
    detection_threshold: int = 3,
) -> list[dict[str, Any]]:
    """A scripted two-person conversation showing every feature; returns the steps (for the CLI to print).

    Give a running relay's ``relay_url``, or an in-process one as ``transport``
    (``blindmatch.service.routes_relay.in_process_relay(data_dir)``; messaging does not import the service).
    With ``detection_key`` (the custodian key to pin) and ``moderator_key`` (the relay's service API key) the demo
    also shows private detection: alice sends listed stand-ins from ``shared_data`` until the relay's threshold
    (``detection_threshold``, which must be what the relay runs with) is crossed
    (``blindmatch.service.routes_detection.demo_detection_relay`` builds such a relay).
    """
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="blindmatch-demo-"))
    url = relay_url
    steps: list[dict[str, Any]] = []

    def step(what: str, **data: Any) -> None:
        steps.append({"step": what, **data})

    async def run() -> None:
        alice = await MessengerClient.register(url, base / "alice", "alice", transport=transport)
        bob = await MessengerClient.register(url, base / "bob", "bob", transport=transport)
        step("registered", users=["alice", "bob"])
        n1, n2 = await alice.add_contact("bob"), await bob.add_contact("alice")
        step("safety numbers compared", alice_sees=n1, bob_sees=n2, match=n1 == n2)
        await alice.send_text("bob", "Hi Bob! Lunch tomorrow?")
        image = _demo_image(shared_data)
        try:
            await alice.send_image("bob", image)
        except ConsentRequiredError as exc:
            step("image refused in no-media mode", error=str(exc))
        await alice.set_consent(True)
        step("alice consented to the media policy")
        await alice.send_image("bob", image, caption="the view from here")
        await alice.send_text("bob", "you are worthless and everyone hates you")
        got = await bob.receive()
        step("bob received", messages=[{"kind": m.kind, "body": m.body} for m in got])
        photo = next(m for m in got if m.kind == "image")
        same = await bob.download_attachment(photo.message_id) == image
        step("bob decrypted the image", bytes=len(image), identical=same)
        report = await bob.report(got[-1].message_id, "harassment")
        step("bob reported the last message; relay verified franking", **report)
        for m in bob.state["messages"]:
            if m["message_id"] == got[-1].message_id:
                m["franked"]["payload"]["body"] = "I never said this"
        try:
            await bob.report(got[-1].message_id, "altered")
        except RelayAPIError as exc:
            step("an altered report is rejected", status=exc.status, error=exc.detail)
        if detection_key is not None and moderator_key is not None:
            await _demo_detection(alice, bob, detection_key, moderator_key, detection_threshold)
        else:
            step("private detection not shown", reason="no custodian key / moderator key given to the demo")
        await alice.aclose()
        await bob.aclose()

    async def _demo_detection(
        alice: MessengerClient, bob: MessengerClient, key: str, mod_key: str, threshold: int
    ) -> None:
        attach_private_check(alice, key, transport=transport, min_threshold=threshold)
        listed = _listed_images(shared_data, 4 * threshold)
        if not listed:
            step("private detection not shown", reason="no listed stand-in images found in shared_data")
            return
        mod = {"Authorization": f"Bearer {mod_key}"}
        async with httpx.AsyncClient(base_url=url, transport=transport) as http:

            async def moderator(path: str) -> Any:
                r = await http.get("/relay/v1/detection" + path, headers=mod)
                r.raise_for_status()
                return r.json()

            sent: list[str] = []
            events: list[Any] = []
            for name, data in listed:
                await alice.send_image("bob", data, caption="")
                sent.append(name)
                events = (await moderator("/events"))["events"]
                if events:
                    break
            stats = await moderator("/stats")
        got = await bob.receive()
        step(
            "alice sent listed stand-ins (JPEG re-encoded), each preceded by a voucher",
            images=sent,
            bob_received=len(got),
        )
        step(
            "what the relay saw",
            vouchers_received=stats["counters"].get("received", 0),
            vouchers_opened=stats["counters"].get("opened", 0),
            threshold=threshold,
            table_entries=stats["table"]["entries"],
        )
        if not events:
            step("no threshold event", reason=f"the threshold was not crossed after {len(sent)} listed images")
            return
        ev = events[0]
        step(
            "threshold event recorded for moderation",
            account=ev["account"],
            verified=ev["verified"],
            collisions=ev["collisions"],
            synthetic=ev["synthetic"],
            entries=[m["entry_id"] for v in ev["matches"] for m in v["matches"]],
        )

    asyncio.run(run())
    step("state kept in", path=str(base))
    return steps
