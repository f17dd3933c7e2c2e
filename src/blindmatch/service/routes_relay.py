"""The messenger relay: an end-to-end-encrypted store-and-forward service (``/relay/v1``).

Authentication: a device registers by uploading its public identity keys with an Ed25519 signature over them
(proof that it holds the identity key); the relay answers with a random 256-bit device token, stored only as a
SHA-256 hash. Every other request carries ``Authorization: Bearer <device token>``; the WebSocket sends the
token as its first frame (never in the URL, which ends up in logs). A second device of an existing user must be
registered by an already-authenticated device of that user.

Delivery: ``POST /messages`` returns only after the message and one queue row per recipient device are committed;
recipients get them over the WebSocket (pushed as they arrive) or by polling ``GET /inbox``, and delete them with
acks. Until acked a delivery is re-sent (at-least-once); clients de-duplicate by (sender, message id).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import JSONResponse, StreamingResponse

from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.crypto.identity import verify_device_signature
from blindmatch.messaging.crypto.reports import verify_report
from blindmatch.messaging.errors import EncodingError, IdentityError, ReportError
from blindmatch.messaging.receipts import (
    RECEIPT_BYTES,
    RECEIPT_HEADER,
    RECEIPT_REQUEST_HEADER,
    ReceiptError,
    ReceiptIssuer,
)
from blindmatch.messaging.relay import (
    CONSENT_POLICY_VERSION,
    Delivery,
    RelayKeys,
    RelayRequestError,
    parse_device_keys,
    parse_prekeys,
    parse_send_request,
)
from blindmatch.service.deps import ApiKey, AppState
from blindmatch.service.relay_writer import InlineWriter, Notifier, RelayWriter, Subscriber, make_writer
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.relay import (
    AuthenticatedDevice,
    BlobInUseError,
    DeviceExistsError,
    RelayStore,
    SubmitResult,
    UnknownRecipientError,
)

__all__ = [
    "RECEIPT_HEADER",
    "RECEIPT_REQUEST_HEADER",
    "RelayConfigError",
    "RelayServices",
    "account_blocked",
    "get_relay",
    "in_process_relay",
    "rotate_franking_key",
    "router",
]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/relay/v1", tags=["relay"])
_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
CHUNK = 64 * 1024
#: Most deliveries pushed in one WebSocket frame.
PUSH_FRAME = 500


class RelayConfigError(ValueError):
    """A ``relay_*`` setting has a value the relay cannot run with."""


def _setting(state: AppState, name: str, default: str) -> str:
    return state.settings.extra.get(name, os.environ.get("BLINDMATCH_" + name.upper(), default))


@dataclass
class RelayServices:
    store: RelayStore
    keys: RelayKeys
    blob_dir: Path
    max_blob_bytes: int
    receipts: ReceiptIssuer
    #: ``POST /attachments`` needs a receipt earned by a voucher (setting ``relay_attachment_receipts``).
    require_receipts: bool = True
    notifier: Notifier = field(default_factory=Notifier)
    writer: RelayWriter | InlineWriter | None = None
    #: upload receipts issued for media the client could not check (videos), per account, since start
    unchecked: Counter[str] = field(default_factory=Counter)
    #: (guard, guard version, account) -> (stale after, answer); see :func:`account_blocked`
    guard_cache: dict[tuple[int, int, str], tuple[float, str | None]] = field(default_factory=dict)
    guard_refreshing: set[tuple[int, int, str]] = field(default_factory=set)
    background: set[asyncio.Task[str | None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.writer is None:
            self.writer = make_writer(self.store, self.keys.ring.tag, self.notifier)

    @property
    def queue(self) -> RelayWriter | InlineWriter:
        assert self.writer is not None
        return self.writer

    def blob_path(self, blob_id: str) -> Path:
        return self.blob_dir / blob_id[:2] / blob_id


def load_receipt_issuer(path: Path) -> ReceiptIssuer:
    """The relay's receipt key (32 bytes, mode 0600), created on first use."""
    if path.exists():
        return ReceiptIssuer(path.read_bytes())
    issuer = ReceiptIssuer.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(issuer.secret)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return issuer


_BUILD_LOCK = threading.Lock()


def get_relay(state: AppState) -> RelayServices:
    """The relay's services, built on first use from the app's database and data directory."""
    relay = state.services.get("relay")
    if relay is None:
        with _BUILD_LOCK:
            relay = state.services.get("relay")
            if relay is None:
                db = state.services["db"]
                assert isinstance(db, Database)
                data = state.settings.data_dir
                mode = _setting(state, "relay_attachment_receipts", "required")
                if mode not in ("required", "off"):
                    raise RelayConfigError(f"relay_attachment_receipts must be 'required' or 'off', got {mode!r}")
                relay = RelayServices(
                    RelayStore(db),
                    RelayKeys.load_or_create(data / "relay-keys.json"),
                    data / "relay-blobs",
                    state.settings.max_upload_bytes,
                    load_receipt_issuer(data / "relay-receipt.key"),
                    require_receipts=mode == "required",
                )
                relay.queue.start()
                state.services["relay"] = relay
    assert isinstance(relay, RelayServices)
    return relay


async def _relay_dep(request: Request) -> RelayServices:
    # async on purpose: FastAPI runs plain-def dependencies in its thread pool, a hop per request on the hot path
    state = request.app.state.blindmatch
    assert isinstance(state, AppState)
    return get_relay(state)


Relay = Annotated[RelayServices, Depends(_relay_dep)]


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Authorization header must be 'Bearer <device token>'")
    return token


async def _authenticate(relay: RelayServices, token: str) -> AuthenticatedDevice | None:
    return relay.store.authenticate_cached(token) or await asyncio.to_thread(relay.store.authenticate, token)


async def require_device(relay: Relay, authorization: Annotated[str | None, Header()] = None) -> AuthenticatedDevice:
    token = _bearer(authorization)
    device = await _authenticate(relay, token) if token else None
    if device is None:
        raise HTTPException(401, "a valid device token is required", headers={"WWW-Authenticate": "Bearer"})
    return device


Device = Annotated[AuthenticatedDevice, Depends(require_device)]
#: Cap on JSON request bodies, read before parsing (256 recipients x 64 KiB envelopes fit comfortably).
MAX_JSON_BYTES = 16 * 1024 * 1024

AccountGuard = Callable[[str], str | None]


#: How long the relay reuses a guard's answer for an account (a ban takes effect within this time).
GUARD_TTL_S = 1.0


async def account_blocked(state: AppState, user_id: str) -> str | None:
    """The reason ``user_id`` may not send or upload, from the moderation service's ``account_guard``
    (``user_id -> reason | None``, registered in ``state.services``); ``None`` when allowed or no guard is set.

    The guard reads the database, and asking it for every message cost more than storing the message (profiled
    under ``blindmatch bench relay``), so answers are cached per account. An optional ``account_guard_version``
    callable invalidates them: the moderation service bumps it after every committed enforcement or appeal
    decision, so a ban decided in this process applies to the very next send (the first send after a version
    change waits for the guard). An answer older than :data:`GUARD_TTL_S` ± 25 % (which covers decisions made by
    other processes) is still used while one background lookup refreshes it, so sends never queue behind the guard."""
    known, answer = _guard_cached(state, user_id)
    if known:
        return answer
    return await _ask_guard(state, user_id)


async def _ask_guard(state: AppState, user_id: str) -> str | None:
    guard = state.services["account_guard"]
    assert callable(guard)
    relay = get_relay(state)
    key = _guard_key(state, guard, user_id)
    now = time.monotonic()
    try:
        reason = await asyncio.to_thread(guard, user_id)
    finally:
        relay.guard_refreshing.discard(key)
    answer = None if reason is None else str(reason)
    if len(relay.guard_cache) > 100_000:
        relay.guard_cache.clear()
    # stale after GUARD_TTL_S ± 25 %: accounts cached together (a hundred devices connecting at once) must not all
    # be refreshed in the same instant (measured: a 50-70 ms latency spike every second without the spread)
    relay.guard_cache[key] = (now + GUARD_TTL_S * random.uniform(0.75, 1.25), answer)
    return answer


def _guard_key(state: AppState, guard: object, user_id: str) -> tuple[int, int, str]:
    # an enforcement or appeal decision committed in this process changes the version: ask again at once
    version = state.services.get("account_guard_version")
    return (id(guard), int(version()) if callable(version) else 0, user_id)


def _guard_cached(state: AppState, user_id: str) -> tuple[bool, str | None]:
    """``(True, answer)`` if the answer is known without waiting for the guard: no guard, or a cached answer for the
    current version (if it is older than :data:`GUARD_TTL_S`, one background refresh is started)."""
    guard = state.services.get("account_guard")
    if guard is None:
        return True, None
    if not callable(guard):
        raise RelayConfigError("services['account_guard'] must be a callable user_id -> reason | None")
    relay = get_relay(state)
    key = _guard_key(state, guard, user_id)
    hit = relay.guard_cache.get(key)
    if hit is None:
        return False, None
    if time.monotonic() >= hit[0] and key not in relay.guard_refreshing:
        relay.guard_refreshing.add(key)
        task = asyncio.get_running_loop().create_task(_ask_guard(state, user_id))
        relay.background.add(task)
        task.add_done_callback(relay.background.discard)
    return True, hit[1]


def _blocked_json(user_id: str, reason: str) -> dict[str, str]:
    return {
        "error": "AccountBlocked",
        "reason": reason,
        "message": f"account {user_id!r} is blocked from sending: {reason} (receiving and appeals still work)",
    }


def _blocked_response(user_id: str, reason: str) -> JSONResponse:
    return JSONResponse(_blocked_json(user_id, reason), status_code=403)


async def json_body(request: Request) -> Any:
    """Read at most :data:`MAX_JSON_BYTES` of the body, then parse it: a huge body is refused, not buffered."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BYTES:
        raise HTTPException(413, f"request body larger than {MAX_JSON_BYTES} bytes")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > MAX_JSON_BYTES:
            raise HTTPException(413, f"request body larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(buf)
    except (ValueError, RecursionError):
        raise HTTPException(400, "request body is not valid JSON") from None


JsonBody = Annotated[Any, Depends(json_body)]


def _bad(exc: Exception, status: int = 400) -> HTTPException:
    return HTTPException(status, f"{type(exc).__name__}: {exc}")


def in_process_relay(data_dir: Path, *, receipts: bool = False) -> httpx.ASGITransport:
    """A relay app on a fresh SQLite database under ``data_dir``, as an httpx transport (demo and tests).

    It has no hash list, so by default attachments need no voucher receipt (``receipts=True`` requires them)."""
    from blindmatch.service.app import create_app
    from blindmatch.service.config import Settings

    extra = {"relay_attachment_receipts": "required" if receipts else "off"}
    return httpx.ASGITransport(app=create_app(Settings(data_dir=Path(data_dir), extra=extra)))


def rotate_franking_key(data_dir: Path) -> str:
    """Start signing franking tags with a fresh key (old keys keep verifying old tags); returns the new key id.

    Takes effect when the relay (re)starts: running processes keep the ring they loaded.
    """
    path = Path(data_dir) / "relay-keys.json"
    keys = RelayKeys.load_or_create(path)
    kid = keys.ring.rotate()
    keys.save(path)
    return kid


@router.post("/accounts", status_code=201)
def register(relay: Relay, body: JsonBody, authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    try:
        keys, signature = parse_device_keys(body)
        verify_device_signature(keys, signature)
    except (RelayRequestError, IdentityError, EncodingError) as exc:
        raise _bad(exc) from None
    acting = None
    token_in = _bearer(authorization)
    if token_in:
        acting = relay.store.authenticate(token_in)
    token = secrets.token_urlsafe(32)
    try:
        relay.store.register_device(keys, token, acting=acting)
    except DeviceExistsError as exc:
        raise _bad(exc, 409) from None
    return {"user_id": keys.user_id, "device_id": keys.device_id, "token": token}


@router.get("/users/{user_id}/devices")
def devices(relay: Relay, _: Device, user_id: str) -> dict[str, Any]:
    try:
        found = relay.store.devices(user_id)
    except UnknownRecipientError as exc:
        raise _bad(exc, 404) from None
    return {
        "devices": [
            {"user_id": d.user_id, "device_id": d.device_id, "ed25519": d.ed25519, "curve25519": d.curve25519}
            for d in found
        ]
    }


@router.post("/prekeys")
def upload_prekeys(relay: Relay, device: Device, body: JsonBody) -> dict[str, int]:
    try:
        prekeys = parse_prekeys(body)
    except RelayRequestError as exc:
        raise _bad(exc) from None
    return {"count": relay.store.add_prekeys(device, prekeys)}


@router.get("/prekeys/count")
def prekey_count(relay: Relay, device: Device) -> dict[str, int]:
    return {"count": relay.store.prekey_count(device)}


@router.post("/users/{user_id}/devices/{device_id}/claim")
def claim(relay: Relay, _: Device, user_id: str, device_id: str) -> dict[str, Any]:
    try:
        keys, prekey = relay.store.claim_prekey(user_id, device_id)
    except UnknownRecipientError as exc:
        raise _bad(exc, 404) from None
    if prekey is None:
        raise HTTPException(409, f"PrekeysExhausted: {user_id}/{device_id} has no one-time keys left")
    return {
        "device": {
            "user_id": keys.user_id,
            "device_id": keys.device_id,
            "ed25519": keys.ed25519,
            "curve25519": keys.curve25519,
        },
        "prekey": {"key_id": prekey.key_id, "key": prekey.key, "signature": prekey.signature},
    }


def _sent_json(result: SubmitResult) -> dict[str, Any]:
    return {
        "message_id": result.message_id,
        "seq": result.seq,
        "server_ts": result.server_ts_ms,
        "duplicate": result.duplicate,
        "tags": [{"user_id": u, "device_id": d, "kid": t.kid, "tag": b64e(t.tag)} for u, d, t in result.tags],
    }


@router.post("/messages", response_model=None)
async def send(request: Request, relay: Relay, device: Device, body: JsonBody) -> Response:
    """Queue a message; answers only after it is committed (group commit with other concurrent sends)."""
    reason = await account_blocked(request.app.state.blindmatch, device.user_id)
    if reason is not None:
        return _blocked_response(device.user_id, reason)
    try:
        req = parse_send_request(body)
    except RelayRequestError as exc:
        raise _bad(exc) from None
    try:
        result = await relay.queue.submit_async(device, req)
    except UnknownRecipientError as exc:
        raise _bad(exc, 404) from None
    return Response(json.dumps(_sent_json(result)), media_type="application/json")


@router.get("/inbox")
def inbox(
    relay: Relay,
    device: Device,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"deliveries": [d.to_json() for d in relay.store.pending(device, limit=limit, after=after)]}


def _ids(body: object) -> list[int]:
    ids = body.get("delivery_ids") if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or len(ids) > 1000
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise HTTPException(400, "delivery_ids must be a list of at most 1000 integers")
    return ids


@router.post("/inbox/ack")
async def ack(relay: Relay, device: Device, body: JsonBody) -> dict[str, int]:
    return {"removed": await relay.queue.ack_async(device, _ids(body))}


def _frame(deliveries: list[Delivery]) -> str:
    return json.dumps({"deliveries": [d.to_json() for d in deliveries]})


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    """Push deliveries as they arrive; take acks and (optionally) sends on the same connection.

    The first client frame must be ``{"token": "<device token>"}``. Then the client may send
    ``{"delivery_ids": [...]}`` (ack) and ``{"send": <same body as POST /messages>, "ref": <any>}``; a send is
    answered with ``{"sent": <same answer as POST /messages>, "ref": ...}`` once committed, or with
    ``{"error": <class>, "message": ..., "status": <HTTP-like code>, "ref": ...}``. Deliveries not acked are sent
    again on the next connection (and are visible to ``GET /inbox``); within one connection each is pushed once.
    """
    await ws.accept()
    state = ws.app.state.blindmatch
    relay = get_relay(state)
    try:
        first = json.loads(await asyncio.wait_for(ws.receive_text(), timeout=10))
        token = first.get("token") if isinstance(first, dict) else None
        device = await _authenticate(relay, token) if isinstance(token, str) else None
    except (TimeoutError, ValueError, WebSocketDisconnect):
        device = None
    if device is None:
        await ws.close(code=4401, reason="a valid device token is required as the first frame")
        return
    sub = Subscriber(asyncio.get_running_loop())
    relay.notifier.subscribe(device.pk, sub)
    if not _guard_cached(state, device.user_id)[0]:  # ask the guard now, not when the first message is waiting
        prefetch = asyncio.create_task(account_blocked(state, device.user_id))
        relay.background.add(prefetch)
        prefetch.add_done_callback(relay.background.discard)
    outbox: asyncio.Queue[str] = asyncio.Queue()
    pending_sends: set[asyncio.Task[None]] = set()

    async def sender() -> None:
        while True:
            await ws.send_text(await outbox.get())

    def sent(ref: Any, fut: asyncio.Future[SubmitResult]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        reply: dict[str, Any]
        if exc is None:
            reply = {"sent": _sent_json(fut.result())}
        elif isinstance(exc, UnknownRecipientError):
            reply = {"error": type(exc).__name__, "message": str(exc), "status": 404}
        else:  # the relay failed: the client must retry with the same message id
            log.error("relay: WebSocket send failed: %r", exc)
            reply = {"error": type(exc).__name__, "message": "relay error; retry", "status": 503}
        outbox.put_nowait(json.dumps(reply | {"ref": ref}))

    def send_now(ref: Any, body: Any) -> bool:
        """The common case without a task per message: guard answer cached, request parsed, commit queued."""
        known, reason = _guard_cached(state, device.user_id)
        if not known:
            return False
        if reason is not None:
            reply: dict[str, Any] = _blocked_json(device.user_id, reason) | {"status": 403}
        else:
            try:
                req = parse_send_request(body)
            except RelayRequestError as exc:
                reply = {"error": type(exc).__name__, "message": str(exc), "status": 400}
            else:
                relay.queue.submit_nowait(device, req).add_done_callback(functools.partial(sent, ref))
                return True
        outbox.put_nowait(json.dumps(reply | {"ref": ref}))
        return True

    async def handle_send(ref: Any, body: Any) -> None:
        reply: dict[str, Any]
        reason = await account_blocked(state, device.user_id)
        if reason is not None:
            reply = _blocked_json(device.user_id, reason) | {"status": 403}
        else:
            try:
                reply = {"sent": _sent_json(await relay.queue.submit_async(device, parse_send_request(body)))}
            except RelayRequestError as exc:
                reply = {"error": type(exc).__name__, "message": str(exc), "status": 400}
            except UnknownRecipientError as exc:
                reply = {"error": type(exc).__name__, "message": str(exc), "status": 404}
            except Exception as exc:  # the relay failed: the client must retry with the same message id
                log.exception("relay: WebSocket send failed")
                reply = {"error": type(exc).__name__, "message": "relay error; retry", "status": 503}
        outbox.put_nowait(json.dumps(reply | {"ref": ref}))

    async def reader() -> None:
        while True:
            try:
                msg = json.loads(await ws.receive_text())
            except ValueError:
                outbox.put_nowait(json.dumps({"error": "BadFrame", "message": "frames must be JSON", "status": 400}))
                continue
            if not isinstance(msg, dict):
                continue
            ids = msg.get("delivery_ids")
            if isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                relay.queue.ack(device, ids[:1000])  # applied with the next group commit; no reply needed
            if "send" in msg and not send_now(msg.get("ref"), msg["send"]):
                task = asyncio.create_task(handle_send(msg.get("ref"), msg["send"]))
                pending_sends.add(task)
                task.add_done_callback(pending_sends.discard)

    read_task = asyncio.create_task(reader())
    send_task = asyncio.create_task(sender())
    last = 0
    try:
        # The first page of the backlog is read before "ready": once a client sees "ready", new messages reach it
        # at once (a hundred devices connecting together otherwise waited in the thread pool for their backlogs).
        first = await asyncio.to_thread(relay.store.pending, device, limit=PUSH_FRAME, after=0)
        outbox.put_nowait(json.dumps({"ready": True, "user_id": device.user_id, "device_id": device.device_id}))
        if first:
            last = first[-1].delivery_id
            outbox.put_nowait(_frame(first))
        from_db = len(first) == PUSH_FRAME  # more backlog; later only when woken without rows (another process)
        while not read_task.done() and not send_task.done():
            if from_db:
                batch = await asyncio.to_thread(relay.store.pending, device, limit=PUSH_FRAME, after=last)
                if batch:
                    last = batch[-1].delivery_id
                    outbox.put_nowait(_frame(batch))
                    continue
                from_db = False
            sub.event.clear()
            fresh = sorted((d for d in sub.drain() if d.delivery_id > last), key=lambda d: d.delivery_id)
            if fresh:
                for i in range(0, len(fresh), PUSH_FRAME):
                    outbox.put_nowait(_frame(fresh[i : i + PUSH_FRAME]))
                last = fresh[-1].delivery_id
                continue
            try:
                async with asyncio.timeout(1.0):
                    await sub.event.wait()
            except TimeoutError:
                from_db = True
            else:
                from_db = not sub.pushed  # woken without rows: look in the table
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        relay.notifier.unsubscribe(device.pk, sub)
        read_task.cancel()
        send_task.cancel()
        for t in list(pending_sends):
            t.cancel()


@router.get("/consent")
def get_consent(relay: Relay, device: Device) -> dict[str, Any]:
    granted, policy, at = relay.store.consent(device.user_id)
    return {
        "granted": granted and policy == CONSENT_POLICY_VERSION,
        "policy_version": policy,
        "at": at.isoformat() if at else None,
        "current_policy": CONSENT_POLICY_VERSION,
    }


@router.put("/consent")
def put_consent(relay: Relay, device: Device, body: JsonBody) -> dict[str, Any]:
    granted = body.get("granted") if isinstance(body, dict) else None
    policy = body.get("policy_version") if isinstance(body, dict) else None
    if not isinstance(granted, bool):
        raise HTTPException(400, "granted must be true or false")
    if granted and policy != CONSENT_POLICY_VERSION:
        raise HTTPException(409, f"consent must name the current policy version {CONSENT_POLICY_VERSION!r}")
    at = relay.store.set_consent(device.user_id, granted, policy if isinstance(policy, str) else CONSENT_POLICY_VERSION)
    return {"granted": granted, "policy_version": CONSENT_POLICY_VERSION, "at": at.isoformat()}


def _has_consent(relay: RelayServices, device: AuthenticatedDevice) -> bool:
    granted, policy, _ = relay.store.consent(device.user_id)
    return granted and policy == CONSENT_POLICY_VERSION


@router.post("/attachments", status_code=201, response_model=None)
async def upload(
    relay: Relay,
    device: Device,
    request: Request,
    receipt: Annotated[str | None, Header(alias=RECEIPT_HEADER)] = None,
) -> dict[str, Any] | JSONResponse:
    """Store an encrypted blob, streamed to disk. Refused for blocked accounts, without media consent, without a
    valid unused receipt (when receipts are required) or above the size limit."""
    reason = await account_blocked(request.app.state.blindmatch, device.user_id)
    if reason is not None:
        return _blocked_response(device.user_id, reason)
    if not await asyncio.to_thread(_has_consent, relay, device):
        raise HTTPException(
            403,
            "ConsentRequired: this account has not consented to the media policy; "
            "attachments are disabled (text still works)",
        )
    if relay.require_receipts:
        if not receipt:
            raise HTTPException(
                403,
                f"ReceiptRequired: this relay takes attachments only with a receipt ({RECEIPT_HEADER}) from "
                "the private-detection voucher of the media (attach_private_check / --custodian-key)",
            )
        try:
            blob_id = relay.receipts.check(b64d(receipt, field="receipt", length=RECEIPT_BYTES))
        except (EncodingError, ReceiptError) as exc:
            raise HTTPException(403, f"ReceiptInvalid: {exc}") from None
    else:
        blob_id = secrets.token_urlsafe(24)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > relay.max_blob_bytes):
        raise HTTPException(413, f"attachment larger than {relay.max_blob_bytes} bytes")
    try:
        await asyncio.to_thread(relay.store.reserve_blob, device, blob_id)
    except BlobInUseError:
        raise HTTPException(409, "ReceiptUsed: this receipt was already used for an upload") from None
    path = relay.blob_path(blob_id)
    tmp = path.with_suffix(".part")
    size = 0
    stored = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > relay.max_blob_bytes:
                    raise HTTPException(413, f"attachment larger than {relay.max_blob_bytes} bytes")
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        await asyncio.to_thread(relay.store.finish_blob, blob_id, size)
        stored = True
    finally:
        tmp.unlink(missing_ok=True)
        if not stored:
            path.unlink(missing_ok=True)
            await asyncio.to_thread(relay.store.release_blob, blob_id)
    return {"blob_id": blob_id, "size": size}


@router.get("/attachments/{blob_id}")
def download(relay: Relay, _: Device, blob_id: str) -> StreamingResponse:
    if not _BLOB_ID.match(blob_id):
        raise HTTPException(400, "malformed blob id")
    size = relay.store.blob_size(blob_id)
    path = relay.blob_path(blob_id)
    if size is None or not path.exists():
        raise HTTPException(404, "no such blob")

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream", headers={"Content-Length": str(size)})


@router.get("/moderation-key")
def moderation_key(relay: Relay) -> dict[str, str]:
    return {"public_key": b64e(relay.keys.moderation.public_bytes), "suite": "X25519-HKDF-SHA256/ChaCha20Poly1305"}


def open_moderation_cases(state: AppState) -> None:
    """Let the moderation service open cases for new threshold events and reports (idempotent; errors logged)."""
    moderation = state.services.get("moderation")
    ingest = getattr(moderation, "ingest", None)
    if not callable(ingest):
        return
    try:
        result = ingest()
        if getattr(result, "case_ids", None):
            log.info("moderation opened cases %s", list(result.case_ids))
    except Exception:  # a failed ingest is retried by the next event or by `blindmatch moderation ingest`
        log.exception("moderation ingest after a detection event failed")


@router.post("/reports", status_code=201)
def report(
    relay: Relay, device: Device, body: JsonBody, request: Request, background: BackgroundTasks
) -> dict[str, Any]:
    """Accept a sealed report only if every message in it carries a valid franking commitment and relay tag; the
    moderation service opens its case right after the answer."""
    try:
        sealed = b64d(body.get("sealed") if isinstance(body, dict) else None, field="sealed", max_len=2 * 1024 * 1024)
        verified = verify_report(sealed, relay.keys.moderation, relay.keys.ring, reporter=device.user_id)
    except (EncodingError, ReportError) as exc:
        raise _bad(exc, 422) from None
    rid = relay.store.add_report(device.user_id, verified.sender, verified.reported.payload.message_id, sealed)
    background.add_task(open_moderation_cases, request.app.state.blindmatch)
    return {"report_id": rid, "sender": verified.sender, "messages": 1 + len(verified.context)}


@router.get("/moderation/reports")
def moderation_reports(relay: Relay, _: ApiKey) -> dict[str, Any]:
    """For moderators (service API key): accepted reports, opened with the moderation key and re-verified."""
    out = []
    for rid, reporter, sender, message_id, sealed in relay.store.reports():
        try:
            v = verify_report(sealed, relay.keys.moderation, relay.keys.ring, reporter=reporter)
        except ReportError as exc:  # e.g. a franking key was dropped from the ring since
            out.append({"report_id": rid, "reporter": reporter, "sender": sender, "error": str(exc)})
            continue
        out.append(
            {
                "report_id": rid,
                "reporter": reporter,
                "sender": sender,
                "reason": v.reason,
                "reported": {
                    "message_id": message_id,
                    "kind": v.reported.payload.kind,
                    "body": v.reported.payload.body,
                    "server_ts": v.reported.server_ts_ms,
                    "attachments": [a.to_json() for a in v.reported.payload.attachments],
                },
                "context": [
                    {
                        "message_id": m.payload.message_id,
                        "kind": m.payload.kind,
                        "body": m.payload.body,
                        "server_ts": m.server_ts_ms,
                    }
                    for m in v.context
                ],
            }
        )
    return {"reports": out}
