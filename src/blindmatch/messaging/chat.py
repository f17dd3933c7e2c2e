"""Synchronous entry points for ``blindmatch chat ...`` and ``blindmatch demo`` (the CLI stays thin).

Each function opens the device in ``state_dir``, does one thing, closes it, and returns plain JSON-able data;
failures are :class:`blindmatch.messaging.errors.MessagingError` subclasses with a clear message (the CLI should
print ``str(exc)`` and exit non-zero). ``transport`` lets tests and the demo run against an in-process relay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from blindmatch.messaging.client.client import MessengerClient, ReceivedMessage
from blindmatch.messaging.demo import run_demo
from blindmatch.messaging.errors import MessagingError

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


def chat_notices(state_dir: Path, *, transport: Transport = None) -> list[dict[str, Any]]:
    """The provider's statements of reasons for actions on this account (with appeal windows)."""

    async def run(c: MessengerClient) -> list[dict[str, Any]]:
        return await c.notices()

    return _with_client(state_dir, run, transport)


def chat_appeal(state_dir: Path, action_id: int, text: str, *, transport: Transport = None) -> dict[str, Any]:
    """Appeal an action on this account (decided by a reviewer who took no part in it)."""

    async def run(c: MessengerClient) -> dict[str, Any]:
        return await c.appeal(action_id, text)

    return _with_client(state_dir, run, transport)


def chat_report(state_dir: Path, message_id: str, reason: str = "", *, transport: Transport = None) -> dict[str, Any]:
    """Report a received message (with up to 5 earlier ones from its sender), sealed to the moderation key."""

    async def run(c: MessengerClient) -> dict[str, Any]:
        return await c.report(message_id, reason)

    return _with_client(state_dir, run, transport)
