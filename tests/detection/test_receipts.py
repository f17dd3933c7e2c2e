"""Attachment gating: the relay stores an upload only with an unused receipt earned by a voucher (or /unchecked)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from blindmatch.messaging.client import MessengerClient, RelayAPIError
from blindmatch.messaging.crypto.encoding import b64e
from blindmatch.messaging.detection import attach_private_check
from blindmatch.messaging.receipts import (
    RECEIPT_HEADER,
    ReceiptError,
    ReceiptIssuer,
    blind_receipt,
    receipt_blob_id,
    unblind_receipt,
)

from .conftest import MOD_KEY, THRESHOLD, blank_video

BASE = "http://relay.test"


def test_receipt_crypto_roundtrip_and_rejections() -> None:
    issuer, other = ReceiptIssuer.generate(), ReceiptIssuer.generate()
    pending = blind_receipt()
    answer = issuer.issue(pending.request)
    receipt = unblind_receipt(pending, answer, issuer.public_key)
    assert issuer.check(receipt) == receipt_blob_id(pending.token)
    assert pending.request not in receipt and answer[:32] not in receipt  # what the relay saw is not what it gets
    with pytest.raises(ReceiptError):  # an answer under a key other than the pinned one is refused
        unblind_receipt(pending, other.issue(pending.request), issuer.public_key)
    with pytest.raises(ReceiptError):
        other.check(receipt)
    with pytest.raises(ReceiptError):
        issuer.check(receipt[:32] + os.urandom(32))
    with pytest.raises(ReceiptError):
        issuer.issue(b"\x00" * 32)


async def _client(tmp_path: Path, transport: httpx.AsyncBaseTransport, name: str) -> MessengerClient:
    c = await MessengerClient.register(BASE, tmp_path / name, name, transport=transport)
    if name != "bob":
        await c.add_contact("bob")  # bob is registered first; he pins alice when her first message arrives
    return c


async def _upload(c: MessengerClient, receipt: str | None) -> httpx.Response:
    headers = c.api._headers() | ({RECEIPT_HEADER: receipt} if receipt else {})
    return await c.api._client.post("/relay/v1/attachments", content=b"ciphertext" * 10, headers=headers)


def test_uploads_need_a_fresh_receipt_from_a_voucher(
    tmp_path: Path, app: FastAPI, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    async def run() -> None:
        bob = await _client(tmp_path, transport, "bob")
        alice = await _client(tmp_path, transport, "alice")
        await alice.set_consent(True)
        photo = innocent[0].read_bytes()
        # A client without the media check has no receipt: the relay refuses the upload.
        with pytest.raises(RelayAPIError) as refused:
            await alice.send_image("bob", photo)
        assert refused.value.status == 403 and refused.value.detail.startswith("ReceiptRequired")
        # With the check, the voucher earns a receipt and the image goes through.
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        receipts: list[str] = []
        inner = alice.media_check

        def spy(data: bytes) -> str | None:
            r = inner(data)
            assert r is not None
            receipts.append(r)
            return r

        alice.media_check = spy
        await alice.send_image("bob", photo)
        [got] = await bob.receive()
        assert await bob.download_attachment(got.message_id) == photo
        assert check.state.data["receipt_key"]  # pinned on first use
        # The same receipt cannot be used twice; a made-up one is refused.
        r = await _upload(alice, receipts[0])
        assert r.status_code == 409 and "ReceiptUsed" in r.text
        forged = b64e(os.urandom(32) + (await _upload_key(transport)))
        r = await _upload(alice, forged)
        assert r.status_code == 403 and "ReceiptInvalid" in r.text
        r = await _upload(alice, "not base64 !!")
        assert r.status_code == 403 and "ReceiptInvalid" in r.text
        # A receipt is bound to this relay's key, not to an account: but it only counts once, whoever uses it.
        await bob.set_consent(True)
        pending = blind_receipt()
        answer = await _voucherless_receipt(alice, pending.request)
        assert answer is not None
        key = await _upload_key(transport)
        receipt = b64e(unblind_receipt(pending, answer, key))
        assert (await _upload(bob, receipt)).status_code == 201
        assert (await _upload(alice, receipt)).status_code == 409
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


async def _upload_key(transport: httpx.AsyncBaseTransport) -> bytes:
    from blindmatch.messaging.crypto.encoding import b64d

    async with httpx.AsyncClient(base_url=BASE, transport=transport) as c:
        r = await c.get("/relay/v1/detection/receipt-key")
        return b64d(r.json()["public_key"], field="key", length=32)


async def _voucherless_receipt(c: MessengerClient, blinded: bytes) -> bytes | None:
    """A receipt from /unchecked (what a client uses for videos)."""
    from blindmatch.messaging.crypto.encoding import b64d

    r = await c.api._client.post(
        "/relay/v1/detection/unchecked",
        headers=c.api._headers() | {"X-Blindmatch-Receipt-Request": b64e(blinded)},
    )
    if r.status_code != 200:
        return None
    return b64d(r.json()["receipt"], field="receipt", length=96)


def test_no_receipt_without_consent_and_videos_are_counted(
    tmp_path: Path, app: FastAPI, transport: httpx.ASGITransport, pinned_key: str, innocent: list[Path]
) -> None:
    async def run() -> dict[str, Any]:
        bob = await _client(tmp_path, transport, "bob")
        alice = await _client(tmp_path, transport, "alice")
        assert await _voucherless_receipt(alice, blind_receipt().request) is None  # no consent: no receipt
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        assert check(innocent[1].read_bytes()) is None  # the voucher is taken, but earns no receipt
        await alice.set_consent(True)
        video = blank_video(tmp_path / "blank.mp4")  # no hashable frame: sent with an /unchecked receipt
        await alice.send_video("bob", video)
        [got] = await bob.receive()
        assert await bob.download_attachment(got.message_id) == video
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as c:
            r = await c.get("/relay/v1/detection/stats", headers={"Authorization": f"Bearer {MOD_KEY}"})
        await alice.aclose()
        await bob.aclose()
        out: dict[str, Any] = r.json()
        return out

    stats = asyncio.run(run())
    assert stats["unchecked_receipts"].get("alice/primary") == 1
