"""Client side of private detection: a ``media_check`` that sends a threshold voucher before every image or video.

:class:`PrivateMediaCheck` is installed as :class:`~blindmatch.messaging.client.MessengerClient`'s
``media_check`` (see :func:`attach_private_check`). Before an image is encrypted it:

1. fetches the relay's blinded table once and verifies it (:func:`blindmatch.privacy.api.verify_table`) against
   the custodian key the user pinned out of band; a table that fails verification, or is older than the newest
   one this device accepted (a rollback), stops the send with :class:`TableRejectedError`;
2. hashes the image with PDQ (exact mode) and makes a voucher with the device's sharing polynomial, which is
   created on first use and kept in the client's encrypted state (so it survives restarts: a fresh polynomial
   per restart would let shares never reach the threshold);
3. POSTs the voucher to ``/relay/v1/detection/vouchers`` as the device. The voucher names no message, no
   recipient and no conversation; it is linkable to a message only by timing.

If the voucher cannot be delivered the media is not sent (:class:`VoucherRejectedError`), so the only way to send
an image is to send its voucher first. With the voucher goes a blinded receipt request; the relay's answer is
unblinded into the upload receipt the relay requires before it stores the encrypted image
(:mod:`blindmatch.messaging.receipts`). Videos (anything in a video container: MP4/MOV and other ISO-BMFF files,
Matroska/WebM, AVI) get **one** voucher for the whole video, made from up to ``item_hashes`` representative frames
(vPDQ at 1 frame/s, :func:`blindmatch.hashing.vpdq.voucher_frames`), so a video counts once toward the threshold;
a video with no frame of usable quality (it could never match) gets its receipt from ``/unchecked``, which the
relay counts. Media that is neither is refused (:class:`MediaNotCheckableError`).

The hook interface is synchronous (``before_media_send(media_bytes)``) while the relay transport may be an async
one (the in-process relay of tests and the demo); in that case the HTTP calls run on a private event loop in a
worker thread, which blocks the caller for the duration of one request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from blindmatch.hashing.pdq import pdq_from_image
from blindmatch.hashing.vpdq import voucher_frames
from blindmatch.media import MediaError, decode_image
from blindmatch.media.sniff import SUPPORTED_FORMATS, describe_unknown, sniff_format
from blindmatch.media.video import VideoError, sniff_video_container
from blindmatch.messaging.client.client import MessengerClient
from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.errors import EncodingError, MessagingError
from blindmatch.messaging.receipts import (
    RECEIPT_REQUEST_HEADER,
    BlindedReceipt,
    ReceiptError,
    blind_receipt,
    unblind_receipt,
)
from blindmatch.privacy.api import verify_table
from blindmatch.privacy.client import ClientAccount, VoucherClient, VoucherConfig
from blindmatch.privacy.errors import PrivacyError
from blindmatch.privacy.published import VerifiedTable
from blindmatch.privacy.shamir import SharingPolynomial
from blindmatch.privacy.tokens import default_scheme

__all__ = [
    "DetectionClientError",
    "DetectionState",
    "MediaNotCheckableError",
    "PrivateMediaCheck",
    "TableRejectedError",
    "VoucherRejectedError",
    "attach_private_check",
]

PREFIX = "/relay/v1/detection"
T = TypeVar("T")


def _counts(value: object) -> tuple[tuple[int, float], ...] | None:
    """An optional (count, weight) list from the relay's config (absent from relays before it existed)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("synthetic_open_counts_multi must be a list of [count, weight] pairs")
    return tuple((int(c), float(w)) for c, w in value)


class DetectionClientError(MessagingError):
    """Private detection stopped a media send; the message says why."""


class TableRejectedError(DetectionClientError):
    """The relay's table is not signed by the pinned custodian key, is malformed, or is a rollback."""


class VoucherRejectedError(DetectionClientError):
    """The relay did not accept the voucher (or could not be reached), so the media was not sent."""


class MediaNotCheckableError(DetectionClientError):
    """The media claims to be an image but cannot be decoded and hashed; sending it unchecked is refused."""


@dataclass
class DetectionState:
    """The part of the client's encrypted state private detection keeps, and how to persist it.

    ``data`` is a dict inside the client's state document (``state["detection"]``); ``save`` writes the whole
    encrypted state. Contents: the sharing polynomial (secret), synthetic vouchers sent, the newest accepted
    table list version, counters."""

    data: dict[str, Any]
    save: Callable[[], None]

    def account(self, account_id: str, threshold: int) -> tuple[ClientAccount, int]:
        acc = self.data.get("account")
        if acc is None:
            new = ClientAccount.create(account_id, threshold)
            self.data["account"] = {
                "account_id": account_id,
                "coeffs": [str(c) for c in new.polynomial.coeffs],
                "synthetic_sent": 0,
            }
            self.save()  # the polynomial must be on disk before any share of it leaves the device
            return new, 0
        if acc["account_id"] != account_id or len(acc["coeffs"]) != threshold:
            raise DetectionClientError(
                f"this device's detection account is {acc['account_id']!r} with threshold {len(acc['coeffs'])}, "
                f"the relay now asks for {account_id!r} with threshold {threshold}; refusing to start a new one"
            )
        poly = SharingPolynomial(tuple(int(c) for c in acc["coeffs"]))
        return ClientAccount(account_id, poly), int(acc.get("synthetic_sent", 0))

    def bump(self, name: str) -> None:
        counters = self.data.setdefault("counters", {})
        counters[name] = int(counters.get(name, 0)) + 1


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a fresh event loop in a worker thread (the hook is sync, the caller's loop is busy)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make()).result()


class PrivateMediaCheck:
    """A ``media_check`` that refuses to let an image go unless its voucher was accepted by the relay."""

    def __init__(
        self,
        base_url: str,
        token: str,
        trusted_key_hex: str,
        state: DetectionState,
        *,
        account_id: str,
        transport: httpx.AsyncBaseTransport | httpx.BaseTransport | None = None,
        min_threshold: int = 10,
    ) -> None:
        try:
            raw = bytes.fromhex(trusted_key_hex)
            self.trusted_key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise TableRejectedError(f"the pinned custodian key is not a 32-byte hex Ed25519 key: {exc}") from None
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.state = state
        self.account_id = account_id
        self.transport = transport
        self.min_threshold = min_threshold
        self.scheme = default_scheme()
        self._table: VerifiedTable | None = None
        self._config: VoucherConfig | None = None
        self._voucher_client: VoucherClient | None = None

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, content: bytes | None = None, extra: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} | (extra or {})
        if content is not None:
            headers["Content-Type"] = "application/octet-stream"
        try:
            if isinstance(self.transport, httpx.AsyncBaseTransport):
                transport = self.transport

                async def go() -> httpx.Response:
                    async with httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=30.0) as c:
                        r = await c.request(method, PREFIX + path, content=content, headers=headers)
                        await r.aread()
                        return r

                return _run(go)
            with httpx.Client(base_url=self.base_url, transport=self.transport, timeout=30.0) as c:
                return c.request(method, PREFIX + path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise VoucherRejectedError(f"cannot reach the relay's detection service: {exc!r}") from None

    @staticmethod
    def _detail(r: httpx.Response) -> str:
        try:
            return str(r.json().get("detail", r.text))
        except ValueError:
            return r.text

    # -- table and parameters -------------------------------------------------------------------------------------

    def load_table(self) -> VerifiedTable:
        """Fetch and verify the table (also after a voucher was refused as made against a retired table)."""
        r = self._request("GET", "/table")
        if r.status_code != 200:
            raise TableRejectedError(f"relay did not serve a table ({r.status_code}: {self._detail(r)})")
        accepted = int(self.state.data.get("min_list_version", 0))
        try:
            table = verify_table(r.content, [self.trusted_key])
        except PrivacyError as exc:
            self.state.bump("tables_rejected")
            self.state.save()
            raise TableRejectedError(
                f"the relay's table failed verification against the pinned custodian key "
                f"({type(exc).__name__}: {exc}); media sending is disabled"
            ) from None
        if table.manifest.list_version < accepted:
            raise TableRejectedError(
                f"the relay served table version {table.manifest.list_version}, older than version {accepted} "
                "this device already accepted (rollback); media sending is disabled"
            )
        self.state.data["min_list_version"] = table.manifest.list_version
        self.state.save()
        self._table = table
        self._voucher_client = None
        return table

    def _load_config(self) -> VoucherConfig:
        r = self._request("GET", "/config")
        if r.status_code != 200:
            raise VoucherRejectedError(f"relay did not serve its detection parameters ({r.status_code})")
        try:
            obj = r.json()
            multi = _counts(obj.get("synthetic_open_counts_multi"))  # absent: keep the scheme's measured one
            extra: dict[str, Any] = {} if multi is None else {"synthetic_open_counts_multi": multi}
            config = VoucherConfig.for_scheme(
                self.scheme,
                threshold=int(obj["threshold"]),
                token_count=int(obj["token_count"]),
                metadata_bytes=int(obj["metadata_bytes"]),
                synthetic_probability=float(obj["synthetic_probability"]),
                max_synthetic=None if obj["max_synthetic"] is None else int(obj["max_synthetic"]),
                cuckoo_ways=int(obj["cuckoo_ways"]),
                synthetic_open_counts=tuple((int(c), float(w)) for c, w in obj["synthetic_open_counts"]),
                item_hashes=int(obj.get("item_hashes", 1)),
                **extra,
            )
        except (ValueError, KeyError, TypeError, PrivacyError) as exc:
            raise VoucherRejectedError(f"relay's detection parameters are malformed: {exc}") from None
        if config.threshold < self.min_threshold:
            raise TableRejectedError(
                f"the relay asks for threshold {config.threshold}, below this client's minimum {self.min_threshold}"
            )
        return config

    def _client(self) -> VoucherClient:
        if self._config is None:
            self._config = self._load_config()
        table = self._table or self.load_table()
        if self._voucher_client is None:
            account, synthetic_sent = self.state.account(self.account_id, self._config.threshold)
            try:
                self._voucher_client = VoucherClient(
                    table, self.scheme, account, self._config, synthetic_sent=synthetic_sent
                )
            except PrivacyError as exc:
                raise TableRejectedError(f"table does not fit the relay's parameters: {exc}") from None
        return self._voucher_client

    # -- receipts -------------------------------------------------------------------------------------------------

    def _receipt_key(self) -> bytes:
        """The relay's receipt public key, pinned on first use (a relay answering under a different key for
        this client could otherwise link its receipts; the DLEQ proof ties every answer to the pinned key)."""
        pinned = self.state.data.get("receipt_key")
        if pinned is None:
            r = self._request("GET", "/receipt-key")
            if r.status_code != 200:
                raise VoucherRejectedError(f"relay did not serve its receipt key ({r.status_code}: {self._detail(r)})")
            try:
                pinned = str(r.json()["public_key"])
                b64d(pinned, field="receipt key", length=32)
            except (ValueError, KeyError, TypeError, EncodingError) as exc:
                raise VoucherRejectedError(f"relay's receipt key is malformed: {exc}") from None
            self.state.data["receipt_key"] = pinned
            self.state.save()
        return b64d(pinned, field="receipt key", length=32)

    def _receipt(self, r: httpx.Response, pending: BlindedReceipt) -> str | None:
        """Unblind the receipt in an answer (``None`` if the relay issued none: receipts off, or no consent)."""
        try:
            raw = r.json().get("receipt")
        except (ValueError, AttributeError):
            raw = None
        if raw is None:
            return None
        try:
            return b64e(unblind_receipt(pending, b64d(raw, field="receipt", length=96), self._receipt_key()))
        except (EncodingError, ReceiptError) as exc:
            raise VoucherRejectedError(f"the relay's upload receipt is invalid ({exc}); media not sent") from None

    def _unchecked_receipt(self) -> str | None:
        pending = blind_receipt()
        r = self._request("POST", "/unchecked", extra={RECEIPT_REQUEST_HEADER: b64e(pending.request)})
        if r.status_code == 200:
            return self._receipt(r, pending)
        raise VoucherRejectedError(f"relay refused a receipt for unchecked media ({r.status_code}: {self._detail(r)})")

    # -- the hook -------------------------------------------------------------------------------------------------

    def __call__(self, media_bytes: bytes) -> str | None:
        fmt = sniff_format(media_bytes[:16])
        if fmt is None or fmt not in SUPPORTED_FORMATS:
            if sniff_video_container(media_bytes[:16]) is None:
                raise MediaNotCheckableError(
                    f"media is neither an image format the checker decodes nor a known video container "
                    f"({describe_unknown(media_bytes[:16])}); it was not sent"
                )
            return self._check_video(media_bytes)
        try:
            result = pdq_from_image(decode_image(media_bytes).image.convert("RGB"))
        except MediaError as exc:
            raise MediaNotCheckableError(f"cannot hash this image ({exc}); it was not sent") from None
        return self._send_voucher(lambda vc: vc.make_voucher(result.hash_bytes, result.margins))

    def _check_video(self, media_bytes: bytes) -> str | None:
        """One voucher for the whole video, from its representative frames (it counts once toward the
        threshold). A video with no frame of usable quality can never match a list (as in the reference), so it
        is sent with an ``/unchecked`` receipt and counted, here and by the relay."""
        count = self._client().config.item_hashes
        try:
            frames = voucher_frames(media_bytes, count)
        except (VideoError, MediaError) as exc:
            raise MediaNotCheckableError(f"cannot hash this video ({exc}); it was not sent") from None
        if not frames:
            self.state.bump("not_checked")
            self.state.save()
            return self._unchecked_receipt()
        hashes = [(f.hash_bytes, f.margins) for f in frames]
        receipt = self._send_voucher(lambda vc: vc.make_item_voucher(hashes))
        self.state.bump("video_vouchers_sent")
        self.state.save()
        return receipt

    def _send_voucher(self, make: Callable[[VoucherClient], bytes]) -> str | None:
        for attempt in range(2):
            vc = self._client()
            voucher = make(vc)
            self.state.data["account"]["synthetic_sent"] = vc.synthetic_sent
            self.state.save()
            pending = blind_receipt()
            r = self._request("POST", "/vouchers", voucher, extra={RECEIPT_REQUEST_HEADER: b64e(pending.request)})
            if r.status_code == 202:
                self.state.bump("vouchers_sent")
                self.state.save()
                return self._receipt(r, pending)
            detail = self._detail(r)
            if r.status_code == 409 and detail.startswith("WrongTableError") and attempt == 0:
                self.load_table()  # the lists changed since we fetched the table: re-fetch, re-verify, retry
                continue
            raise VoucherRejectedError(f"relay refused the voucher ({r.status_code}: {detail}); media not sent")
        raise AssertionError("unreachable")


def attach_private_check(
    client: MessengerClient,
    trusted_key_hex: str,
    *,
    transport: httpx.AsyncBaseTransport | httpx.BaseTransport | None = None,
    min_threshold: int = 10,
) -> PrivateMediaCheck:
    """Install a :class:`PrivateMediaCheck` on ``client`` (state in its encrypted ``state["detection"]``)."""
    data = client.state.setdefault("detection", {})
    check = PrivateMediaCheck(
        str(client.state["base_url"]),
        str(client.state["token"]),
        trusted_key_hex,
        DetectionState(data, client.save),
        account_id=f"{client.user_id}/{client.device_id}",
        transport=transport,
        min_threshold=min_threshold,
    )
    client.media_check = check
    return check
